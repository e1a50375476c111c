#include "glpdepth/model/mit.h"

#include <torch/torch.h>

#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

const std::vector<MitVariant>& mit_variants() {
  static const std::vector<MitVariant> variants = {
      {MitEncoder::kB0, "b0", {32, 64, 160, 256}, {2, 2, 2, 2}},
      {MitEncoder::kB1, "b1", {64, 128, 320, 512}, {2, 2, 2, 2}},
      {MitEncoder::kB2, "b2", {64, 128, 320, 512}, {3, 4, 6, 3}},
      {MitEncoder::kB3, "b3", {64, 128, 320, 512}, {3, 4, 18, 3}},
      {MitEncoder::kB4, "b4", {64, 128, 320, 512}, {3, 8, 27, 3}},
      {MitEncoder::kB5, "b5", {64, 128, 320, 512}, {3, 6, 40, 3}},
  };
  return variants;
}

const MitVariant& mit_variant(MitEncoder encoder) {
  for (const auto& variant : mit_variants())
    if (variant.encoder == encoder) return variant;
  throw Error("mit_variant: a MitEncoder without a row");
}

MitEncoder parse_encoder(const std::string& name) {
  std::string key = to_lower(name);
  if (key.rfind("mit_", 0) == 0) key = key.substr(4);
  for (const auto& variant : mit_variants())
    if (variant.name == key) return variant.encoder;
  throw UsageError(cat("unknown encoder '", name, "' (b0, b1, b2, b3, b4, b5)"));
}

std::string to_string(MitEncoder encoder) { return mit_variant(encoder).name; }

std::ostream& operator<<(std::ostream& out, MitEncoder encoder) { return out << to_string(encoder); }

namespace {
// Tokens [B, h*w, C] <-> image [B, C, h, w], row-major over (h, w) as the reference.
torch::Tensor tokens_to_image(const torch::Tensor& tokens, int64_t h, int64_t w) {
  return tokens.transpose(1, 2).reshape({tokens.size(0), tokens.size(2), h, w});
}
torch::Tensor image_to_tokens(const torch::Tensor& image) {
  return image.flatten(2).transpose(1, 2);
}

// Stochastic depth as timm 0.5.4: per-sample Bernoulli(keep) mask, scaled by 1/keep.
torch::Tensor drop_path(const torch::Tensor& x, double rate, bool training) {
  if (rate <= 0.0 || !training) return x;
  double keep = 1.0 - rate;
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  auto mask = torch::empty(shape, x.options()).bernoulli_(keep);
  return x * mask / keep;
}
}  // namespace

OverlapPatchEmbedImpl::OverlapPatchEmbedImpl(int64_t in_channels, int64_t embed_dim,
                                             int64_t kernel, int64_t stride) {
  proj = register_module("proj", nn::Conv2d(nn::Conv2dOptions(in_channels, embed_dim, kernel)
                                                .stride(stride)
                                                .padding(kernel / 2)));
  // The patch-embedding norm is a default nn.LayerNorm (eps 1e-5), unlike the blocks' 1e-6.
  norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({embed_dim}).eps(1e-5)));
}

torch::Tensor OverlapPatchEmbedImpl::forward(const torch::Tensor& x, int64_t& h, int64_t& w) {
  auto y = proj->forward(x);
  h = y.size(2);
  w = y.size(3);
  return norm->forward(image_to_tokens(y));
}

// Inference attention straight from the token layouts: for each image and head, 2-D matrix
// products on strided views of q [B,N,C] and kv [B,Nk,2C] (BLAS takes the row strides as leading
// dimensions), written into the head's columns of the output, so the head split and merge need
// no copies. The score matrix of the long stage-1/2 sequences is large (26752 x 418 floats =
// 45 MB at 352x1216): the softmax runs in place, and very large inputs go through in blocks of
// queries so that the matrix stays bounded. Each row's arithmetic is that of the plain formula.
torch::Tensor attention_inference(const torch::Tensor& scaled_query, const torch::Tensor& key_value,
                                  int64_t num_heads, int64_t block_floats) {
  // Default 16 MiB of scores: on 2 cores smaller blocks measured no faster (docs/PERFORMANCE.md),
  // so blocks only bound the memory of very large inputs. GLPDEPTH_ATTN_BLOCK (floats) overrides.
  static const int64_t default_block = [] {
    const char* env = std::getenv("GLPDEPTH_ATTN_BLOCK");
    const long long value = env ? std::atoll(env) : 0;
    return value > 0 ? static_cast<int64_t>(value) : (int64_t{1} << 22);
  }();
  if (block_floats <= 0) block_floats = default_block;
  const int64_t batch = scaled_query.size(0), tokens = scaled_query.size(1);
  const int64_t dim = scaled_query.size(2), keys = key_value.size(1);
  const int64_t head_dim = dim / num_heads;
  check(key_value.size(0) == batch && key_value.size(2) == 2 * dim && dim % num_heads == 0,
        "attention: query ", scaled_query.sizes(), " and key/value ", key_value.sizes(),
        " do not match ", num_heads, " heads");
  const int64_t rows_per_block = std::max<int64_t>(16, block_floats / std::max<int64_t>(1, keys));
  auto out = torch::empty({batch, tokens, dim}, scaled_query.options());
  for (int64_t b = 0; b < batch; ++b) {
    const auto q = scaled_query[b], kv = key_value[b], o = out[b];
    for (int64_t head = 0; head < num_heads; ++head) {
      const auto key_t = kv.narrow(1, head * head_dim, head_dim).t();          // [d, Nk]
      const auto value = kv.narrow(1, dim + head * head_dim, head_dim);         // [Nk, d]
      for (int64_t start = 0; start < tokens; start += rows_per_block) {
        const int64_t rows = std::min(rows_per_block, tokens - start);
        auto scores = at::mm(q.narrow(0, start, rows).narrow(1, head * head_dim, head_dim), key_t);
        at::_softmax_out(scores, scores, -1, false);
        auto target = o.narrow(0, start, rows).narrow(1, head * head_dim, head_dim);
        at::mm_out(target, scores, value);
      }
    }
  }
  return out;
}

namespace {
std::atomic<AttentionKernel> chosen_kernel{AttentionKernel::kAuto};

AttentionKernel resolved_kernel() {
  const AttentionKernel kernel = chosen_kernel.load();
  if (kernel != AttentionKernel::kAuto) return kernel;
  return sdpa_available() ? AttentionKernel::kSdpa : AttentionKernel::kFormula;
}

// softmax(q k^T) v for q already scaled: SDPA's own scale is 1 (an explicit scale argument
// exists since 2.1; 2.0 would apply 1/sqrt(d) a second time, so it is not used there).
torch::Tensor sdpa(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  return at::scaled_dot_product_attention(query, key, value, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                          /*is_causal=*/false, /*scale=*/1.0);
#else
  (void)query, (void)key, (void)value;
  throw Error("scaled_dot_product_attention needs LibTorch 2.1 or newer");
#endif
}
}  // namespace

bool sdpa_available() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  return true;
#else
  return false;
#endif
}

void set_attention_kernel(AttentionKernel kernel) {
  check(kernel != AttentionKernel::kSdpa || sdpa_available(),
        "attention: scaled_dot_product_attention needs LibTorch 2.1 or newer (this is ",
        TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR, ")");
  chosen_kernel.store(kernel);
}

AttentionKernel attention_kernel() { return resolved_kernel(); }

EfficientAttentionImpl::EfficientAttentionImpl(int64_t dim, int64_t num_heads, int64_t sr_ratio)
    : dim(dim), num_heads(num_heads), sr_ratio(sr_ratio) {
  check(dim % num_heads == 0, "attention: dim ", dim, " is not divisible by ", num_heads,
        " heads");
  scale = 1.0 / std::sqrt(static_cast<double>(dim / num_heads));
  q = register_module("q", nn::Linear(nn::LinearOptions(dim, dim).bias(true)));
  kv = register_module("kv", nn::Linear(nn::LinearOptions(dim, 2 * dim).bias(true)));
  proj = register_module("proj", nn::Linear(dim, dim));
  if (sr_ratio > 1) {
    sr = register_module("sr",
                         nn::Conv2d(nn::Conv2dOptions(dim, dim, sr_ratio).stride(sr_ratio)));
    norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-5)));
  }
}

torch::Tensor EfficientAttentionImpl::forward(const torch::Tensor& x, int64_t h, int64_t w) {
  const int64_t batch = x.size(0), tokens = x.size(1), head_dim = dim / num_heads;
  // The scale goes on q (N x C values) rather than on the N x Nk scores.
  auto scaled_query = q->forward(x) * scale;
  torch::Tensor reduced = x;
  if (sr_ratio > 1) {
    reduced = norm->forward(image_to_tokens(sr->forward(tokens_to_image(x, h, w))));
  }
  // kv columns [0, C) are keys, [C, 2C) values, each head-major.
  auto key_value = kv->forward(reduced);
  const AttentionKernel kernel = resolved_kernel();
  if (kernel == AttentionKernel::kFormula && !torch::GradMode::is_enabled())
    return proj->forward(attention_inference(scaled_query, key_value, num_heads));
  auto split = key_value.view({batch, reduced.size(1), 2, num_heads, head_dim}).permute({2, 0, 3, 1, 4});
  auto query = scaled_query.view({batch, tokens, num_heads, head_dim}).permute({0, 2, 1, 3});
  torch::Tensor out;
  if (kernel == AttentionKernel::kSdpa) {
    out = sdpa(query, split[0], split[1]);
  } else {
    auto attention = torch::softmax(torch::matmul(query, split[0].transpose(-2, -1)), -1);
    out = torch::matmul(attention, split[1]);
  }
  return proj->forward(out.transpose(1, 2).reshape({batch, tokens, dim}));
}

DepthwiseConvImpl::DepthwiseConvImpl(int64_t channels) {
  dwconv = register_module(
      "dwconv", nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1).groups(channels)));
}

torch::Tensor DepthwiseConvImpl::forward(const torch::Tensor& tokens, int64_t h, int64_t w) {
  return image_to_tokens(dwconv->forward(tokens_to_image(tokens, h, w)));
}

MixFFNImpl::MixFFNImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", nn::Linear(dim, hidden));
  dwconv = register_module("dwconv", DepthwiseConv(hidden));
  fc2 = register_module("fc2", nn::Linear(hidden, dim));
}

torch::Tensor MixFFNImpl::forward(const torch::Tensor& x, int64_t h, int64_t w) {
  // Exact (erf) GELU, nn.GELU's default; in place when nothing needs the input for a backward.
  auto hidden = dwconv->forward(fc1->forward(x), h, w);
  if (torch::GradMode::is_enabled()) return fc2->forward(torch::gelu(hidden));
  at::gelu_out(hidden, hidden);
  return fc2->forward(hidden);
}

MitBlockImpl::MitBlockImpl(int64_t dim, int64_t num_heads, int64_t mlp_ratio, int64_t sr_ratio,
                           double drop_path)
    : drop_path(drop_path) {
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
  attn = register_module("attn", EfficientAttention(dim, num_heads, sr_ratio));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
  mlp = register_module("mlp", MixFFN(dim, dim * mlp_ratio));
}

torch::Tensor MitBlockImpl::forward(const torch::Tensor& x, int64_t h, int64_t w) {
  auto y = x + ::glpdepth::drop_path(attn->forward(norm1->forward(x), h, w), drop_path, is_training());
  return y + ::glpdepth::drop_path(mlp->forward(norm2->forward(y), h, w), drop_path, is_training());
}

MixVisionTransformerImpl::MixVisionTransformerImpl(const MitVariant& variant,
                                                   double drop_path_rate)
    : variant(variant) {
  const auto& dims = variant.embed_dims;
  patch_embed[0] = register_module("patch_embed1", OverlapPatchEmbed(3, dims[0], 7, 4));
  for (int s = 1; s < 4; ++s)
    patch_embed[s] = register_module("patch_embed" + std::to_string(s + 1),
                                     OverlapPatchEmbed(dims[s - 1], dims[s], 3, 2));

  // Stochastic depth rates: linspace(0, rate, total blocks) over all blocks in order.
  int64_t total = 0;
  for (auto depth : variant.depths) total += depth;
  int64_t index = 0;
  for (int s = 0; s < 4; ++s) {
    nn::ModuleList blocks;
    for (int64_t i = 0; i < variant.depths[s]; ++i, ++index) {
      double rate = total > 1 ? drop_path_rate * static_cast<double>(index) / (total - 1) : 0.0;
      blocks->push_back(MitBlock(dims[s], variant.num_heads[s], variant.mlp_ratio,
                                 variant.sr_ratios[s], rate));
    }
    block[s] = register_module("block" + std::to_string(s + 1), blocks);
    norm[s] = register_module("norm" + std::to_string(s + 1),
                              nn::LayerNorm(nn::LayerNormOptions({dims[s]}).eps(1e-6)));
  }
  reset_parameters();
}

void MixVisionTransformerImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<nn::Linear>()) {
      // trunc_normal(std 0.02, bounds +-2): the bounds lie 100 std out, so a plain normal is the
      // same distribution.
      linear->weight.normal_(0.0, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* layer_norm = module->as<nn::LayerNorm>()) {
      layer_norm->weight.fill_(1.0);
      layer_norm->bias.zero_();
    } else if (auto* conv = module->as<nn::Conv2d>()) {
      const auto& options = conv->options;
      double fan_out = static_cast<double>((*options.kernel_size())[0] *
                                           (*options.kernel_size())[1] * options.out_channels()) /
                       options.groups();
      conv->weight.normal_(0.0, std::sqrt(2.0 / fan_out));
      if (conv->bias.defined()) conv->bias.zero_();
    }
  }
}

std::vector<torch::Tensor> MixVisionTransformerImpl::forward(const torch::Tensor& image) {
  std::vector<torch::Tensor> outputs;
  outputs.reserve(4);
  torch::Tensor x = image;
  for (int s = 0; s < 4; ++s) {
    int64_t h = 0, w = 0;
    auto tokens = patch_embed[s]->forward(x, h, w);
    for (auto& module : *block[s]) tokens = module->as<MitBlockImpl>()->forward(tokens, h, w);
    tokens = norm[s]->forward(tokens);
    x = tokens.reshape({tokens.size(0), h, w, tokens.size(2)}).permute({0, 3, 1, 2}).contiguous();
    outputs.push_back(x);
  }
  return outputs;
}

}  // namespace glpdepth
