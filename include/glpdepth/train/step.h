// One optimisation step of GLPDepth: forward under autocast, SiLog (pooled over the pixels of
// the whole distributed batch), loss scaling for fp16, backward, gradient all-reduce, unscale,
// clipping, the non-finite guard and the optimiser step. `train` and `bench --mode train` both
// step through it.
#pragma once
#include <torch/types.h>

#include <memory>

#include "glpdepth/data/loader.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/eval/loss.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/train/clip.h"
#include "glpdepth/train/loss_scaler.h"
#include "glpdepth/util/precision.h"

namespace torch::optim {
class Optimizer;
}

namespace glpdepth {
namespace dist {
class GradientReducer;
}

struct TrainStepOptions {
  torch::Device device = torch::kCPU;
  Precision precision = Precision::kFloat32;  // fp16 turns the loss scaler on
  bool channels_last = false;
  double clip_grad = 0;    // max global L2 norm of the (unscaled) gradients; 0 = off
  SiLogOptions loss;
  int max_nonfinite = 5;   // consecutive steps with a non-finite loss before Error
  LossScalerOptions scaler;  // `enabled` is decided by the precision
};

struct StepOutcome {
  double loss = 0;         // SiLog of the whole (distributed) batch
  double grad_norm = 0;    // before clipping; inf/NaN when a gradient was
  bool stepped = false;    // the optimiser stepped
  bool scaler_skipped = false;  // fp16: inf/NaN gradients, the scale was lowered instead
  bool stop = false;       // some rank asked to stop after this step
};

class TrainStep {
 public:
  // `model` is already on options.device. With a group of several ranks, rank 0's weights are
  // broadcast to all and gradients are averaged over the ranks after each backward.
  TrainStep(GLPDepth model, torch::optim::Optimizer& optimizer, TrainStepOptions options,
            std::shared_ptr<dist::Group> group = dist::Group::single());
  ~TrainStep();
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  // One step on `batch`. `to_metric` (camera-aware training: fx / canonical focal per image,
  // [B,1,1,1]) multiplies the prediction before the loss; undefined = metric model.
  // `stop_requested`: this rank wants to stop after the step; the outcome's `stop` is the OR
  // over ranks (exchanged on the loss's collective, no extra round trip).
  StepOutcome run(const Batch& batch, const torch::Tensor& to_metric = {},
                  bool stop_requested = false);

  LossScaler& scaler() { return scaler_; }
  NonFiniteGuard& guard() { return guard_; }
  const std::vector<torch::Tensor>& parameters() const { return parameters_; }

 private:
  torch::Tensor loss_of(const torch::Tensor& pred, const torch::Tensor& gt, double& value,
                        bool& stop);
  GLPDepth model_;
  torch::optim::Optimizer& optimizer_;
  TrainStepOptions options_;
  std::shared_ptr<dist::Group> group_;
  std::vector<torch::Tensor> parameters_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  LossScaler scaler_;
  NonFiniteGuard guard_;
};

}  // namespace glpdepth
