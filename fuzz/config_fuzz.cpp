// A run's config.json as `train --config FILE` reads it. A wrong type or value inside a valid
// document must be a glpdepth::Error naming the key, never nlohmann's own exception.
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "glpdepth/train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) return 0;  // not JSON: the CLI says so before this reader
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::train_config_from_json(json); });
  return 0;
}
