// Tests of the OpenVINO backend skip where this build has none, except where the environment
// says it must be there (GLPDEPTH_REQUIRE_OPENVINO=1, set by .ci/run): there a missing backend
// fails, so CI cannot pass by skipping them.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "glpdepth/infer/backend.h"

namespace glpdepth::testing {

inline bool openvino_required() {
  const char* value = std::getenv("GLPDEPTH_REQUIRE_OPENVINO");
  return value && std::string(value) == "1";
}

}  // namespace glpdepth::testing

#define GLPDEPTH_OPENVINO_OR_SKIP()                                                          \
  do {                                                                                       \
    if (!::glpdepth::openvino_available()) {                                                 \
      if (::glpdepth::testing::openvino_required())                                          \
        FAIL() << "GLPDEPTH_REQUIRE_OPENVINO=1 but this build has no OpenVINO backend";      \
      GTEST_SKIP() << "built without OpenVINO (scripts/make-openvino-env.sh, then configure)"; \
    }                                                                                        \
  } while (0)
