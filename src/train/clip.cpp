#include "glpdepth/train/clip.h"

#include <torch/torch.h>

#include <cmath>

#include "glpdepth/util/error.h"

namespace glpdepth {

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm, double eps) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return 0.0;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  norms.reserve(grads.size());
  const auto device = grads.front().device();
  auto dtype = torch::kFloat;
  for (const auto& g : grads) {
    if (g.scalar_type() == torch::kDouble) dtype = torch::kDouble;
  }
  for (const auto& g : grads) norms.push_back(g.norm(2).to(device, dtype));
  const torch::Tensor total = torch::stack(norms).norm(2);
  if (max_norm > 0) {
    const torch::Tensor coef = (max_norm / (total + eps)).clamp_max(1.0);
    for (auto& g : grads) g.mul_(coef.to(g.device(), g.scalar_type()));
  }
  return total.item<double>();
}

void zero_grads(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params) {
    if (!p.defined()) continue;
    torch::Tensor g = p.grad();
    if (g.defined()) g.zero_();
  }
}

NonFiniteGuard::NonFiniteGuard(int64_t max_consecutive) : max_consecutive_(max_consecutive) {
  check(max_consecutive > 0, "non-finite guard: max_consecutive must be > 0, got ",
        max_consecutive);
}

bool NonFiniteGuard::allow_step(double loss, double grad_norm,
                                const std::vector<torch::Tensor>& params) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) {
    consecutive_ = 0;
    return true;
  }
  zero_grads(params);
  ++skipped_;
  ++consecutive_;
  if (consecutive_ >= max_consecutive_) {
    throw Error(cat("training diverged: ", consecutive_,
                    " steps in a row had a non-finite loss or gradient norm (last loss ", loss,
                    ", gradient norm ", grad_norm, "; ", skipped_,
                    " steps skipped in all). Lower the learning rate, enable gradient clipping "
                    "or check the data for invalid depth values."));
  }
  return false;
}

}  // namespace glpdepth
