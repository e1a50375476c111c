// GLPDepth structure and numerics, checked against the reference key list and against
// computations written here with plain tensor ops.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <array>
#include <fstream>
#include <sstream>

#include "glpdepth/model/glpdepth.h"
#include "glpdepth/model/mit.h"
#include "glpdepth/util/error.h"

using namespace glpdepth;

namespace {

struct KeyShape {
  std::string key;
  std::vector<int64_t> shape;
};

std::vector<KeyShape> read_reference_keys() {
  std::ifstream in(std::string(GLPDEPTH_TEST_DATA_DIR) + "/glpdepth_b4_state_dict_keys.txt");
  EXPECT_TRUE(in.good());
  std::vector<KeyShape> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto tab = line.find('\t');
    KeyShape entry{line.substr(0, tab), {}};
    std::string dims = line.substr(tab + 1);
    for (char& c : dims)
      if (c == '[' || c == ']' || c == ',') c = ' ';
    std::istringstream stream(dims);
    int64_t d;
    while (stream >> d) entry.shape.push_back(d);
    out.push_back(entry);
  }
  return out;
}

// state_dict order as PyTorch produces it: per module (pre-order), own parameters then buffers.
std::vector<std::pair<std::string, torch::Tensor>> ordered_state(const torch::nn::Module& root) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : root.named_modules("", /*include_self=*/true)) {
    std::string prefix = item.key().empty() ? "" : item.key() + ".";
    for (const auto& p : item.value()->named_parameters(false)) out.emplace_back(prefix + p.key(), p.value());
    for (const auto& b : item.value()->named_buffers(false)) out.emplace_back(prefix + b.key(), b.value());
  }
  return out;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace

TEST(ModelStructure, B4KeysAndShapesEqualReferenceInOrder) {
  auto reference = read_reference_keys();
  ASSERT_EQ(reference.size(), 890u);
  GLPDepth model(GLPDepthOptions{glpdepth::MitEncoder::kB4, 80.0});
  auto state = ordered_state(*model);
  ASSERT_EQ(state.size(), reference.size());
  for (size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(state[i].first, reference[i].key) << "entry " << i;
    EXPECT_EQ(state[i].second.sizes().vec(), reference[i].shape) << reference[i].key;
  }
  EXPECT_EQ(count_parameters(*model), 61220903);
  EXPECT_EQ(count_parameters(*model->encoder), 60842688);
}

TEST(ModelStructure, EncoderParameterCountsMatchVariantTable) {
  const std::map<std::string, int64_t> expected = {{"b0", 3319392},  {"b1", 13151424},
                                                   {"b2", 24196288}, {"b3", 44072128},
                                                   {"b4", 60842688}, {"b5", 81443008}};
  for (const auto& [name, count] : expected) {
    MixVisionTransformer encoder(mit_variant(parse_encoder(name)));
    EXPECT_EQ(count_parameters(*encoder), count) << name;
    // 20 keys per block with spatial reduction (stages 1-3), 16 in stage 4, 24 more.
    const auto& depths = encoder->variant.depths;
    size_t keys = 20 * (depths[0] + depths[1] + depths[2]) + 16 * depths[3] + 16 + 8;
    EXPECT_EQ(encoder->named_parameters().size(), keys) << name;
  }
}

TEST(ModelStructure, B0DecoderIsStage1Wide) {
  GLPDepth model(GLPDepthOptions{glpdepth::MitEncoder::kB0, 80.0});
  auto params = model->named_parameters();
  EXPECT_EQ(params["decoder.bot_conv.weight"].sizes().vec(), (std::vector<int64_t>{32, 256, 1, 1}));
  EXPECT_EQ(params["decoder.fusion3.conv1.0.weight"].sizes().vec(),
            (std::vector<int64_t>{32, 64, 3, 3}));
  EXPECT_EQ(params["last_layer_depth.2.weight"].sizes().vec(), (std::vector<int64_t>{1, 32, 3, 3}));
}

TEST(ModelStructure, InfersVariantFromKeys) {
  for (const auto& variant : mit_variants()) {
    GLPDepth model(GLPDepthOptions{variant.encoder, 80.0});
    std::vector<std::string> keys;
    for (const auto& p : model->named_parameters()) keys.push_back(p.key());
    EXPECT_EQ(infer_encoder_variant(keys, variant.embed_dims[0]), variant.encoder);
  }
  EXPECT_THROW(infer_encoder_variant({"encoder.block1.0.x", "encoder.block2.0.x"}, 64), Error);
  EXPECT_THROW(parse_encoder("b9"), UsageError);
}

TEST(ModelStructure, InitialisationFollowsReference) {
  torch::manual_seed(0);
  MixVisionTransformer encoder(mit_variant(MitEncoder::kB1));
  auto params = encoder->named_parameters();
  auto fc1 = params["block2.0.mlp.fc1.weight"];  // [512, 128]
  EXPECT_NEAR(fc1.std().item<double>(), 0.02, 0.001);
  EXPECT_EQ(params["block2.0.mlp.fc1.bias"].abs().max().item<float>(), 0.0f);
  auto sr = params["block1.0.attn.sr.weight"];  // fan_out = 8*8*64
  EXPECT_NEAR(sr.std().item<double>(), std::sqrt(2.0 / (8 * 8 * 64)), 0.001);
  auto dw = params["block1.0.mlp.dwconv.dwconv.weight"];  // groups = 256: fan_out = 9
  EXPECT_NEAR(dw.std().item<double>(), std::sqrt(2.0 / 9.0), 0.03);
  EXPECT_EQ(params["norm1.weight"].min().item<float>(), 1.0f);
}

TEST(ModelForward, OddSizesComeBackAtInputSizeInRange) {
  torch::manual_seed(1);
  GLPDepth model(GLPDepthOptions{glpdepth::MitEncoder::kB0, 80.0});
  model->eval();
  torch::NoGradGuard no_grad;
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{375, 1242}, {33, 65}, {64, 96}}) {
    auto out = model->forward(torch::rand({2, 3, h, w}));
    EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{2, 1, h, w}));
    EXPECT_GT(out.min().item<float>(), 0.0f);
    EXPECT_LT(out.max().item<float>(), 80.0f);
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
}

TEST(ModelForward, MultipleOf32TakesTheUnpaddedPathAndPaddingReplicates) {
  torch::manual_seed(2);
  GLPDepth model(GLPDepthOptions{glpdepth::MitEncoder::kB0, 10.0});
  model->eval();
  torch::NoGradGuard no_grad;
  auto image = torch::rand({1, 3, 64, 96});
  auto expected =
      torch::sigmoid(model->last_layer_depth->forward(
          model->decoder->forward(model->encoder->forward(image)))) * 10.0;
  EXPECT_TRUE(torch::equal(model->forward(image), expected));

  // An odd-sized image is processed as its replicate-padded version, then cropped.
  auto odd = torch::rand({1, 3, 50, 70});
  auto padded = torch::cat({odd, odd.narrow(3, 69, 1).expand({1, 3, 50, 26})}, 3);
  padded = torch::cat({padded, padded.narrow(2, 49, 1).expand({1, 3, 14, 96})}, 2);
  auto via_padded = model->forward(padded).narrow(2, 0, 50).narrow(3, 0, 70);
  EXPECT_TRUE(torch::allclose(model->forward(odd), via_padded, 1e-5, 1e-6));
}

TEST(ModelForward, TrainModeGivesGradientsAndDropPathIsStochastic) {
  torch::manual_seed(3);
  GLPDepth model(GLPDepthOptions{glpdepth::MitEncoder::kB0, 80.0, /*drop_path_rate=*/0.5});
  model->train();
  auto image = torch::rand({2, 3, 64, 64});
  auto a = model->forward(image);
  auto b = model->forward(image);
  EXPECT_FALSE(torch::allclose(a, b));  // stochastic depth differs between passes
  a.mean().backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(model->forward(image), model->forward(image)));
}

// ---- Independent computations -------------------------------------------------------------

namespace {

// 2-D convolution written as a sum over kernel offsets of shifted slices (zero padding).
torch::Tensor conv2d_by_shifts(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t padding) {
  const int64_t kh = weight.size(2), kw = weight.size(3);
  auto padded = torch::zeros({x.size(0), x.size(1), x.size(2) + 2 * padding, x.size(3) + 2 * padding},
                             x.options().dtype(torch::kFloat64));
  padded.narrow(2, padding, x.size(2)).narrow(3, padding, x.size(3)).copy_(x);
  const int64_t oh = x.size(2) + 2 * padding - kh + 1, ow = x.size(3) + 2 * padding - kw + 1;
  auto out = torch::zeros({x.size(0), weight.size(0), oh, ow}, padded.options());
  auto w64 = weight.to(torch::kFloat64);
  for (int64_t dy = 0; dy < kh; ++dy) {
    for (int64_t dx = 0; dx < kw; ++dx) {
      auto patch = padded.narrow(2, dy, oh).narrow(3, dx, ow);  // [B, Cin, oh, ow]
      auto tap = w64.select(3, dx).select(2, dy);                // [Cout, Cin]
      out += torch::einsum("bihw,oi->bohw", {patch, tap});
    }
  }
  return out + bias.to(torch::kFloat64).view({1, -1, 1, 1});
}

torch::Tensor layer_norm_by_hand(const torch::Tensor& x, const torch::Tensor& weight,
                                 const torch::Tensor& bias, double eps) {
  auto mean = x.mean(-1, true);
  auto var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / torch::sqrt(var + eps) * weight.to(torch::kFloat64) + bias.to(torch::kFloat64);
}

void randomise(torch::nn::Module& module, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) p.uniform_(-0.5, 0.5);
  for (auto& b : module.named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    else if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.2, 0.2);
  }
}

}  // namespace

TEST(ModelNumerics, AttentionWithSpatialReductionMatchesHandComputation) {
  const int64_t dim = 12, heads = 3, sr = 2, h = 6, w = 4, batch = 2, d = dim / heads;
  EfficientAttention attention(dim, heads, sr);
  randomise(*attention, 10);
  auto x = torch::randn({batch, h * w, dim});
  auto got = attention->forward(x, h, w).to(torch::kFloat64);

  auto x64 = x.to(torch::kFloat64);
  auto P = [&](const char* name) { return attention->named_parameters()[name].to(torch::kFloat64); };
  auto q = torch::matmul(x64, P("q.weight").t()) + P("q.bias");
  // Spatial reduction: non-overlapping sr x sr patches, each a dot product with the kernel.
  const int64_t rh = h / sr, rw = w / sr;
  auto reduced = torch::zeros({batch, rh * rw, dim}, torch::kFloat64);
  auto sr_weight = P("sr.weight");  // [dim, dim, sr, sr]
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < rh; ++i)
      for (int64_t j = 0; j < rw; ++j) {
        auto acc = P("sr.bias").clone();
        for (int64_t u = 0; u < sr; ++u)
          for (int64_t v = 0; v < sr; ++v) {
            auto token = x64[b][(i * sr + u) * w + (j * sr + v)];  // [dim]
            acc += torch::matmul(sr_weight.select(3, v).select(2, u), token);
          }
        reduced[b][i * rw + j] = acc;
      }
  reduced = layer_norm_by_hand(reduced, P("norm.weight"), P("norm.bias"), 1e-5);
  auto kv = torch::matmul(reduced, P("kv.weight").t()) + P("kv.bias");
  auto keys = kv.narrow(2, 0, dim), values = kv.narrow(2, dim, dim);
  auto out = torch::zeros({batch, h * w, dim}, torch::kFloat64);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t head = 0; head < heads; ++head) {
      auto qh = q[b].narrow(1, head * d, d), kh = keys[b].narrow(1, head * d, d),
           vh = values[b].narrow(1, head * d, d);
      auto logits = torch::matmul(qh, kh.t()) / std::sqrt(static_cast<double>(d));
      auto e = torch::exp(logits - std::get<0>(logits.max(1, true)));
      auto attn = e / e.sum(1, true);
      out[b].narrow(1, head * d, d).copy_(torch::matmul(attn, vh));
    }
  auto expected = torch::matmul(out, P("proj.weight").t()) + P("proj.bias");
  EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5))
      << (got - expected).abs().max().item<double>();
}

TEST(ModelNumerics, MixFFNMatchesHandComputation) {
  const int64_t dim = 4, hidden = 8, h = 3, w = 5;
  MixFFN ffn(dim, hidden);
  randomise(*ffn, 11);
  auto x = torch::randn({1, h * w, dim});
  auto got = ffn->forward(x, h, w).to(torch::kFloat64);
  auto P = [&](const char* name) { return ffn->named_parameters()[name].to(torch::kFloat64); };
  auto hid = torch::matmul(x.to(torch::kFloat64), P("fc1.weight").t()) + P("fc1.bias");  // [1,N,8]
  auto image = hid[0].t().reshape({hidden, h, w});
  auto dw = torch::zeros_like(image);
  auto kernel = P("dwconv.dwconv.weight");  // [8,1,3,3]
  for (int64_t c = 0; c < hidden; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t xx = 0; xx < w; ++xx) {
        double acc = P("dwconv.dwconv.bias")[c].item<double>();
        for (int64_t u = -1; u <= 1; ++u)
          for (int64_t v = -1; v <= 1; ++v)
            if (y + u >= 0 && y + u < h && xx + v >= 0 && xx + v < w)
              acc += kernel[c][0][u + 1][v + 1].item<double>() * image[c][y + u][xx + v].item<double>();
        dw[c][y][xx] = acc;
      }
  auto tokens = dw.reshape({hidden, h * w}).t();
  auto gelu = tokens * 0.5 * (1.0 + torch::erf(tokens / std::sqrt(2.0)));  // exact GELU
  auto expected = (torch::matmul(gelu, P("fc2.weight").t()) + P("fc2.bias")).unsqueeze(0);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5));
}

TEST(ModelNumerics, SelectiveFeatureFusionMatchesHandComputation) {
  const int64_t c = 8;
  SelectiveFeatureFusion sff(c);
  randomise(*sff, 12);
  sff->eval();  // BatchNorm uses running statistics
  auto local = torch::randn({2, c, 5, 6}), global = torch::randn({2, c, 5, 6});
  torch::NoGradGuard no_grad;
  auto got = sff->forward(local, global).to(torch::kFloat64);

  auto P = [&](const std::string& name) {
    auto all = sff->named_parameters();
    if (all.contains(name)) return all[name].to(torch::kFloat64);
    return sff->named_buffers()[name].to(torch::kFloat64);
  };
  auto bn_relu = [&](torch::Tensor x, const std::string& prefix) {
    auto y = (x - P(prefix + ".running_mean").view({1, -1, 1, 1})) /
                 torch::sqrt(P(prefix + ".running_var").view({1, -1, 1, 1}) + 1e-5) *
                 P(prefix + ".weight").view({1, -1, 1, 1}) +
             P(prefix + ".bias").view({1, -1, 1, 1});
    return torch::clamp_min(y, 0.0);
  };
  auto x = torch::cat({local, global}, 1).to(torch::kFloat64);
  auto y = bn_relu(conv2d_by_shifts(x, P("conv1.0.weight"), P("conv1.0.bias"), 1), "conv1.1");
  y = bn_relu(conv2d_by_shifts(y, P("conv2.0.weight"), P("conv2.0.bias"), 1), "conv2.1");
  auto a = conv2d_by_shifts(y, P("conv3.weight"), P("conv3.bias"), 1);
  a = 1.0 / (1.0 + torch::exp(-a));
  auto expected = local.to(torch::kFloat64) * a.narrow(1, 0, 1) +
                  global.to(torch::kFloat64) * a.narrow(1, 1, 1);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5))
      << (got - expected).abs().max().item<double>();
}

TEST(ModelNumerics, UpsampleIsHalfPixelBilinear) {
  auto x = torch::arange(12, torch::kFloat32).reshape({1, 1, 3, 4}) * 1.5;
  auto got = upsample2x(x).to(torch::kFloat64);
  ASSERT_EQ(got.sizes().vec(), (std::vector<int64_t>{1, 1, 6, 8}));
  auto src = x.to(torch::kFloat64)[0][0];
  for (int64_t Y = 0; Y < 6; ++Y)
    for (int64_t X = 0; X < 8; ++X) {
      double sy = std::max(0.0, (Y + 0.5) / 2 - 0.5), sx = std::max(0.0, (X + 0.5) / 2 - 0.5);
      int64_t y0 = static_cast<int64_t>(sy), x0 = static_cast<int64_t>(sx);
      int64_t y1 = std::min<int64_t>(y0 + 1, 2), x1 = std::min<int64_t>(x0 + 1, 3);
      double fy = sy - y0, fx = sx - x0;
      double v = (1 - fy) * ((1 - fx) * src[y0][x0].item<double>() + fx * src[y0][x1].item<double>()) +
                 fy * ((1 - fx) * src[y1][x0].item<double>() + fx * src[y1][x1].item<double>());
      EXPECT_NEAR(got[0][0][Y][X].item<double>(), v, 1e-5) << Y << "," << X;
    }
}

TEST(ModelNumerics, DecoderWiringMatchesSpec) {
  Decoder decoder(std::array<int64_t, 3>{40, 20, 12}, 8);
  randomise(*decoder, 13);
  decoder->eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> f = {torch::randn({1, 8, 16, 8}), torch::randn({1, 12, 8, 4}),
                                  torch::randn({1, 20, 4, 2}), torch::randn({1, 40, 2, 1})};
  auto g = upsample2x(decoder->bot_conv->forward(f[3]));
  g = upsample2x(decoder->fusion1->forward(decoder->skip_conv1->forward(f[2]), g));
  g = upsample2x(decoder->fusion2->forward(decoder->skip_conv2->forward(f[1]), g));
  g = upsample2x(upsample2x(decoder->fusion3->forward(f[0], g)));
  auto got = decoder->forward(f);
  EXPECT_EQ(got.sizes().vec(), (std::vector<int64_t>{1, 8, 64, 32}));
  EXPECT_TRUE(torch::equal(got, g));
}

// The inference path (no grad): per-head products on strided views, blocked queries, softmax
// and GELU in place. It must equal the plain formula (heads split by view/permute as the
// reference does) for any block size, heads, batch and ragged last block.
TEST(ModelNumerics, InferenceAttentionEqualsThePlainFormula) {
  torch::manual_seed(3);
  for (auto [batch, heads, tokens, keys, block] :
       std::vector<std::array<int64_t, 5>>{{1, 1, 1000, 37, 37 * 64}, {2, 5, 333, 20, 2000},
                                           {1, 2, 50, 50, 1 << 20}, {2, 8, 40, 40, 0}}) {
    const int64_t d = 16, c = heads * d;
    auto q = torch::randn({batch, tokens, c});
    auto kv = torch::randn({batch, keys, 2 * c});
    auto qh = q.view({batch, tokens, heads, d}).permute({0, 2, 1, 3});
    auto split = kv.view({batch, keys, 2, heads, d}).permute({2, 0, 3, 1, 4});
    auto expected = torch::matmul(torch::softmax(torch::matmul(qh, split[0].transpose(-2, -1)), -1), split[1])
                        .transpose(1, 2)
                        .reshape({batch, tokens, c});
    torch::NoGradGuard no_grad;
    auto got = attention_inference(q, kv, heads, block);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6)) << tokens << " tokens, block " << block;
  }
}

TEST(ModelNumerics, InferencePathEqualsTheTrainingPath) {
  torch::manual_seed(4);
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  GLPDepth model(options);
  model->eval();
  auto image = torch::rand({1, 3, 96, 160});
  auto with_grad = model->forward(image);
  torch::Tensor without_grad;
  {
    torch::InferenceMode inference;
    without_grad = model->forward(image);
  }
  EXPECT_TRUE(torch::allclose(with_grad, without_grad, 1e-5, 1e-5))
      << (with_grad - without_grad).abs().max().item<float>();
}

namespace {
// Restores the process-wide attention kernel when a test ends.
struct KernelChoice {
  explicit KernelChoice(AttentionKernel kernel) { set_attention_kernel(kernel); }
  ~KernelChoice() { set_attention_kernel(AttentionKernel::kAuto); }
};

struct ForwardAndGrad {
  torch::Tensor depth, inference_depth, grad;
};

ForwardAndGrad run_b0(GLPDepth& model, const torch::Tensor& image, AttentionKernel kernel) {
  KernelChoice choice(kernel);
  model->zero_grad();
  ForwardAndGrad out;
  out.depth = model->forward(image);
  out.depth.log().mean().backward();
  out.grad = model->encoder->block[0]->ptr(0)->as<MitBlockImpl>()->attn->q->weight.grad().clone();
  torch::InferenceMode inference;
  out.inference_depth = model->forward(image);
  return out;
}
}  // namespace

TEST(ModelNumerics, SdpaEqualsTheFormulaOnTheSameWeights) {
  if (!sdpa_available())
    GTEST_SKIP() << "LibTorch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR
                 << " has no scaled_dot_product_attention with a scale argument (2.1+)";
  EXPECT_EQ(attention_kernel(), AttentionKernel::kSdpa);  // the default where it exists
  torch::manual_seed(5);
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  options.drop_path_rate = 0.0;
  GLPDepth model(options);
  model->eval();  // BatchNorm statistics fixed: both passes see the same function
  auto image = torch::rand({2, 3, 64, 96});
  ForwardAndGrad formula = run_b0(model, image, AttentionKernel::kFormula);
  ForwardAndGrad fused = run_b0(model, image, AttentionKernel::kSdpa);
  EXPECT_TRUE(torch::allclose(fused.depth, formula.depth, 1e-5, 1e-5))
      << (fused.depth - formula.depth).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(fused.inference_depth, formula.inference_depth, 1e-5, 1e-5))
      << (fused.inference_depth - formula.inference_depth).abs().max().item<float>();
  const double scale = formula.grad.abs().max().item<double>();
  EXPECT_LT((fused.grad - formula.grad).abs().max().item<double>(), 1e-4 * scale);
}

TEST(ModelNumerics, SdpaIsRefusedWhereLibTorchLacksIt) {
  if (sdpa_available()) {
    EXPECT_NO_THROW(set_attention_kernel(AttentionKernel::kSdpa));
    set_attention_kernel(AttentionKernel::kAuto);
  } else {
    EXPECT_THROW(set_attention_kernel(AttentionKernel::kSdpa), Error);
    EXPECT_EQ(attention_kernel(), AttentionKernel::kFormula);
  }
}
