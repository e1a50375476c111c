// Video containers and streams through VideoReader (FFmpeg underneath): opening, probing, and
// decoding every frame with the corrupt-frame and truncation rules.
#include "fuzz_support.h"
#include "glpdepth/io/video.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = glpdepth::fuzz::as_file(data, size, ".bin");
  glpdepth::fuzz::expect_clean_refusal([&] {
    glpdepth::VideoReader reader(file);
    glpdepth::VideoFrame frame;
    for (int frames = 0; frames < 64 && reader.next(frame); ++frames) {
    }
  });
  return 0;
}
