// Dynamic loss scaling for fp16 mixed precision, with the semantics of PyTorch's
// torch.amp.GradScaler (LibTorch's C++ API has none). bf16 and float32 need no scaling: a
// disabled scaler passes everything through, so the training step is written once.
//
// One step:   loss_scaled = scaler.scale(loss); loss_scaled.backward();
//             scaler.unscale(params);            // before clipping: clip real gradients
//             clip_grad_norm(params, max_norm);
//             if (scaler.step(optimizer)) ...    // skipped when a gradient was inf/NaN
//             scaler.update();                   // lower the scale after inf, grow it after
//                                                // growth_interval clean steps
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace glpdepth {

struct LossScalerOptions {
  bool enabled = true;
  double init_scale = 65536.0;  // 2^16, GradScaler's default
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class LossScaler {
 public:
  // Throws glpdepth::Error for factors that would not move the scale the right way.
  explicit LossScaler(LossScalerOptions options = {});

  bool enabled() const { return options_.enabled; }
  // The current scale (1 when disabled).
  double scale() const { return options_.enabled ? scale_ : 1.0; }
  // Consecutive steps without inf/NaN since the last change of the scale.
  int64_t growth_tracker() const { return growth_tracker_; }

  // loss * scale (the loss itself when disabled).
  torch::Tensor scale(const torch::Tensor& loss) const;

  // Multiplies every gradient of `parameters` by 1/scale (float32 reciprocal, as GradScaler) and
  // records whether any gradient is inf or NaN. At most once per step; a second call throws.
  // Returns true when every gradient is finite. Disabled: only checks finiteness.
  bool unscale(const std::vector<torch::Tensor>& parameters);

  // Steps the optimiser unless the unscaled gradients held inf/NaN; unscale() must have been
  // called this step (the gradients are then those of `parameters` given there). Returns whether
  // the optimiser stepped.
  bool step(torch::optim::Optimizer& optimizer);

  // Ends the step: after inf/NaN the scale is multiplied by backoff_factor and the tracker
  // reset; otherwise the tracker counts up and at growth_interval the scale is multiplied by
  // growth_factor (if that stays finite) and the tracker reset.
  void update();

  // Whether the current step found inf/NaN gradients (valid between unscale and update).
  bool found_inf() const { return found_inf_; }

  // {"scale", "growth_tracker"} plus the options, for checkpoints.
  std::map<std::string, double> state() const;
  // Restores scale and tracker; the options stay this scaler's own. Throws on a bad state.
  void load_state(const std::map<std::string, double>& state);

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false;
  bool found_inf_ = false;
};

}  // namespace glpdepth
