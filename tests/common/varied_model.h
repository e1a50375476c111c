// An untrained MiT-b0 GLPDepth whose depth still varies across the image: a fresh head sits near
// max_depth/2 everywhere, which would make comparisons between predictors trivially true, so
// the head's weights are scaled up. `seed` picks the weights.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "glpdepth/model/glpdepth.h"

namespace glpdepth::testing {

inline GLPDepth varied_b0(uint64_t seed, double canonical_focal = 0) {
  torch::manual_seed(seed);
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  options.canonical_focal = canonical_focal;
  GLPDepth model(options);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters())
    if (p.key().find("last_layer_depth") != std::string::npos) p.value().mul_(4.0);
  return model;
}

}  // namespace glpdepth::testing
