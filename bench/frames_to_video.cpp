// Encodes image files, in the order given, as an H.264 video at a fixed rate: the input videos of
// bench/video_throughput.sh (the frames of a synthetic drive, as a dashcam would record them).
//   frames_to_video OUT.mp4 FPS FRAME...
#include <cstdlib>
#include <iostream>

#include "glpdepth/io/image.h"
#include "glpdepth/io/video.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: frames_to_video OUT.mp4 FPS FRAME...\n";
    return 2;
  }
  try {
    glpdepth::VideoWriterOptions options;
    options.fps = std::atof(argv[2]);
    const glpdepth::Image8 first = glpdepth::read_image(argv[3]);
    glpdepth::VideoWriter writer(argv[1], first.width, first.height, options);
    for (int i = 3; i < argc; ++i)
      writer.write(i == 3 ? first : glpdepth::read_image(argv[i]), (i - 3) / options.fps);
    writer.finish();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
