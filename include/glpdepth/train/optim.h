// Optimiser construction from a plain options struct (spec §5.2–5.4).
#pragma once
#include <torch/optim.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace glpdepth {

enum class OptimizerKind { kAdam, kAdamW, kSGD };

// "adam", "adamw", "sgd" (case-insensitive); throws glpdepth::Error naming the value otherwise.
OptimizerKind parse_optimizer_kind(const std::string& name);
std::string to_string(OptimizerKind kind);

struct OptimOptions {
  OptimizerKind kind = OptimizerKind::kAdam;
  double lr = 1e-4;
  // Adam and SGD: coupled L2 (added to the gradient), as torch.optim.Adam/SGD.
  // AdamW: decoupled decay (p -= lr * weight_decay * p), as torch.optim.AdamW.
  double weight_decay = 0.0;
  // Adam / AdamW.
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool amsgrad = false;
  // SGD (dampening is always 0, as in the seed).
  double momentum = 0.9;
  bool nesterov = false;
  // Put parameters with dim() <= 1 (biases, LayerNorm/BatchNorm weights) in a second group with
  // weight_decay 0. Off by default, as in the seed.
  bool no_decay_norm_bias = false;
};

// Builds the optimiser over `params` (tensors that require grad; others are skipped).
// With no_decay_norm_bias and weight_decay > 0 there are two param groups: group 0 decayed, group
// 1 not (either may be empty and is then left out). Throws glpdepth::Error on bad options
// (lr <= 0, negative weight decay, nesterov without momentum, ...).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const OptimOptions& options);

}  // namespace glpdepth
