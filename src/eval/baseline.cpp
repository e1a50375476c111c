#include "glpdepth/eval/baseline.h"

#include <torch/torch.h>

#include <algorithm>

#include "glpdepth/util/error.h"

namespace glpdepth {

double median_depth(const Dataset& dataset, int64_t max_samples) {
  check(dataset.has_depth(), "median depth: the dataset has no ground truth");
  const int64_t n = std::min(dataset.size(), std::max<int64_t>(1, max_samples));
  std::vector<float> valid;
  for (int64_t k = 0; k < n; ++k) {
    // Evenly spread: k * size / n, so a long list is not judged by its first drive only.
    const Sample sample = dataset.get(k * dataset.size() / n);
    for (float d : sample.depth)
      if (d > 0) valid.push_back(d);
  }
  check(!valid.empty(), "median depth: no valid ground-truth pixel in ", n, " samples");
  const auto middle = valid.begin() + static_cast<std::ptrdiff_t>(valid.size() / 2);
  std::nth_element(valid.begin(), middle, valid.end());
  return *middle;
}

DepthFunction constant_depth(double depth) {
  return [depth](const torch::Tensor& images, const torch::Tensor&) {
    return torch::full({images.size(0), 1, images.size(2), images.size(3)}, depth,
                       torch::TensorOptions().dtype(torch::kFloat32));
  };
}

}  // namespace glpdepth
