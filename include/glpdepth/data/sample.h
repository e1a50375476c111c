// One training/evaluation example as it leaves a Dataset: decoded, dataset window applied,
// not augmented. Plain C++ (no tensors) so that datasets and augmentation stay cheap to test.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "glpdepth/io/calib.h"  // Intrinsics
#include "glpdepth/io/image.h"

namespace glpdepth {

struct Sample {
  Image8 rgb;                 // HWC, 3 channels, RGB order
  std::vector<float> depth;   // rgb.height x rgb.width, row-major, metres; 0 = invalid.
                              // Empty when the dataset has no depth (image folders).
  Intrinsics intrinsics;
  std::string name;    // output file name, e.g. "2011_09_26_drive_0002_sync_0000000005.png"
  std::string source;  // where it came from, for messages: "list FILE line N" or the image path
  int line = 0;        // 1-based line in the list file; 0 when not from a list
  int64_t index = -1;  // index in its Dataset

  int width() const { return rgb.width; }
  int height() const { return rgb.height; }
  bool has_depth() const { return !depth.empty(); }
  float& depth_at(int x, int y) { return depth[static_cast<size_t>(y) * rgb.width + x]; }
  float depth_at(int x, int y) const { return depth[static_cast<size_t>(y) * rgb.width + x]; }
};

// Keeps rows [top, top+height) and columns [left, left+width) of image and depth, and moves the
// principal point with them. Throws Error naming the sample when the window does not fit.
void crop_sample(Sample& sample, int top, int left, int height, int width);

// Mirrors image and depth left-right; cx becomes W-1-cx.
void flip_sample(Sample& sample);

}  // namespace glpdepth
