// Crop bounds checked by hand, and the two KITTI protocols against masks built with plain loops.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <random>
#include <vector>

#include "glpdepth/eval/crops.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

TEST(Crops, HandCheckedKittiBoundsOnKbFrame) {
  EXPECT_EQ(crop_window(EvalCrop::kGarg, 352, 1216), (Window{143, 349, 43, 1172}));
  EXPECT_EQ(crop_window(EvalCrop::kEigen, 352, 1216), (Window{117, 321, 43, 1172}));
  EXPECT_EQ(crop_window(EvalCrop::kNone, 352, 1216), (Window{0, 352, 0, 1216}));
}

TEST(Crops, HandCheckedKittiBoundsOnFullFrame) {
  // 0.40810811*375 = 153.04, 0.99189189*375 = 371.96, 0.03594771*1242 = 44.65,
  // 0.96405229*1242 = 1197.35; eigen 0.3324324*375 = 124.66, 0.91351351*375 = 342.57.
  EXPECT_EQ(crop_window(EvalCrop::kGarg, 375, 1242), (Window{153, 371, 44, 1197}));
  EXPECT_EQ(crop_window(EvalCrop::kEigen, 375, 1242), (Window{124, 342, 44, 1197}));
}

TEST(Crops, KbCropWindow) {
  EXPECT_EQ(kb_crop_window(375, 1242), (Window{23, 375, 13, 1229}));
  EXPECT_EQ(kb_crop_window(370, 1224), (Window{18, 370, 4, 1220}));
  EXPECT_EQ(kb_crop_window(352, 1216), (Window{0, 352, 0, 1216}));
  EXPECT_THROW(kb_crop_window(351, 1242), Error);
}

TEST(Crops, NyuEigenCrop) {
  EvalSettings s;
  s.dataset = DatasetKind::kNyuDepthV2;
  EXPECT_EQ(effective_crop(s), EvalCrop::kNyuEigen);
  torch::Tensor m = eval_mask(s, 480, 640);
  EXPECT_EQ(m.sum().item<int64_t>(), (471 - 45) * (601 - 41));
  EXPECT_TRUE(m[45][41].item<bool>());
  EXPECT_TRUE(m[470][600].item<bool>());
  EXPECT_FALSE(m[44][41].item<bool>());
  EXPECT_FALSE(m[471][100].item<bool>());
  EXPECT_FALSE(m[100][601].item<bool>());
  EXPECT_FALSE(m[100][40].item<bool>());
  EXPECT_THROW(eval_mask(s, 240, 320), Error);
  s.nyu_crop = false;
  EXPECT_EQ(eval_mask(s, 240, 320).sum().item<int64_t>(), 240 * 320);
}

TEST(Crops, DrivingStereoAndDefaultKittiUseValidOnly) {
  EvalSettings s;
  s.dataset = DatasetKind::kDrivingStereo;
  s.kitti_crop = EvalCrop::kGarg;  // ignored for non-KITTI
  EXPECT_EQ(effective_crop(s), EvalCrop::kNone);
  EvalSettings k;
  k.dataset = DatasetKind::kKitti;  // no crop given: valid pixels only, no crash (B3)
  EXPECT_EQ(effective_crop(k), EvalCrop::kNone);
  torch::Tensor gt = torch::tensor({{0.0f, 5.0f}, {80.0f, 0.001f}});
  torch::Tensor m = eval_mask(k, gt);
  // strict bounds: 80 and 0.001 are both out.
  EXPECT_EQ(m.sum().item<int64_t>(), 1);
  EXPECT_TRUE(m[0][1].item<bool>());
}

TEST(Crops, Parsing) {
  EXPECT_EQ(parse_kitti_crop("garg"), EvalCrop::kGarg);
  EXPECT_EQ(parse_kitti_crop("garg_crop"), EvalCrop::kGarg);
  EXPECT_EQ(parse_kitti_crop("Eigen_Crop"), EvalCrop::kEigen);
  EXPECT_EQ(parse_kitti_crop("none"), EvalCrop::kNone);
  EXPECT_EQ(parse_kitti_crop(""), EvalCrop::kNone);
  EXPECT_THROW(parse_kitti_crop("gar"), UsageError);
  EXPECT_EQ(parse_protocol("kb-crop"), KittiProtocol::kKbCrop);
  EXPECT_EQ(parse_protocol("full_frame"), KittiProtocol::kFullFrame);
  EXPECT_THROW(parse_protocol("canonical"), UsageError);
  EXPECT_EQ(to_string(KittiProtocol::kFullFrame), "full-frame");
}

// Independent pixel selection for the protocols: explicit coordinates, no tensors.
struct Picked {
  std::vector<double> p, g;
};

double rmse(const Picked& s) {
  double acc = 0;
  for (size_t i = 0; i < s.p.size(); ++i) acc += (s.p[i] - s.g[i]) * (s.p[i] - s.g[i]);
  return std::sqrt(acc / s.p.size());
}

double abs_rel(const Picked& s) {
  double acc = 0;
  for (size_t i = 0; i < s.p.size(); ++i) acc += std::fabs(s.p[i] - s.g[i]) / s.g[i];
  return acc / s.p.size();
}

class KittiProtocols : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> d(0.5f, 95.0f), n(0.8f, 1.25f), u(0, 1);
    gt = torch::zeros({H, W});
    pred_kb = torch::empty({352, 1216});
    auto G = gt.accessor<float, 2>();
    auto P = pred_kb.accessor<float, 2>();
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) G[y][x] = u(rng) < 0.15f ? d(rng) : 0.0f;  // sparse LiDAR
    }
    for (int y = 0; y < 352; ++y) {
      for (int x = 0; x < 1216; ++x) {
        float g = G[y + 23][x + 13];
        P[y][x] = g > 0 ? g * n(rng) : d(rng);
      }
    }
  }
  static constexpr int H = 375, W = 1242;
  torch::Tensor gt, pred_kb;
};

TEST_F(KittiProtocols, KbCropProtocolCropsGtFirst) {
  auto G = gt.accessor<float, 2>();
  auto P = pred_kb.accessor<float, 2>();
  for (EvalCrop crop : {EvalCrop::kGarg, EvalCrop::kEigen, EvalCrop::kNone}) {
    // Hand-checked rows/cols on the 352x1216 frame.
    int r0 = 0, r1 = 352, c0 = 0, c1 = 1216;
    if (crop == EvalCrop::kGarg) r0 = 143, r1 = 349, c0 = 43, c1 = 1172;
    if (crop == EvalCrop::kEigen) r0 = 117, r1 = 321, c0 = 43, c1 = 1172;
    Picked s;
    for (int y = r0; y < r1; ++y) {
      for (int x = c0; x < c1; ++x) {
        double g = G[y + 23][x + 13];
        if (g > 1e-3 && g < 80) {
          s.p.push_back(P[y][x]);
          s.g.push_back(g);
        }
      }
    }
    EvalSettings set;
    set.dataset = DatasetKind::kKitti;
    set.kitti_crop = crop;
    set.protocol = KittiProtocol::kKbCrop;
    EvalFrame f = prepare_eval_frame(set, pred_kb, gt);
    EXPECT_EQ(f.gt.size(0), 352);
    EXPECT_EQ(f.mask.sum().item<int64_t>(), static_cast<int64_t>(s.p.size()));
    MetricAccumulator acc;
    auto m = evaluate_image(acc, set, pred_kb, gt.unsqueeze(0).unsqueeze(0));
    ASSERT_TRUE(m);
    EXPECT_NEAR(m->rmse, rmse(s), 1e-9);
    EXPECT_NEAR(m->abs_rel, abs_rel(s), 1e-9);

    // A full-size prediction is kb-cropped too, giving the same result.
    torch::Tensor pred_full = torch::full({H, W}, 3.0f);
    pred_full.slice(0, 23, 375).slice(1, 13, 1229).copy_(pred_kb);
    MetricAccumulator acc2;
    auto m2 = evaluate_image(acc2, set, pred_full, gt);
    ASSERT_TRUE(m2);
    EXPECT_NEAR(m2->rmse, m->rmse, 1e-12);
  }
}

TEST_F(KittiProtocols, FullFrameProtocolUsesFullGtCrops) {
  auto G = gt.accessor<float, 2>();
  auto P = pred_kb.accessor<float, 2>();
  for (EvalCrop crop : {EvalCrop::kGarg, EvalCrop::kEigen, EvalCrop::kNone}) {
    int r0 = 0, r1 = H, c0 = 0, c1 = W;
    if (crop == EvalCrop::kGarg) r0 = 153, r1 = 371, c0 = 44, c1 = 1197;
    if (crop == EvalCrop::kEigen) r0 = 124, r1 = 342, c0 = 44, c1 = 1197;
    Picked s;
    int64_t outside = 0;
    for (int y = r0; y < r1; ++y) {
      for (int x = c0; x < c1; ++x) {
        double g = G[y][x];
        if (!(g > 1e-3 && g < 80)) continue;
        // Pixels outside the kb window have no prediction: not evaluated.
        if (y < 23 || x < 13 || x >= 1229) {
          ++outside;
          continue;
        }
        s.p.push_back(P[y - 23][x - 13]);
        s.g.push_back(g);
      }
    }
    if (crop == EvalCrop::kNone) {
      EXPECT_GT(outside, 0);
    } else {
      EXPECT_EQ(outside, 0);
    }
    EvalSettings set;
    set.dataset = DatasetKind::kKitti;
    set.kitti_crop = crop;
    set.protocol = KittiProtocol::kFullFrame;
    EvalFrame f = prepare_eval_frame(set, pred_kb, gt);
    EXPECT_EQ(f.gt.size(0), H);
    EXPECT_EQ(f.pred_window, (Window{23, 375, 13, 1229}));
    EXPECT_EQ(f.mask.sum().item<int64_t>(), static_cast<int64_t>(s.p.size()));
    MetricAccumulator acc;
    auto m = evaluate_image(acc, set, pred_kb, gt);
    ASSERT_TRUE(m);
    EXPECT_NEAR(m->rmse, rmse(s), 1e-9);
    EXPECT_NEAR(m->abs_rel, abs_rel(s), 1e-9);
  }
}

TEST_F(KittiProtocols, ProtocolsDifferWhereTheCropsDiffer) {
  EvalSettings a;
  a.dataset = DatasetKind::kKitti;
  a.kitti_crop = EvalCrop::kGarg;
  EvalSettings b = a;
  b.protocol = KittiProtocol::kFullFrame;
  int64_t na = prepare_eval_frame(a, pred_kb, gt).mask.sum().item<int64_t>();
  int64_t nb = prepare_eval_frame(b, pred_kb, gt).mask.sum().item<int64_t>();
  EXPECT_NE(na, nb);
}

TEST(Crops, MismatchedShapesNameBothSizes) {
  EvalSettings s;
  s.dataset = DatasetKind::kFolder;
  try {
    prepare_eval_frame(s, torch::ones({4, 5}), torch::ones({4, 6}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4x5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("4x6"), std::string::npos) << e.what();
  }
  s.dataset = DatasetKind::kKitti;
  EXPECT_THROW(prepare_eval_frame(s, torch::ones({352, 1000}), torch::ones({375, 1242})), Error);
  // Equal sizes too small for a kb-crop are evaluated as they are.
  EvalFrame f = prepare_eval_frame(s, torch::ones({1, 400, 1000}), torch::ones({400, 1000}));
  EXPECT_EQ(f.gt.size(0), 400);
  EXPECT_EQ(f.mask.sum().item<int64_t>(), 400 * 1000);
}

TEST(Crops, DescribeNamesTheProtocol) {
  EvalSettings s;
  s.dataset = DatasetKind::kKitti;
  s.protocol = KittiProtocol::kFullFrame;
  s.kitti_crop = EvalCrop::kGarg;
  std::string d = describe(s);
  EXPECT_NE(d.find("full-frame"), std::string::npos);
  EXPECT_NE(d.find("garg"), std::string::npos);
}

}  // namespace
}  // namespace glpdepth
