#include "glpdepth/io/weights.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "common/errors.h"
#include "common/temp_dir.h"
#include "glpdepth/util/error.h"
#include "io/python_util.h"

namespace glpdepth {
namespace {

using testing::run_python;
using testing::TempDir;

// A miniature of the GLPDepth tree: encoder.{patch_embed1, block1.0.attn, norm1}, decoder with a
// BatchNorm (int64 num_batches_tracked buffer), last_layer_depth.
struct AttnImpl : torch::nn::Module {
  AttnImpl() {
    q = register_module("q", torch::nn::Linear(4, 4));
    kv = register_module("kv", torch::nn::Linear(4, 8));
  }
  torch::nn::Linear q{nullptr}, kv{nullptr};
};
TORCH_MODULE(Attn);

struct EncoderImpl : torch::nn::Module {
  EncoderImpl() {
    patch_embed1 = register_module("patch_embed1", torch::nn::Conv2d(3, 4, 3));
    block1 = register_module("block1", torch::nn::ModuleList());
    block1->push_back(Attn());
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
  }
  torch::nn::Conv2d patch_embed1{nullptr};
  torch::nn::ModuleList block1{nullptr};
  torch::nn::LayerNorm norm1{nullptr};
};
TORCH_MODULE(Encoder);

struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    encoder = register_module("encoder", Encoder());
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
    head = register_module("head", torch::nn::Linear(4, 1));
  }
  Encoder encoder{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Tiny);

const std::vector<std::string> kTinyKeys = {
    "encoder.patch_embed1.weight", "encoder.patch_embed1.bias", "encoder.block1.0.q.weight",
    "encoder.block1.0.q.bias",     "encoder.block1.0.kv.weight", "encoder.block1.0.kv.bias",
    "encoder.norm1.weight",        "encoder.norm1.bias",         "bn.weight",
    "bn.bias",                     "bn.running_mean",            "bn.running_var",
    "bn.num_batches_tracked",      "head.weight",                "head.bias"};

// A state_dict for Tiny whose every value is distinct and known.
StateDict numbered_state(const Tiny& model, const std::string& prefix = "") {
  StateDict state;
  double start = 1;
  for (const auto& [name, tensor] : module_state_dict(*model)) {
    torch::Tensor value;
    if (tensor.scalar_type() == torch::kInt64) {
      value = torch::tensor(int64_t(start));
    } else {
      value = torch::arange(start, start + tensor.numel()).reshape(tensor.sizes()).to(torch::kFloat);
    }
    start += tensor.numel() + 1;
    state.emplace_back(prefix + name, value);
  }
  return state;
}

using testing::error_of;

TEST(Weights, ModuleStateDictFollowsPyTorchOrder) {
  Tiny model;
  std::vector<std::string> keys;
  for (const auto& entry : module_state_dict(*model)) keys.push_back(entry.first);
  EXPECT_EQ(keys, kTinyKeys);
}

TEST(Weights, StrictLoadCopiesEverythingAndStripsModulePrefix) {
  Tiny model;
  StateDict state = numbered_state(model, "module.");
  LoadReport report = load_weights(*model, state, LoadMode::kStrict);
  EXPECT_EQ(report.loaded.size(), kTinyKeys.size());
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  StateDict loaded = module_state_dict(*model);
  for (size_t k = 0; k < state.size(); ++k) {
    EXPECT_TRUE(torch::equal(loaded[k].second, state[k].second)) << loaded[k].first;
  }
  EXPECT_EQ(model->bn->num_batches_tracked.item<int64_t>(),
            find_tensor(state, "module.bn.num_batches_tracked").item<int64_t>());
}

TEST(Weights, StrictLoadListsMissingUnexpectedAndMismatched) {
  Tiny model;
  StateDict state = numbered_state(model);
  StateDict missing(state.begin() + 1, state.end());
  missing.emplace_back("decoder.extra", torch::zeros({1}));
  std::string message = error_of([&] { load_weights(*model, missing, LoadMode::kStrict, "x.ckpt"); });
  EXPECT_NE(message.find("x.ckpt"), std::string::npos) << message;
  EXPECT_NE(message.find("missing 1 key(s): encoder.patch_embed1.weight"), std::string::npos)
      << message;
  EXPECT_NE(message.find("unexpected 1 key(s): decoder.extra"), std::string::npos) << message;

  StateDict wrong = state;
  wrong[13].second = torch::zeros({2, 4});  // head.weight is [1, 4]
  message = error_of([&] { load_weights(*model, wrong, LoadMode::kStrict); });
  EXPECT_NE(message.find("head.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("shape mismatch"), std::string::npos) << message;
  // Nothing was copied by a failed load.
  EXPECT_FALSE(torch::equal(model->head->bias, state[14].second));
}

TEST(Weights, ConvertsToTheParameterDtype) {
  Tiny model;
  StateDict state = numbered_state(model);
  for (auto& entry : state) {
    if (entry.second.is_floating_point()) entry.second = (entry.second / 7).to(torch::kHalf);
  }
  load_weights(*model, state, LoadMode::kStrict);
  EXPECT_EQ(model->head->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(model->head->weight, state[13].second.to(torch::kFloat32)));
}

TEST(Weights, EncoderOnlyLoadsBareEncoderKeysAndReportsTheRest) {
  Tiny model;
  StateDict full = numbered_state(model);
  StateDict encoder_file;
  for (const auto& [name, tensor] : full) {
    if (name.rfind("encoder.", 0) == 0 && name != "encoder.norm1.bias") {
      encoder_file.emplace_back(name.substr(8), tensor);
    }
  }
  encoder_file.emplace_back("head.weight", torch::zeros({1000, 4}));
  encoder_file.emplace_back("head.bias", torch::zeros({1000}));
  torch::Tensor head_before = model->head->weight.clone();
  LoadReport report = load_weights(*model, encoder_file, LoadMode::kEncoderOnly);
  EXPECT_EQ(report.loaded.size(), 7u);
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"head.weight", "head.bias"}));
  EXPECT_EQ(report.missing, (std::vector<std::string>{"encoder.norm1.bias"}));
  EXPECT_TRUE(torch::equal(model->encoder->block1[0]->as<Attn>()->kv->weight,
                           find_tensor(full, "encoder.block1.0.kv.weight")));
  EXPECT_TRUE(torch::equal(model->head->weight, head_before));
  EXPECT_NE(report.summary().find("unexpected 2 (head.weight, head.bias)"), std::string::npos)
      << report.summary();

  // A file sharing nothing with the encoder is an error, not a silent no-op.
  EXPECT_THROW(load_weights(*model, {{"foo", torch::zeros({1})}}, LoadMode::kEncoderOnly), Error);
}

TEST(Weights, HuggingFaceNamesMapBothWays) {
  // Every key of the real b4 model (from the listing), with small stand-in tensors.
  std::ifstream in(std::string(GLPDEPTH_TEST_DATA_DIR) + "/glpdepth_b4_state_dict_keys.txt");
  ASSERT_TRUE(in);
  StateDict reference;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string name = line.substr(0, line.find('\t'));
    reference.emplace_back(name, torch::arange(4.0) + double(reference.size()));
  }
  ASSERT_EQ(reference.size(), 890u);
  StateDict hf = reference_to_hf_glpn(reference);
  EXPECT_TRUE(is_hf_glpn_state_dict(hf));
  EXPECT_FALSE(is_hf_glpn_state_dict(reference));
  // kv weight and bias split in two: two more entries per block (3 + 8 + 27 + 3 blocks).
  EXPECT_EQ(hf.size(), 890u + 2 * 41u);
  auto has = [&](const std::string& name) { return find_tensor(hf, name).defined(); };
  EXPECT_TRUE(has("glpn.encoder.patch_embeddings.0.proj.weight"));
  EXPECT_TRUE(has("glpn.encoder.patch_embeddings.3.layer_norm.bias"));
  EXPECT_TRUE(has("glpn.encoder.block.0.0.layer_norm_1.weight"));
  EXPECT_TRUE(has("glpn.encoder.block.2.26.attention.self.query.weight"));
  EXPECT_TRUE(has("glpn.encoder.block.0.2.attention.self.key.weight"));
  EXPECT_TRUE(has("glpn.encoder.block.0.2.attention.self.value.bias"));
  EXPECT_TRUE(has("glpn.encoder.block.1.0.attention.self.sr.weight"));
  EXPECT_TRUE(has("glpn.encoder.block.1.0.attention.self.layer_norm.weight"));
  EXPECT_TRUE(has("glpn.encoder.block.3.2.attention.output.dense.weight"));
  EXPECT_TRUE(has("glpn.encoder.block.3.2.mlp.dense1.weight"));
  EXPECT_TRUE(has("glpn.encoder.block.3.2.mlp.dwconv.dwconv.weight"));
  EXPECT_TRUE(has("glpn.encoder.layer_norm.3.weight"));
  EXPECT_TRUE(has("decoder.stages.0.convolution.weight"));
  EXPECT_TRUE(has("decoder.stages.2.convolution.bias"));
  EXPECT_TRUE(has("decoder.stages.1.fusion.convolutional_layer1.1.running_mean"));
  EXPECT_TRUE(has("decoder.stages.3.fusion.convolutional_layer3.weight"));
  EXPECT_TRUE(has("head.head.2.bias"));
  torch::Tensor kv = find_tensor(reference, "encoder.block1.0.attn.kv.weight");
  EXPECT_TRUE(torch::equal(find_tensor(hf, "glpn.encoder.block.0.0.attention.self.key.weight"),
                           kv.slice(0, 0, 2)));

  // Back again (with module. on the way in, as normalize_state_dict sees real files).
  StateDict back = normalize_state_dict(hf);
  ASSERT_EQ(back.size(), reference.size());
  for (size_t k = 0; k < back.size(); ++k) {
    EXPECT_EQ(back[k].first, reference[k].first);
    EXPECT_TRUE(torch::equal(back[k].second, reference[k].second)) << reference[k].first;
  }
}

TEST(Weights, LoadsADataParallelCheckpointWrittenByPyTorch) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  TempDir dir;
  Tiny model;
  std::string names;
  for (const auto& name : kTinyKeys) names += "'" + name + "', ";
  // Python builds the same tree, fills it with known values and saves it the way GLPDepth's
  // train.py does (DataParallel state_dict), in both formats, plus an fp16 copy.
  ASSERT_TRUE(run_python(dir.path(), R"(
import torch.nn as nn
class Attn(nn.Module):
    def __init__(s):
        super().__init__(); s.q = nn.Linear(4, 4); s.kv = nn.Linear(4, 8)
class Encoder(nn.Module):
    def __init__(s):
        super().__init__()
        s.patch_embed1 = nn.Conv2d(3, 4, 3); s.block1 = nn.ModuleList([Attn()]); s.norm1 = nn.LayerNorm(4)
class Tiny(nn.Module):
    def __init__(s):
        super().__init__(); s.encoder = Encoder(); s.bn = nn.BatchNorm2d(4); s.head = nn.Linear(4, 1)
m = Tiny()
with torch.no_grad():
    for i, (k, v) in enumerate(m.state_dict().items()):
        v.copy_(torch.full_like(v, i + 0.25) if v.is_floating_point() else torch.tensor(i))
assert list(m.state_dict()) == [)" + names + R"(]
dp = nn.DataParallel(m)
torch.save(dp.state_dict(), os.path.join(D, 'dp_zip.ckpt'))
torch.save(dp.state_dict(), os.path.join(D, 'dp_legacy.ckpt'), _use_new_zipfile_serialization=False)
torch.save({'state_dict': m.half().state_dict()}, os.path.join(D, 'half.pth'))
)"));
  for (const char* file : {"dp_zip.ckpt", "dp_legacy.ckpt", "half.pth"}) {
    Tiny fresh;
    LoadReport report = load_weights_file(*fresh, dir / file, LoadMode::kStrict);
    EXPECT_EQ(report.loaded.size(), kTinyKeys.size()) << file;
    StateDict loaded = module_state_dict(*fresh);
    for (size_t i = 0; i < loaded.size(); ++i) {
      const torch::Tensor& t = loaded[i].second;
      torch::Tensor expected = t.is_floating_point() ? torch::full_like(t, double(i) + 0.25)
                                                     : torch::full_like(t, int64_t(i));
      EXPECT_TRUE(torch::equal(t, expected)) << file << " " << loaded[i].first;
    }
  }
}

}  // namespace
}  // namespace glpdepth
