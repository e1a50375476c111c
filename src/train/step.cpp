#include "glpdepth/train/step.h"

#include <torch/torch.h>

#include <cmath>

#include "glpdepth/dist/ddp.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

LossScalerOptions scaler_for(const TrainStepOptions& options) {
  LossScalerOptions scaler = options.scaler;
  scaler.enabled = options.precision == Precision::kFloat16;
  return scaler;
}

// SiLog over the pixels of the whole distributed batch. The loss pools pixels over the batch
// (spec §2), so averaging per-rank losses would not equal one process training on the union; here
// each rank gets the global sums (d, d^2, count) and backpropagates a surrogate whose gradient,
// once the reducer has averaged it over the ranks, is exactly the global loss's gradient:
//   dL/dd_i = (d_i / N - lambda * sum(d) / N^2) / L.
// `value` receives the global loss; `stop` is OR-ed over the ranks on the same collective.
torch::Tensor global_silog(const torch::Tensor& pred, const torch::Tensor& gt, dist::Group& group,
                           const SiLogOptions& options, double& value, bool& stop) {
  auto p = pred.to(torch::kFloat32);
  auto g = gt.to(torch::kFloat32);
  auto mask = g > 0;
  auto d = torch::where(mask, torch::log(g.clamp_min(1e-12)) - torch::log(p.clamp_min(options.min_pred)),
                        torch::zeros_like(p));
  auto local_sum = d.sum();
  auto local_sq = (d * d).sum();
  std::vector<double> stats = {local_sum.item<double>(), local_sq.item<double>(),
                               static_cast<double>(mask.sum().item<int64_t>()), stop ? 1.0 : 0.0};
  stats = group.allreduce_sum(stats);
  stop = stats[3] > 0;
  const double n = stats[2];
  const double radicand = n > 0 ? stats[1] / n - options.lambda * (stats[0] / n) * (stats[0] / n) : 0;
  value = std::sqrt(std::max(radicand, 0.0));
  if (n == 0 || value < 1e-6) return p.sum() * 0.0;  // no valid pixel / degenerate: no gradient
  const double world = group.size();
  return (local_sq / (2.0 * n) - options.lambda * (stats[0] / (n * n)) * local_sum) * (world / value);
}

}  // namespace

TrainStep::TrainStep(GLPDepth model, torch::optim::Optimizer& optimizer, TrainStepOptions options,
                     std::shared_ptr<dist::Group> group)
    : model_(std::move(model)),
      optimizer_(optimizer),
      options_(options),
      group_(std::move(group)),
      parameters_(model_->parameters()),
      scaler_(scaler_for(options)),
      guard_(options.max_nonfinite) {
  // Refuses reduced precision on the CPU before the first step.
  { AutocastGuard probe(options_.device, options_.precision); }
  if (group_->size() > 1) {
    dist::broadcast_module(*group_, *model_);  // identical weights everywhere
    reducer_ = std::make_unique<dist::GradientReducer>(group_, parameters_);
  }
}

TrainStep::~TrainStep() = default;

torch::Tensor TrainStep::loss_of(const torch::Tensor& pred, const torch::Tensor& gt, double& value,
                                 bool& stop) {
  if (group_->size() > 1) return global_silog(pred, gt, *group_, options_.loss, value, stop);
  torch::Tensor loss = silog_loss(pred, gt, options_.loss);
  value = loss.item<double>();
  return loss;
}

StepOutcome TrainStep::run(const Batch& batch, const torch::Tensor& to_metric, bool stop_requested) {
  StepOutcome outcome;
  outcome.stop = stop_requested;
  auto images = batch.image.to(options_.device, /*non_blocking=*/true);
  auto depth = batch.depth.to(options_.device, /*non_blocking=*/true);
  if (options_.channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor loss;
  {
    AutocastGuard autocast(options_.device, options_.precision);
    torch::Tensor pred = model_->forward(images);
    if (to_metric.defined()) pred = pred * to_metric.to(options_.device, pred.scalar_type());
    loss = loss_of(pred, depth, outcome.loss, outcome.stop);
  }
  optimizer_.zero_grad();
  scaler_.scale(loss).backward();
  if (reducer_) reducer_->finish();
  const bool finite_gradients = scaler_.unscale(parameters_);
  outcome.grad_norm = clip_grad_norm(parameters_, options_.clip_grad);
  if (scaler_.enabled() && std::isfinite(outcome.loss) && !finite_gradients) {
    // fp16 overflow: expected now and then; the scaler skips the step and lowers the scale.
    outcome.scaler_skipped = true;
  } else if (guard_.allow_step(outcome.loss, outcome.grad_norm, parameters_)) {
    outcome.stepped = scaler_.step(optimizer_);
  }
  scaler_.update();
  return outcome;
}

}  // namespace glpdepth
