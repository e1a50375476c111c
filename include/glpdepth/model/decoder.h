// GLPDepth decoder: 1x1 reductions, bilinear x2 upsampling, Selective Feature Fusion.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <vector>

namespace glpdepth {

// out = local * a0 + global * a1 with a = sigmoid(conv3(conv2(conv1([local, global])))).
struct SelectiveFeatureFusionImpl : torch::nn::Module {
  // sync_batchnorm: SyncBatchNorm2d (statistics over all ranks) instead of BatchNorm2d; the
  // parameter names are the same either way.
  explicit SelectiveFeatureFusionImpl(int64_t channels, bool sync_batchnorm = false);
  torch::Tensor forward(const torch::Tensor& local, const torch::Tensor& global);
  torch::nn::Sequential conv1{nullptr}, conv2{nullptr};
  torch::nn::Conv2d conv3{nullptr};
};
TORCH_MODULE(SelectiveFeatureFusion);

struct DecoderImpl : torch::nn::Module {
  // in_channels: stage widths of c4, c3, c2 (e.g. 512, 320, 128); width: decoder channels,
  // equal to the stage-1 width (64 for b1..b5, 32 for b0: see docs/MODEL.md).
  DecoderImpl(std::array<int64_t, 3> in_channels, int64_t width, bool sync_batchnorm = false);
  // features: c1..c4 from the encoder. Returns [B,width,4*h1,4*w1].
  torch::Tensor forward(const std::vector<torch::Tensor>& features);
  torch::nn::Conv2d bot_conv{nullptr}, skip_conv1{nullptr}, skip_conv2{nullptr};
  SelectiveFeatureFusion fusion1{nullptr}, fusion2{nullptr}, fusion3{nullptr};
};
TORCH_MODULE(Decoder);

// Bilinear x2, align_corners=false (the reference `up`).
torch::Tensor upsample2x(const torch::Tensor& x);

}  // namespace glpdepth
