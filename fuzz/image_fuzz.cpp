// Image decoding through our wrapper: 8-bit PNG/JPEG/BMP as RGB (and as 1, 2 or 4 channels, chosen
// by the input's length), and the 16-bit depth PNGs of ground truth. JPEG goes to libjpeg-turbo,
// which is not instrumented here: this target checks our side of it (errors, the pixel cap,
// libjpeg's longjmp out of a decode); libjpeg-turbo itself is fuzzed in OSS-Fuzz.
#include "fuzz_support.h"
#include "glpdepth/io/image.h"

// The pixel cap is settable (GLPDEPTH_MAX_IMAGE_PIXELS); here it is 2^22 (a 2048x2048 image) so
// that a legitimately small compressed image of the default cap's size (2^28 pixels: a decode of
// seconds natively, minutes under ASan) is not reported as a hang. The cap's own check is the
// same code at any value.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  glpdepth::set_image_pixel_limit(int64_t{1} << 22);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::decode_image(data, size, 3, "fuzz.png"); });
  const int channels = 1 + static_cast<int>(size % 4);
  if (channels != 3) {
    glpdepth::fuzz::expect_clean_refusal(
        [&] { glpdepth::decode_image(data, size, channels, "fuzz.png"); });
  }
  glpdepth::fuzz::expect_clean_refusal([&] { glpdepth::decode_png16(data, size, "fuzz.png"); });
  return 0;
}
