// Models for the ONNX export tests: fresh weights disturbed so that every tensor matters.
#pragma once
#include <torch/torch.h>

#include <string>

#include "glpdepth/io/weights.h"
#include "glpdepth/model/glpdepth.h"

namespace glpdepth::testing {

// A seeded GLPDepth in eval mode whose weights leave nothing at a neutral value: fresh
// LayerNorms (1, 0), BatchNorm statistics (0, 1) and zero biases would hide a graph that swaps
// or drops them. The depth head is scaled so that the depth spreads over much of (0, max_depth)
// instead of sitting near max_depth / 2, where a relative error would say little.
inline GLPDepth make_disturbed_model(const std::string& encoder, uint64_t seed,
                                     double max_depth = 80.0) {
  torch::manual_seed(seed);
  GLPDepthOptions options;
  options.encoder = parse_encoder(encoder);
  options.max_depth = max_depth;
  GLPDepth model(options);
  torch::NoGradGuard no_grad;
  for (auto& [key, tensor] : module_state_dict(*model)) {
    if (!tensor.is_floating_point()) continue;  // num_batches_tracked
    const bool ends_running_var = key.size() > 11 && key.substr(key.size() - 11) == "running_var";
    if (ends_running_var) {
      tensor.uniform_(0.5, 2.0);
    } else if (tensor.dim() == 1) {  // biases, norm weights, running means
      tensor.add_(torch::randn_like(tensor) * 0.1);
    }
  }
  model->last_layer_depth->ptr(2)->as<torch::nn::Conv2dImpl>()->weight.mul_(20.0);
  model->eval();
  return model;
}

// ||a - b|| / ||b|| over all elements, in float64.
inline double relative_l2(const torch::Tensor& actual, const torch::Tensor& expected) {
  auto a = actual.to(torch::kFloat64), b = expected.to(torch::kFloat64);
  return ((a - b).norm() / b.norm()).item<double>();
}

}  // namespace glpdepth::testing
