#include "glpdepth/train/optim.h"

#include <torch/torch.h>

#include <cctype>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {

OptimizerKind parse_optimizer_kind(const std::string& name) {
  const std::string lower = to_lower(name);
  if (lower == "adam") return OptimizerKind::kAdam;
  if (lower == "adamw") return OptimizerKind::kAdamW;
  if (lower == "sgd") return OptimizerKind::kSGD;
  throw Error(cat("unknown optimizer '", name, "' (expected adam, adamw or sgd)"));
}

std::string to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kAdam:
      return "adam";
    case OptimizerKind::kAdamW:
      return "adamw";
    case OptimizerKind::kSGD:
      return "sgd";
  }
  return "?";
}

namespace {

template <typename Options>
std::unique_ptr<Options> adam_like(const OptimOptions& o, double weight_decay) {
  auto options = std::make_unique<Options>(o.lr);
  options->betas(std::make_tuple(o.beta1, o.beta2))
      .eps(o.eps)
      .weight_decay(weight_decay)
      .amsgrad(o.amsgrad);
  return options;
}

std::unique_ptr<torch::optim::SGDOptions> sgd_options(const OptimOptions& o, double weight_decay) {
  auto options = std::make_unique<torch::optim::SGDOptions>(o.lr);
  options->momentum(o.momentum).dampening(0.0).weight_decay(weight_decay).nesterov(o.nesterov);
  return options;
}

void set_weight_decay(OptimizerKind kind, torch::optim::OptimizerOptions& options, double decay) {
  switch (kind) {
    case OptimizerKind::kAdam:
      static_cast<torch::optim::AdamOptions&>(options).weight_decay(decay);
      return;
    case OptimizerKind::kAdamW:
      static_cast<torch::optim::AdamWOptions&>(options).weight_decay(decay);
      return;
    case OptimizerKind::kSGD:
      static_cast<torch::optim::SGDOptions&>(options).weight_decay(decay);
      return;
  }
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const OptimOptions& o) {
  check(o.lr > 0, "optimizer: lr must be > 0, got ", o.lr);
  check(o.weight_decay >= 0, "optimizer: weight_decay must be >= 0, got ", o.weight_decay);
  check(o.eps >= 0, "optimizer: eps must be >= 0, got ", o.eps);
  check(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
        "optimizer: betas must lie in [0, 1), got (", o.beta1, ", ", o.beta2, ")");
  check(o.momentum >= 0, "optimizer: momentum must be >= 0, got ", o.momentum);
  check(!(o.kind == OptimizerKind::kSGD && o.nesterov && o.momentum <= 0),
        "optimizer: nesterov needs momentum > 0");

  std::vector<torch::Tensor> decay, no_decay;
  const bool split = o.no_decay_norm_bias && o.weight_decay > 0;
  for (const auto& p : params) {
    if (!p.defined() || !p.requires_grad()) continue;
    (split && p.dim() <= 1 ? no_decay : decay).push_back(p);
  }
  check(!decay.empty() || !no_decay.empty(), "optimizer: no trainable parameters");

  // Groups start from the optimiser's defaults; each one's weight decay is set below.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<double> group_decays;
  if (!decay.empty()) {
    groups.emplace_back(decay);
    group_decays.push_back(o.weight_decay);
  }
  if (!no_decay.empty()) {
    groups.emplace_back(no_decay);
    group_decays.push_back(0.0);
  }

  std::unique_ptr<torch::optim::Optimizer> optimizer;
  switch (o.kind) {
    case OptimizerKind::kAdam:
      optimizer = std::make_unique<torch::optim::Adam>(
          groups, *adam_like<torch::optim::AdamOptions>(o, o.weight_decay));
      break;
    case OptimizerKind::kAdamW:
      optimizer = std::make_unique<torch::optim::AdamW>(
          groups, *adam_like<torch::optim::AdamWOptions>(o, o.weight_decay));
      break;
    case OptimizerKind::kSGD:
      optimizer = std::make_unique<torch::optim::SGD>(groups, *sgd_options(o, o.weight_decay));
      break;
  }
  check(optimizer != nullptr, "make_optimizer: bad optimizer kind");
  // Set after construction: since LibTorch 2.x (seen with 2.15) a group option passed in that
  // equals its type's default-constructed value is replaced by the optimiser's default, which
  // turned the no-decay group's 0 into the decay group's value.
  auto& built = optimizer->param_groups();
  for (size_t i = 0; i < built.size(); ++i) set_weight_decay(o.kind, built[i].options(), group_decays[i]);
  return optimizer;
}

}  // namespace glpdepth
