#include "glpdepth/train/loss_scaler.h"

#include <torch/torch.h>

#include <cmath>

#include "glpdepth/util/error.h"

namespace glpdepth {

LossScaler::LossScaler(LossScalerOptions options) : options_(options), scale_(options.init_scale) {
  check(options_.init_scale > 0 && std::isfinite(options_.init_scale),
        "loss scaler: initial scale must be positive and finite, got ", options_.init_scale);
  check(options_.growth_factor > 1.0, "loss scaler: growth factor must exceed 1, got ",
        options_.growth_factor);
  check(options_.backoff_factor > 0 && options_.backoff_factor < 1.0,
        "loss scaler: backoff factor must lie in (0, 1), got ", options_.backoff_factor);
  check(options_.growth_interval >= 1, "loss scaler: growth interval must be at least 1, got ",
        options_.growth_interval);
}

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const {
  if (!options_.enabled) return loss;
  return loss * scale_;
}

bool LossScaler::unscale(const std::vector<torch::Tensor>& parameters) {
  check(!unscaled_, "loss scaler: unscale() called twice in one step (call update() first)");
  unscaled_ = true;
  torch::NoGradGuard no_grad;
  // GradScaler multiplies by the float32 reciprocal of the float64 scale.
  const float inverse = static_cast<float>(1.0 / scale_);
  bool finite = true;
  for (const torch::Tensor& parameter : parameters) {
    torch::Tensor grad = parameter.grad();
    if (!grad.defined()) continue;
    if (options_.enabled) grad.mul_(inverse);
    if (finite && !torch::isfinite(grad).all().item<bool>()) finite = false;
  }
  found_inf_ = !finite;
  return finite;
}

bool LossScaler::step(torch::optim::Optimizer& optimizer) {
  check(unscaled_, "loss scaler: step() needs unscale() first in this step");
  if (found_inf_) return false;
  optimizer.step();
  return true;
}

void LossScaler::update() {
  if (options_.enabled) {
    if (found_inf_) {
      scale_ *= options_.backoff_factor;
      growth_tracker_ = 0;
    } else if (++growth_tracker_ == options_.growth_interval) {
      const double grown = scale_ * options_.growth_factor;
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    }
  }
  unscaled_ = false;
  found_inf_ = false;
}

std::map<std::string, double> LossScaler::state() const {
  return {{"scale", scale_},
          {"growth_tracker", static_cast<double>(growth_tracker_)},
          {"growth_factor", options_.growth_factor},
          {"backoff_factor", options_.backoff_factor},
          {"growth_interval", static_cast<double>(options_.growth_interval)}};
}

void LossScaler::load_state(const std::map<std::string, double>& state) {
  auto scale = state.find("scale");
  auto tracker = state.find("growth_tracker");
  check(scale != state.end() && tracker != state.end(),
        "loss scaler state: needs scale and growth_tracker");
  check(scale->second > 0 && std::isfinite(scale->second),
        "loss scaler state: scale must be positive and finite, got ", scale->second);
  check(tracker->second >= 0, "loss scaler state: growth_tracker must be >= 0, got ",
        tracker->second);
  scale_ = scale->second;
  growth_tracker_ = static_cast<int64_t>(tracker->second);
  unscaled_ = false;
  found_inf_ = false;
}

}  // namespace glpdepth
