// Gradient clipping by global L2 norm, and skipping of steps with a non-finite loss or gradient.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace glpdepth {

// torch.nn.utils.clip_grad_norm_ (norm_type 2): total = ||(||g_i||_2)_i||_2 over the parameters
// that have a gradient; if max_norm > 0 every gradient is multiplied by
// min(1, max_norm / (total + eps)). max_norm <= 0 only measures. Returns the total norm (inf/NaN
// when a gradient is not finite; the gradients are then scaled by 0/NaN like PyTorch, so check
// the result, e.g. with NonFiniteGuard, before stepping).
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm, double eps = 1e-6);

// Sets every gradient of `params` to zero (keeps the tensors, like zero_grad(set_to_none=false)).
void zero_grads(const std::vector<torch::Tensor>& params);

// Decides whether an optimiser step may go ahead: a step whose loss or gradient norm is not
// finite is skipped (its gradients are zeroed, the caller does not step) and counted. After
// `max_consecutive` skipped steps in a row, allow_step throws glpdepth::Error.
class NonFiniteGuard {
 public:
  explicit NonFiniteGuard(int64_t max_consecutive = 5);
  // True: step. False: skip (gradients of params already zeroed).
  bool allow_step(double loss, double grad_norm, const std::vector<torch::Tensor>& params);
  int64_t skipped() const { return skipped_; }
  int64_t consecutive() const { return consecutive_; }
  // For exact resume.
  void restore(int64_t skipped, int64_t consecutive) {
    skipped_ = skipped;
    consecutive_ = consecutive;
  }

 private:
  int64_t max_consecutive_;
  int64_t skipped_ = 0;
  int64_t consecutive_ = 0;
};

}  // namespace glpdepth
