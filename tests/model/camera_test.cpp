// Camera-aware mode (docs/CAMERAS.md): the focal rescale, its place in predict_depth and its
// record in checkpoint files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/temp_dir.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/inference.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/util/error.h"

using namespace glpdepth;

namespace {

GLPDepth small_model(double canonical_focal) {
  torch::manual_seed(5);
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  options.canonical_focal = canonical_focal;
  GLPDepth model(options);
  model->eval();
  return model;
}

// Back-projection written out here: X = (u - cx) z / fx, Y = (v - cy) z / fy, Z = z.
torch::Tensor back_project(const torch::Tensor& depth, double fx, double fy, double cx, double cy) {
  const int64_t h = depth.size(0), w = depth.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto u = torch::arange(w, opts).view({1, w}).expand({h, w});
  auto v = torch::arange(h, opts).view({h, 1}).expand({h, w});
  auto z = depth.to(torch::kFloat64);
  return torch::stack({(u - cx) * z / fx, (v - cy) * z / fy, z});
}

}  // namespace

TEST(CanonicalCamera, FactorIsFocalOverCanonicalPerImage) {
  auto k = torch::tensor({{721.5f, 721.5f, 609.6f, 172.9f}, {879.f, 880.f, 440.f, 200.f}});
  auto factor = canonical_to_metric(k, 1000.0, "test");
  ASSERT_EQ(factor.sizes(), (std::vector<int64_t>{2, 1, 1, 1}));
  EXPECT_FLOAT_EQ(factor[0].item<float>(), 0.7215f);
  EXPECT_FLOAT_EQ(factor[1].item<float>(), 0.879f);
  EXPECT_THROW(canonical_to_metric(torch::zeros({2, 4}), 1000.0, "test"), Error);
  EXPECT_THROW(canonical_to_metric(torch::Tensor(), 1000.0, "test"), Error);
  EXPECT_THROW(canonical_to_metric(k, 0.0, "test"), Error);
  try {
    canonical_to_metric(torch::tensor({{500.f, 500.f, 1.f, 1.f}, {0.f, 0.f, 0.f, 0.f}}), 700.0,
                        "batch 3");
    FAIL() << "an image without focal length must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch 3"), std::string::npos) << e.what();
  }
}

// A depth map for camera K, expressed for the canonical camera (the training target d * F / fx)
// and brought back by canonical_to_metric, back-projects to the same 3D points: the rescale is
// exact, for two cameras as different as KITTI's and DrivingStereo's.
TEST(CanonicalCamera, RescaledDepthBackProjectsToTheSamePoints) {
  torch::manual_seed(1);
  const double canonical = 1000.0;
  for (auto k : std::vector<std::array<double, 4>>{{721.5377, 721.5377, 609.5593, 172.854},
                                                   {879.0, 879.0, 440.0, 200.0}}) {
    auto metric = torch::rand({20, 30}, torch::kFloat64) * 79 + 1;
    auto canonical_depth = metric * canonical / k[0];
    auto intrinsics = torch::tensor({{k[0], k[1], k[2], k[3]}}, torch::kFloat64).to(torch::kFloat32);
    auto factor = canonical_to_metric(intrinsics, canonical, "test").to(torch::kFloat64);
    auto restored = canonical_depth * factor[0][0];
    auto points = back_project(metric, k[0], k[1], k[2], k[3]);
    auto again = back_project(restored, k[0], k[1], k[2], k[3]);
    // fx travels as float32 in a batch: relative 1e-7.
    EXPECT_LT(((again - points).abs() / points.abs().clamp_min(1e-3)).max().item<double>(), 2e-7);
  }
}

TEST(CanonicalCamera, PredictDepthRescalesEveryImageByItsFocal) {
  GLPDepth plain = small_model(0.0);
  GLPDepth aware = small_model(500.0);
  torch::InferenceMode guard;
  auto images = torch::rand({2, 3, 32, 64});
  auto k = torch::tensor({{400.f, 400.f, 31.5f, 15.5f}, {750.f, 760.f, 30.f, 16.f}});
  auto raw = plain->forward(images);
  auto depth = predict_depth(aware, images, false, k);
  EXPECT_TRUE(torch::allclose(depth[0], raw[0] * 0.8f, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(depth[1], raw[1] * 1.5f, 1e-6, 1e-6));
  auto flipped = predict_depth(aware, images, true, k);
  auto plain_flipped = predict_depth(plain, images, true);
  EXPECT_TRUE(torch::allclose(flipped[1], plain_flipped[1] * 1.5f, 1e-6, 1e-6));
  // A metric model ignores intrinsics; a camera-aware one refuses to guess.
  EXPECT_TRUE(torch::equal(predict_depth(plain, images, false, k), raw));
  EXPECT_THROW(predict_depth(aware, images, false), Error);
}

// Our checkpoints record the mode, so a loaded model cannot be used in the wrong one.
TEST(CanonicalCamera, CheckpointRecordsTheMode) {
  glpdepth::testing::TempDir dir;
  GLPDepth aware = small_model(721.5);
  PyValue::Entries weights;
  for (const auto& [name, tensor] : module_state_dict(*aware))
    weights.emplace_back(PyValue(name), PyValue(tensor));
  write_pytorch_file(dir / "aware.ckpt",
                     PyValue::dict()
                         .set(kCheckpointFormatKey, int64_t{1})
                         .set("model_options", model_header_value(aware->options()))
                         .set("model", PyValue::dict(std::move(weights))));
  ModelSource source;
  GLPDepth loaded = load_model(dir / "aware.ckpt", std::nullopt, 0, 80, &source);
  EXPECT_DOUBLE_EQ(loaded->options().canonical_focal, 721.5);
  EXPECT_DOUBLE_EQ(source.canonical_focal, 721.5);
  // Plain state_dicts cannot say: they load as metric models.
  write_state_dict(dir / "plain.pth", module_state_dict(*aware));
  EXPECT_DOUBLE_EQ(load_model(dir / "plain.pth", std::nullopt, 0, 80)->options().canonical_focal, 0.0);
}
