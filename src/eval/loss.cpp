#include "glpdepth/eval/loss.h"

#include <torch/torch.h>

#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

// [B,1,H,W] -> [B,H,W]; anything else is returned as is.
torch::Tensor squeeze_channel(const torch::Tensor& t) {
  return t.dim() == 4 && t.size(1) == 1 ? t.squeeze(1) : t;
}

std::string shape_string(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

}  // namespace

torch::Tensor silog_loss(const torch::Tensor& pred_in, const torch::Tensor& gt_in,
                         const SiLogOptions& options) {
  torch::Tensor pred = squeeze_channel(pred_in);
  torch::Tensor gt = squeeze_channel(gt_in);
  check(pred.sizes() == gt.sizes(), "silog_loss: prediction shape ", shape_string(pred_in),
        " does not match ground-truth shape ", shape_string(gt_in));
  check(options.min_pred > 0, "silog_loss: min_pred must be > 0, got ", options.min_pred);
  if (!pred.is_floating_point() || pred.scalar_type() == torch::kHalf ||
      pred.scalar_type() == torch::kBFloat16) {
    pred = pred.to(torch::kFloat);
  }
  gt = gt.to(pred.scalar_type());

  // Fixed-shape masked arithmetic (no boolean indexing): no host sync and no dynamic shapes, and
  // invalid pixels get an exactly zero gradient through torch::where.
  torch::Tensor valid = gt > 0;
  torch::Tensor safe_gt = torch::where(valid, gt, torch::ones_like(gt));
  torch::Tensor d =
      torch::where(valid, torch::log(safe_gt) - torch::log(pred.clamp_min(options.min_pred)),
                   torch::zeros_like(pred));
  torch::Tensor n = valid.sum().to(pred.scalar_type()).clamp_min(1);
  torch::Tensor mean_d = d.sum() / n;
  torch::Tensor mean_d2 = (d * d).sum() / n;
  torch::Tensor radicand = mean_d2 - options.lambda * mean_d * mean_d;

  // sqrt has an infinite slope at 0 (empty batch, perfect prediction, rounding to a tiny
  // negative): below `tiny` the value is kept exact but the gradient is cut to zero.
  const double tiny = 1e-12;
  torch::Tensor positive = radicand > tiny;
  torch::Tensor safe_radicand = torch::where(positive, radicand, torch::ones_like(radicand));
  return torch::where(positive, torch::sqrt(safe_radicand),
                      torch::sqrt(radicand.clamp_min(0)).detach());
}

}  // namespace glpdepth
