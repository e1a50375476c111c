#include "glpdepth/dist/sync_batchnorm.h"

#include <torch/autograd.h>
#include <torch/nn/functional/batchnorm.h>

#include "glpdepth/util/error.h"

namespace glpdepth::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor per_channel(const torch::Tensor& t) {
  return t.view({1, -1, 1, 1});
}

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, Group* group) {
    const int64_t channels = input.size(1);
    const int64_t count = input.numel() / channels;
    check(count > 0, "SyncBatchNorm2d: empty input");
    // Each rank's (count, mean, M2) lands in its own row; a sum then gathers the rows, and
    // Chan's formula combines them in double without the cancellation of sum-of-squares.
    auto [var, mean] = torch::var_mean(input, {0, 2, 3}, /*unbiased=*/false);
    torch::Tensor rows = torch::zeros({group->size(), 1 + 2 * channels},
                                      torch::TensorOptions().dtype(torch::kFloat64));
    rows[group->rank()][0] = static_cast<double>(count);
    rows[group->rank()].narrow(0, 1, channels).copy_(mean.to(torch::kFloat64).cpu());
    rows[group->rank()]
        .narrow(0, 1 + channels, channels)
        .copy_(var.to(torch::kFloat64).cpu() * static_cast<double>(count));
    rows = rows.to(group->device());
    group->allreduce_sum(rows);
    rows = rows.cpu();
    torch::Tensor counts = rows.narrow(1, 0, 1);  // [world, 1]
    torch::Tensor means = rows.narrow(1, 1, channels);
    torch::Tensor m2s = rows.narrow(1, 1 + channels, channels);
    double total = counts.sum().item<double>();
    torch::Tensor global_mean = (counts * means).sum(0) / total;
    torch::Tensor global_m2 = (m2s + counts * (means - global_mean.unsqueeze(0)).pow(2)).sum(0);
    torch::Tensor global_var = global_m2 / total;
    torch::Tensor invstd = (global_var + eps).rsqrt();

    if (running_mean.numel() > 0) {
      check(total > 1, "SyncBatchNorm2d: one value per channel in the whole batch gives no ",
            "variance estimate");
      torch::Tensor unbiased = global_var * (total / (total - 1));
      running_mean.mul_(1 - momentum).add_(global_mean.to(running_mean.options()), momentum);
      running_var.mul_(1 - momentum).add_(unbiased.to(running_var.options()), momentum);
    }

    torch::Tensor mean_t = global_mean.to(input.options());
    torch::Tensor invstd_t = invstd.to(input.options());
    torch::Tensor output = (input - per_channel(mean_t)) * per_channel(invstd_t);
    if (weight.numel() > 0) output = output * per_channel(weight) + per_channel(bias);
    ctx->save_for_backward({input, weight, mean_t, invstd_t});
    ctx->saved_data["total"] = total;
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& input = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& mean = saved[2];
    const torch::Tensor& invstd = saved[3];
    double total = ctx->saved_data["total"].toDouble();
    auto* group = reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    torch::Tensor dy = grad_outputs[0].contiguous();
    const int64_t channels = input.size(1);

    torch::Tensor xhat = (input - per_channel(mean)) * per_channel(invstd);
    torch::Tensor sum_dy = dy.sum({0, 2, 3});
    torch::Tensor sum_dy_xhat = (dy * xhat).sum({0, 2, 3});
    torch::Tensor sums = torch::cat({sum_dy, sum_dy_xhat}).to(torch::kFloat64).to(group->device());
    group->allreduce_sum(sums);
    sums = sums.to(input.device());
    torch::Tensor mean_dy = (sums.narrow(0, 0, channels) / total).to(input.scalar_type());
    torch::Tensor mean_dy_xhat =
        (sums.narrow(0, channels, channels) / total).to(input.scalar_type());

    const bool affine = weight.numel() > 0;
    torch::Tensor scale = affine ? invstd * weight : invstd;
    torch::Tensor grad_input =
        per_channel(scale) * (dy - per_channel(mean_dy) - xhat * per_channel(mean_dy_xhat));
    torch::Tensor grad_weight, grad_bias;
    if (affine) {
      grad_weight = sum_dy_xhat;
      grad_bias = sum_dy;
    }
    return {grad_input,      grad_weight,     grad_bias,       torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(Group& group, const torch::Tensor& input, const torch::Tensor& weight,
                              const torch::Tensor& bias, torch::Tensor running_mean,
                              torch::Tensor running_var, double momentum, double eps) {
  check(input.dim() == 4, "SyncBatchNorm2d: expected a 4-d input [N, C, H, W], got ", input.dim(),
        "-d");
  check(weight.defined() == bias.defined(), "SyncBatchNorm2d: weight and bias go together");
  check(running_mean.defined() == running_var.defined(),
        "SyncBatchNorm2d: running_mean and running_var go together");
  // LibTorch 1.13's custom Functions reject undefined tensor arguments: empty ones stand in.
  auto or_empty = [&](const torch::Tensor& t) {
    return t.defined() ? t : torch::empty({0}, input.options());
  };
  return SyncBatchNormFunction::apply(input, or_empty(weight), or_empty(bias),
                                      or_empty(running_mean), or_empty(running_var), momentum, eps,
                                      &group);
}

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(const torch::nn::BatchNormOptions& options_,
                                         std::shared_ptr<Group> group)
    : options(options_), group_(std::move(group)) {
  reset();
}

void SyncBatchNorm2dImpl::reset() {
  // Registered exactly like torch::nn::BatchNorm2d (undefined when switched off) so that
  // state_dicts carry the same keys.
  if (options.affine()) {
    weight = register_parameter("weight", torch::empty({options.num_features()}));
    bias = register_parameter("bias", torch::empty({options.num_features()}));
  } else {
    weight = register_parameter("weight", torch::Tensor(), /*requires_grad=*/false);
    bias = register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({options.num_features()}));
    running_var = register_buffer("running_var", torch::ones({options.num_features()}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
  } else {
    running_mean = register_buffer("running_mean", torch::Tensor());
    running_var = register_buffer("running_var", torch::Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", torch::Tensor());
  }
  reset_parameters();
}

void SyncBatchNorm2dImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  if (options.track_running_stats()) {
    running_mean.zero_();
    running_var.fill_(1);
    num_batches_tracked.zero_();
  }
  if (options.affine()) {
    weight.fill_(1);
    bias.zero_();
  }
}

void SyncBatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "glpdepth::dist::SyncBatchNorm2d(" << options.num_features()
         << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum()) {
    stream << *options.momentum();
  } else {
    stream << "None";
  }
  stream << ", affine=" << options.affine()
         << ", track_running_stats=" << options.track_running_stats() << ")";
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& input) {
  check(input.dim() == 4, "SyncBatchNorm2d: expected a 4-d input [N, C, H, W], got ", input.dim(),
        "-d");
  check(input.size(1) == options.num_features(), "SyncBatchNorm2d: input has ", input.size(1),
        " channels, the layer ", options.num_features());
  // Same bookkeeping as torch::nn::BatchNorm2d: momentum None means a cumulative average.
  double factor = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    if (!options.momentum()) factor = 1.0 / num_batches_tracked.item<double>();
  }
  bool use_batch_stats = is_training() || !options.track_running_stats();
  if (!use_batch_stats || !group_ || group_->size() == 1) {
    return torch::batch_norm(input, weight, bias, running_mean, running_var, use_batch_stats,
                             factor, options.eps(), at::globalContext().userEnabledCuDNN());
  }
  return sync_batch_norm(*group_, input, weight, bias,
                         is_training() ? running_mean : torch::Tensor(),
                         is_training() ? running_var : torch::Tensor(), factor, options.eps());
}

int set_sync_batchnorm_group(torch::nn::Module& module, const std::shared_ptr<Group>& group) {
  int count = 0;
  for (const std::shared_ptr<torch::nn::Module>& child : module.modules(/*include_self=*/true)) {
    if (auto* bn = dynamic_cast<SyncBatchNorm2dImpl*>(child.get())) {
      bn->set_group(group);
      ++count;
    }
  }
  return count;
}

}  // namespace glpdepth::dist
