// BatchNorm2d whose training-mode statistics span the whole distributed batch: mean and variance
// are combined over the ranks in forward, and the gradient sums in backward, so N ranks with batch
// B each normalise exactly like one process with batch N*B. Without a group (or a group of one,
// or in eval mode) it is plain BatchNorm2d. Same parameters and buffers under the same names as
// torch::nn::BatchNorm2d (weight, bias, running_mean, running_var, num_batches_tracked), so
// checkpoints load either way.
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>

#include "glpdepth/dist/group.h"

namespace glpdepth::dist {

class SyncBatchNorm2dImpl : public torch::nn::Cloneable<SyncBatchNorm2dImpl> {
 public:
  explicit SyncBatchNorm2dImpl(int64_t num_features)
      : SyncBatchNorm2dImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit SyncBatchNorm2dImpl(const torch::nn::BatchNormOptions& options,
                               std::shared_ptr<Group> group = nullptr);

  void reset() override;
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  // input [N, C, H, W]. In training mode with a group of more than one process every rank must
  // call forward (and later backward) of its SyncBatchNorm2d layers in the same order.
  torch::Tensor forward(const torch::Tensor& input);

  void set_group(std::shared_ptr<Group> group) { group_ = std::move(group); }
  const std::shared_ptr<Group>& group() const { return group_; }

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias;
  torch::Tensor running_mean, running_var, num_batches_tracked;

 private:
  std::shared_ptr<Group> group_;
};
TORCH_MODULE(SyncBatchNorm2d);

// Gives `group` to every SyncBatchNorm2d inside `module` (itself included); returns how many.
// Models build SyncBatchNorm2d where they would build BatchNorm2d and get their group here once
// the process group exists.
int set_sync_batchnorm_group(torch::nn::Module& module, const std::shared_ptr<Group>& group);

// The training-mode computation on its own. Gradients reach input, weight and bias; input's
// gradient accounts for every rank's batch, while weight's and bias's are this rank's share
// (their sum over ranks is the full-batch gradient; the gradient all-reduce averages them like
// every other parameter). running_mean/running_var (when defined) are updated in place with the
// global batch statistics: new = (1 - momentum) * old + momentum * batch (unbiased variance).
torch::Tensor sync_batch_norm(Group& group, const torch::Tensor& input, const torch::Tensor& weight,
                              const torch::Tensor& bias, torch::Tensor running_mean,
                              torch::Tensor running_var, double momentum, double eps);

}  // namespace glpdepth::dist
