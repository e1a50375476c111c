// The weights loader on top of the file readers: format detection, our checkpoint header, key
// normalisation, the encoder variant from the names and shapes, strict loading.
#include <optional>

#include "fuzz_support.h"
#include "glpdepth/model/loading.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = glpdepth::fuzz::as_file(data, size, ".ckpt");
  glpdepth::fuzz::expect_clean_refusal(
      [&] { glpdepth::load_model(file, std::nullopt, 0.0); });
  return 0;
}
