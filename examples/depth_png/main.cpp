// Metric depth for one image with the installed glpdepth library: reads an image and a weights
// file, writes a 16-bit depth PNG (metres x 256, the KITTI convention) and prints the median depth.
//   depth_png IMAGE WEIGHTS OUTPUT.png
#include <glpdepth/glpdepth.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: depth_png IMAGE WEIGHTS OUTPUT.png\n";
    return 2;
  }
  try {
    glpdepth::DepthPredictor predictor = glpdepth::DepthPredictor::open(argv[2]);
    glpdepth::Image8 image = glpdepth::read_image(argv[1]);
    torch::Tensor depth = predictor.predict(image);  // [H, W] metres, float32
    glpdepth::write_depth_png16(argv[3], depth, 256.0);
    std::cout << "median depth " << depth.median().item<float>() << " m ("
              << predictor.model_options().encoder << ", " << image.width << "x" << image.height
              << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
