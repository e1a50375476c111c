// Mix Vision Transformer (SegFormer's MiT-b0..b5), the GLPDepth encoder.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <ostream>
#include <string>
#include <vector>

namespace glpdepth {

// SegFormer's MiT variants.
enum class MitEncoder { kB0, kB1, kB2, kB3, kB4, kB5 };

// One row of the MiT variant table (spec §1.2).
struct MitVariant {
  MitEncoder encoder;
  std::string name;  // b0..b5
  std::array<int64_t, 4> embed_dims;
  std::array<int64_t, 4> depths;
  std::array<int64_t, 4> num_heads{1, 2, 5, 8};
  std::array<int64_t, 4> sr_ratios{8, 4, 2, 1};
  int64_t mlp_ratio = 4;
};

const MitVariant& mit_variant(MitEncoder encoder);
const std::vector<MitVariant>& mit_variants();
// "b0".."b5" or "mit_b0".."mit_b5", any case; UsageError listing the names otherwise.
MitEncoder parse_encoder(const std::string& name);
std::string to_string(MitEncoder encoder);  // "b4"
std::ostream& operator<<(std::ostream& out, MitEncoder encoder);

struct OverlapPatchEmbedImpl : torch::nn::Module {
  OverlapPatchEmbedImpl(int64_t in_channels, int64_t embed_dim, int64_t kernel, int64_t stride);
  // Returns tokens [B, h*w, C] and sets h, w.
  torch::Tensor forward(const torch::Tensor& x, int64_t& h, int64_t& w);
  torch::nn::Conv2d proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};  // eps 1e-5
};
TORCH_MODULE(OverlapPatchEmbed);

// Efficient self-attention with spatial reduction.
// Multi-head softmax(q k^T) v for inference (no autograd) from the token layouts: scaled_query
// [B, N, C] (already multiplied by head_dim^-0.5), key_value [B, Nk, 2C] (keys in columns
// [0, C), values in [C, 2C), head-major). Returns [B, N, C], heads side by side. The queries go
// through in blocks of about `block_floats` scores, softmax in place (see mit.cpp); 0 = the
// default block (16 MiB of scores). Used by EfficientAttention when grad mode is off and the
// kernel is kFormula (see AttentionKernel below).
torch::Tensor attention_inference(const torch::Tensor& scaled_query, const torch::Tensor& key_value,
                                  int64_t num_heads, int64_t block_floats = 0);

// How the attention blocks compute softmax(q k^T) v. kAuto: PyTorch's fused
// scaled_dot_product_attention where LibTorch has it (2.1+; flash / memory-efficient kernels on
// CUDA, a blocked kernel on CPU), otherwise the plain formula (attention_inference without grad).
// kFormula: always the plain formula (the reference arithmetic). kSdpa: always SDPA.
enum class AttentionKernel { kAuto, kFormula, kSdpa };
// Whether this LibTorch offers scaled_dot_product_attention with an explicit scale (2.1+).
bool sdpa_available();
// Process-wide choice (e.g. for tests and benchmarks); throws Error for kSdpa without SDPA.
void set_attention_kernel(AttentionKernel kernel);
// The kernel in use (kAuto resolved).
AttentionKernel attention_kernel();

struct EfficientAttentionImpl : torch::nn::Module {
  EfficientAttentionImpl(int64_t dim, int64_t num_heads, int64_t sr_ratio);
  torch::Tensor forward(const torch::Tensor& x, int64_t h, int64_t w);
  int64_t dim, num_heads, sr_ratio;
  double scale;
  torch::nn::Linear q{nullptr}, kv{nullptr}, proj{nullptr};
  torch::nn::Conv2d sr{nullptr};       // only when sr_ratio > 1
  torch::nn::LayerNorm norm{nullptr};  // only when sr_ratio > 1, eps 1e-5
};
TORCH_MODULE(EfficientAttention);

struct DepthwiseConvImpl : torch::nn::Module {
  explicit DepthwiseConvImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& tokens, int64_t h, int64_t w);
  torch::nn::Conv2d dwconv{nullptr};
};
TORCH_MODULE(DepthwiseConv);

// Mix-FFN: fc1 -> depthwise 3x3 conv -> exact GELU -> fc2.
struct MixFFNImpl : torch::nn::Module {
  MixFFNImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x, int64_t h, int64_t w);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  DepthwiseConv dwconv{nullptr};
};
TORCH_MODULE(MixFFN);

struct MitBlockImpl : torch::nn::Module {
  MitBlockImpl(int64_t dim, int64_t num_heads, int64_t mlp_ratio, int64_t sr_ratio,
               double drop_path);
  torch::Tensor forward(const torch::Tensor& x, int64_t h, int64_t w);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};  // eps 1e-6
  EfficientAttention attn{nullptr};
  MixFFN mlp{nullptr};
  double drop_path;
};
TORCH_MODULE(MitBlock);

struct MixVisionTransformerImpl : torch::nn::Module {
  explicit MixVisionTransformerImpl(const MitVariant& variant, double drop_path_rate = 0.1);
  // image [B,3,H,W] -> the four stage outputs [B,E_s,H/2^(s+1),W/2^(s+1)] (NCHW).
  std::vector<torch::Tensor> forward(const torch::Tensor& image);
  // The reference _init_weights: trunc_normal(0.02) Linear, unit LayerNorm, He-normal conv.
  void reset_parameters();
  MitVariant variant;
  std::array<OverlapPatchEmbed, 4> patch_embed{nullptr, nullptr, nullptr, nullptr};
  std::array<torch::nn::ModuleList, 4> block{nullptr, nullptr, nullptr, nullptr};
  std::array<torch::nn::LayerNorm, 4> norm{nullptr, nullptr, nullptr, nullptr};  // eps 1e-6
};
TORCH_MODULE(MixVisionTransformer);

}  // namespace glpdepth
