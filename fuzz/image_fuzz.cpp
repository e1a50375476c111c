// Image decoding through our wrapper: 8-bit PNG/JPEG/BMP as RGB, and the 16-bit depth PNGs of
// ground truth.
#include "fuzz_support.h"
#include "glpdepth/io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::decode_image(data, size, 3, "fuzz.png"); });
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::decode_png16(data, size, "fuzz.png"); });
  return 0;
}
