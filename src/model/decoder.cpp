#include "glpdepth/model/decoder.h"

#include <torch/torch.h>

#include "glpdepth/dist/sync_batchnorm.h"

namespace glpdepth {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

torch::Tensor upsample2x(const torch::Tensor& x) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .scale_factor(std::vector<double>{2.0, 2.0})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

namespace {
nn::Sequential conv_bn_relu(int64_t in, int64_t out, bool sync_batchnorm) {
  auto conv = nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(1).padding(1));
  auto bn_options = nn::BatchNormOptions(out).eps(1e-5).momentum(0.1);
  if (sync_batchnorm) return nn::Sequential(conv, dist::SyncBatchNorm2d(bn_options), nn::ReLU());
  return nn::Sequential(conv, nn::BatchNorm2d(bn_options), nn::ReLU());
}
}  // namespace

SelectiveFeatureFusionImpl::SelectiveFeatureFusionImpl(int64_t channels, bool sync_batchnorm) {
  conv1 = register_module("conv1", conv_bn_relu(2 * channels, channels, sync_batchnorm));
  conv2 = register_module("conv2", conv_bn_relu(channels, channels / 2, sync_batchnorm));
  conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(channels / 2, 2, 3).padding(1)));
}

torch::Tensor SelectiveFeatureFusionImpl::forward(const torch::Tensor& local,
                                                  const torch::Tensor& global) {
  auto attention =
      torch::sigmoid(conv3->forward(conv2->forward(conv1->forward(torch::cat({local, global}, 1)))));
  return local * attention.narrow(1, 0, 1) + global * attention.narrow(1, 1, 1);
}

DecoderImpl::DecoderImpl(std::array<int64_t, 3> in_channels, int64_t width, bool sync_batchnorm) {
  bot_conv = register_module("bot_conv", nn::Conv2d(nn::Conv2dOptions(in_channels[0], width, 1)));
  skip_conv1 =
      register_module("skip_conv1", nn::Conv2d(nn::Conv2dOptions(in_channels[1], width, 1)));
  skip_conv2 =
      register_module("skip_conv2", nn::Conv2d(nn::Conv2dOptions(in_channels[2], width, 1)));
  fusion1 = register_module("fusion1", SelectiveFeatureFusion(width, sync_batchnorm));
  fusion2 = register_module("fusion2", SelectiveFeatureFusion(width, sync_batchnorm));
  fusion3 = register_module("fusion3", SelectiveFeatureFusion(width, sync_batchnorm));
}

torch::Tensor DecoderImpl::forward(const std::vector<torch::Tensor>& features) {
  const auto &c1 = features[0], &c2 = features[1], &c3 = features[2], &c4 = features[3];
  auto global = upsample2x(bot_conv->forward(c4));
  global = upsample2x(fusion1->forward(skip_conv1->forward(c3), global));
  global = upsample2x(fusion2->forward(skip_conv2->forward(c2), global));
  global = fusion3->forward(c1, global);
  return upsample2x(upsample2x(global));
}

}  // namespace glpdepth
