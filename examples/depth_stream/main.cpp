// Depth for a stream of frames the program decodes itself (here from a video file, as a camera
// driver would hand them over): a producer thread pushes frames into a glpdepth::DepthStream,
// the main thread pops depth in the same order with each frame's time stamp while the next
// frames are being read.
//
//   depth_stream VIDEO WEIGHTS OUT_DIR
//
// writes OUT_DIR/<index>.npy (float32 metres) per frame and prints "index time median" lines.
#include <glpdepth/glpdepth.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: depth_stream VIDEO WEIGHTS OUT_DIR\n";
    return 2;
  }
  try {
    const std::filesystem::path video_file = argv[1], out_dir = argv[3];
    std::filesystem::create_directories(out_dir);
    glpdepth::DepthPredictor predictor = glpdepth::DepthPredictor::open(argv[2]);
    glpdepth::DepthStream stream(predictor);

    std::exception_ptr producer_error;
    std::thread producer([&] {
      try {
        glpdepth::VideoReader video(video_file);
        glpdepth::VideoFrame frame;
        while (video.next(frame)) stream.push({std::move(frame.image), frame.time});
      } catch (...) {
        producer_error = std::current_exception();
      }
      stream.close();  // pop() ends once the queued frames are out
    });
    try {
      while (std::optional<glpdepth::StreamDepth> depth = stream.pop()) {
        glpdepth::write_npy(out_dir / (std::to_string(depth->index) + ".npy"), depth->depth);
        std::printf("%lld %.3f %.4f\n", static_cast<long long>(depth->index), depth->time,
                    depth->depth.median().item<float>());
      }
    } catch (...) {
      stream.stop();  // the producer's push() then fails and it ends
      producer.join();
      throw;
    }
    producer.join();
    if (producer_error) std::rethrow_exception(producer_error);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
