// safetensors: the 8-byte header length, the JSON header, dtypes, shapes and data offsets.
#include <map>

#include "fuzz_support.h"
#include "glpdepth/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = glpdepth::fuzz::as_file(data, size, ".safetensors");
  glpdepth::fuzz::expect_clean_refusal_within(size, [&] {
    std::map<std::string, std::string> metadata;
    glpdepth::read_safetensors(file, &metadata);
  });
  return 0;
}
