#include "glpdepth/model/glpdepth.h"

#include <torch/torch.h>

#include <regex>
#include <set>

#include "glpdepth/util/error.h"

namespace glpdepth {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

GLPDepthImpl::GLPDepthImpl(GLPDepthOptions options) : options_(std::move(options)) {
  check(options_.max_depth > 0, "max_depth must be positive, got ", options_.max_depth);
  const MitVariant& variant = mit_variant(options_.encoder);
  // fusion3 consumes c1 directly, so the decoder width is the stage-1 width (64; 32 for b0).
  const int64_t width = variant.embed_dims[0];
  encoder = register_module("encoder", MixVisionTransformer(variant, options_.drop_path_rate));
  decoder = register_module(
      "decoder",
      Decoder(std::array<int64_t, 3>{variant.embed_dims[3], variant.embed_dims[2], variant.embed_dims[1]}, width,
              options_.sync_batchnorm));
  last_layer_depth = register_module(
      "last_layer_depth",
      nn::Sequential(nn::Conv2d(nn::Conv2dOptions(width, width, 3).padding(1)), nn::ReLU(),
                     nn::Conv2d(nn::Conv2dOptions(width, 1, 3).padding(1))));
}

torch::Tensor run_on_any_size(const torch::Tensor& images,
                              const std::function<torch::Tensor(const torch::Tensor&)>& network) {
  const int64_t height = images.size(2), width = images.size(3);
  const int64_t pad_bottom = (32 - height % 32) % 32, pad_right = (32 - width % 32) % 32;
  if (!pad_bottom && !pad_right) return network(images);
  torch::Tensor input =
      F::pad(images, F::PadFuncOptions({0, pad_right, 0, pad_bottom}).mode(torch::kReplicate));
  return network(input).narrow(2, 0, height).narrow(3, 0, width);
}

torch::Tensor GLPDepthImpl::forward(const torch::Tensor& image) {
  check(image.dim() == 4 && image.size(1) == 3, "GLPDepth expects [B,3,H,W] images, got ",
        image.sizes());
  return run_on_any_size(image, [this](const torch::Tensor& input) {
    auto features = decoder->forward(encoder->forward(input));
    return torch::sigmoid(last_layer_depth->forward(features)) * options_.max_depth;
  });
}

MitEncoder infer_encoder_variant(const std::vector<std::string>& keys,
                                  int64_t patch_embed1_out_channels) {
  static const std::regex block_key(R"((?:^|\.)block([1-4])\.(\d+)\.)");
  std::array<int64_t, 4> depths{0, 0, 0, 0};
  for (const auto& key : keys) {
    std::smatch match;
    if (std::regex_search(key, match, block_key)) {
      int stage = std::stoi(match[1]) - 1;
      depths[stage] = std::max<int64_t>(depths[stage], std::stoll(match[2]) + 1);
    }
  }
  for (const auto& variant : mit_variants()) {
    if (variant.depths == depths && variant.embed_dims[0] == patch_embed1_out_channels)
      return variant.encoder;
  }
  throw Error(cat("weights match no MiT variant: blocks per stage ", depths[0], ",", depths[1], ",",
                  depths[2], ",", depths[3], ", stage-1 width ", patch_embed1_out_channels));
}

}  // namespace glpdepth
