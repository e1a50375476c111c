// Scale-invariant log loss (SiLog) of GLPDepth, made safe against the NaNs of the original (spec
// §2, B9, B17).
#pragma once
#include <torch/types.h>

namespace glpdepth {

struct SiLogOptions {
  // Weight of the squared mean; 0.5 in GLPDepth (BTS/AdaBins use 0.85).
  double lambda = 0.5;
  // Predictions are clamped to at least this before the log (a sigmoid can underflow to 0).
  double min_pred = 1e-6;
};

// L = sqrt(mean(d^2) - lambda * mean(d)^2), d = log(gt) - log(pred) over the pixels with gt > 0,
// pooled over the whole batch (not averaged per image).
// pred: [B,1,H,W] or [B,H,W]; gt: the same shape, or [B,1,H,W] against [B,H,W]. Only dim 1 is
// squeezed, so batch size 1 works. Half/bfloat16 inputs are computed in float32.
// A batch without any valid pixel gives 0 with a zero gradient (still connected to pred, so
// backward() works); the gradient is finite everywhere, also where the radicand is ~0.
// Throws glpdepth::Error on mismatched shapes.
torch::Tensor silog_loss(const torch::Tensor& pred, const torch::Tensor& gt,
                         const SiLogOptions& options = {});

}  // namespace glpdepth
