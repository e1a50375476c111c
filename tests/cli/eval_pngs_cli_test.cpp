// `glpdepth eval-pngs` end to end on PNGs written here, against metrics computed in this file
// with plain loops over the raw 16-bit values.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

using testing::CliRun;

CliRun run_eval_pngs(const testing::TempDir& dir, const std::string& args) {
  return testing::run_cli(dir, "eval-pngs " + args);
}

// Reference metrics of one image over a rectangle, from raw values.
struct Ref {
  double d1 = 0, abs_rel = 0, rmse = 0, silog_kitti = 0;
  int64_t n = 0;
};

Ref reference(const Image16& pred, int py0, int px0, const Image16& gt, int r0, int r1, int c0,
              int c1, double pred_scale, double gt_scale, double lo, double hi) {
  // Pixel (y, x) of the GT frame reads the prediction at (y - py0, x - px0). Depth maps are
  // decoded to float32 (as the original's cv2 + float32 path), so values pass through float.
  std::vector<double> p, g;
  for (int y = r0; y < r1; ++y) {
    for (int x = c0; x < c1; ++x) {
      double gv = static_cast<float>(gt.at(x, y) / gt_scale);
      if (!(gv > lo && gv < hi)) continue;
      int py = y - py0, px = x - px0;
      if (py < 0 || px < 0 || py >= pred.height || px >= pred.width) continue;
      p.push_back(static_cast<float>(pred.at(px, py) / pred_scale));
      g.push_back(gv);
    }
  }
  Ref r;
  r.n = static_cast<int64_t>(p.size());
  if (r.n == 0) return r;
  double se = 0, mean_e = 0;
  std::vector<double> e;
  for (size_t i = 0; i < p.size(); ++i) {
    double pc = std::max(p[i], 1e-6);
    if (std::max(pc / g[i], g[i] / pc) < 1.25) r.d1 += 1;
    r.abs_rel += std::fabs(p[i] - g[i]) / g[i];
    se += (p[i] - g[i]) * (p[i] - g[i]);
    e.push_back(std::log(pc / g[i]));
    mean_e += e.back();
  }
  mean_e /= r.n;
  double var = 0;
  for (double v : e) var += (v - mean_e) * (v - mean_e);
  r.d1 /= r.n;
  r.abs_rel /= r.n;
  r.rmse = std::sqrt(se / r.n);
  r.silog_kitti = 100 * std::sqrt(var / r.n);
  return r;
}

class EvalPngsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> depth(100, 85 * 256);
    std::uniform_real_distribution<double> noise(0.8, 1.25), u(0, 1);
    for (int k = 0; k < 3; ++k) {
      Image16 gt(1242, 375), pred(1216, 352);
      for (int y = 0; y < 375; ++y) {
        for (int x = 0; x < 1242; ++x) {
          if (u(rng) < (k == 2 ? 0.02 : 0.1)) gt.at(x, y) = static_cast<uint16_t>(depth(rng));
        }
      }
      for (int y = 0; y < 352; ++y) {
        for (int x = 0; x < 1216; ++x) {
          uint16_t g = gt.at(x + 13, y + 23);
          double v = g ? g * noise(rng) : depth(rng);
          pred.at(x, y) = static_cast<uint16_t>(std::min(65535.0, std::round(v)));
        }
      }
      const std::string drive = "2011_09_26_drive_000" + std::to_string(k + 1) + "_sync";
      const std::string frame = "00000000" + std::to_string(10 + k);
      const char* split = k == 1 ? "val" : "train";
      write_png16(dir_ / "gt" / "data_depth_annotated" / split / drive / "proj_depth" /
                      "groundtruth" / "image_02" / (frame + ".png"),
                  gt);
      write_png16(dir_ / "pred" / (drive + "_" + frame + ".png"), pred);
      gts_.push_back(gt);
      preds_.push_back(pred);
    }
  }

  void expect_matches(const nlohmann::json& metrics, const std::vector<Ref>& refs) {
    double d1 = 0, abs_rel = 0, rmse = 0, silog = 0;
    for (const Ref& r : refs) {
      d1 += r.d1 / refs.size();
      abs_rel += r.abs_rel / refs.size();
      rmse += r.rmse / refs.size();
      silog += r.silog_kitti / refs.size();
    }
    EXPECT_NEAR(metrics["d1"].get<double>(), d1, 1e-9);
    EXPECT_NEAR(metrics["abs_rel"].get<double>(), abs_rel, 1e-9);
    EXPECT_NEAR(metrics["rmse"].get<double>(), rmse, 1e-8);
    EXPECT_NEAR(metrics["silog_kitti"].get<double>(), silog, 1e-6);
  }

  testing::TempDir dir_;
  std::vector<Image16> gts_, preds_;
};

TEST_F(EvalPngsCli, KittiKbCropGarg) {
  CliRun r = run_eval_pngs(dir_, "--pred " + (dir_ / "pred").string() + " --gt " + (dir_ / "gt").string() +
                            " --dataset kitti --kitti_crop garg --output " +
                            (dir_ / "res" / "metrics.json").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("SILog(KITTI)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kb-crop"), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(read_file_bytes(dir_ / "res" / "metrics.json"));
  EXPECT_EQ(j["protocol"], "kb-crop");
  EXPECT_EQ(j["crop"], "garg");
  EXPECT_EQ(j["images"], 3);
  std::vector<Ref> refs;
  int64_t pixels = 0;
  for (int k = 0; k < 3; ++k) {
    // Garg on the 352x1216 frame = rows 143:349, cols 43:1172, i.e. +23 / +13 in the full GT.
    refs.push_back(reference(preds_[k], 23, 13, gts_[k], 143 + 23, 349 + 23, 43 + 13, 1172 + 13,
                             256, 256, 1e-3, 80));
    pixels += refs.back().n;
  }
  EXPECT_EQ(j["pixels"], pixels);
  expect_matches(j["metrics"], refs);

  // Per-image CSV: sorted names, one row each.
  std::istringstream csv(read_file_bytes(dir_ / "res" / "per_image.csv"));
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> names;
  while (std::getline(csv, line)) names.push_back(line.substr(0, line.find(',')));
  EXPECT_EQ(names, (std::vector<std::string>{"2011_09_26_drive_0001_sync_0000000010.png",
                                             "2011_09_26_drive_0002_sync_0000000011.png",
                                             "2011_09_26_drive_0003_sync_0000000012.png"}));
}

TEST_F(EvalPngsCli, KittiFullFrameEigen) {
  CliRun r = run_eval_pngs(dir_, "--pred " + (dir_ / "pred").string() + " --gt " + (dir_ / "gt").string() +
                            " --dataset kitti --eigen_crop --protocol full-frame --max-depth-eval 50");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file_bytes(dir_ / "pred" / "metrics.json"));
  EXPECT_EQ(j["protocol"], "full-frame");
  EXPECT_EQ(j["crop"], "eigen");
  EXPECT_EQ(j["max_depth_eval"], 50.0);
  std::vector<Ref> refs;
  for (int k = 0; k < 3; ++k) {
    // Eigen on the full 375x1242 frame: rows 124:342, cols 44:1197.
    refs.push_back(reference(preds_[k], 23, 13, gts_[k], 124, 342, 44, 1197, 256, 256, 1e-3, 50));
  }
  expect_matches(j["metrics"], refs);
  EXPECT_TRUE(fs::exists(dir_ / "pred" / "per_image.csv"));
}

TEST_F(EvalPngsCli, FlatLayoutAndSkippedImage) {
  // DrivingStereo-like flat GT folder with the same names; one GT has no valid pixel.
  Image16 gt(30, 20), pred(30, 20), empty_gt(30, 20);
  for (int y = 0; y < 20; ++y) {
    for (int x = 0; x < 30; ++x) {
      gt.at(x, y) = static_cast<uint16_t>((x + 1) * 256 + y);
      pred.at(x, y) = static_cast<uint16_t>((x + 2) * 256);
    }
  }
  write_png16(dir_ / "ds_gt" / "a.png", gt);
  write_png16(dir_ / "ds_pred" / "a.png", pred);
  write_png16(dir_ / "ds_gt" / "b.png", empty_gt);
  write_png16(dir_ / "ds_pred" / "b.png", pred);
  CliRun r = run_eval_pngs(dir_, "--pred " + (dir_ / "ds_pred").string() + " --gt " +
                            (dir_ / "ds_gt").string() + " --dataset drivingstereo --output " +
                            (dir_ / "ds.json").string());
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file_bytes(dir_ / "ds.json"));
  EXPECT_EQ(j["images"], 1);
  EXPECT_EQ(j["skipped_images"], 1);
  EXPECT_EQ(j["protocol"], nullptr);
  Ref ref = reference(pred, 0, 0, gt, 0, 20, 0, 30, 256, 256, 1e-3, 80);
  expect_matches(j["metrics"], {ref});
  EXPECT_TRUE(fs::exists(dir_ / "ds_per_image.csv"));
}

TEST_F(EvalPngsCli, NyuLayout) {
  Image16 gt(640, 480), pred(640, 480);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> d(500, 9000);
  for (int y = 0; y < 480; ++y) {
    for (int x = 0; x < 640; x += 3) {
      gt.at(x, y) = static_cast<uint16_t>(d(rng));
      pred.at(x, y) = static_cast<uint16_t>(d(rng));
    }
  }
  write_png16(dir_ / "nyu" / "official_splits" / "test" / "living_room" / "sync_depth_00012.png",
              gt);
  write_png16(dir_ / "nyu_pred" / "living_room_rgb_00012.png", pred);
  CliRun r = run_eval_pngs(dir_, "--pred " + (dir_ / "nyu_pred").string() + " --gt " +
                            (dir_ / "nyu").string() + " --dataset nyudepthv2");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file_bytes(dir_ / "nyu_pred" / "metrics.json"));
  EXPECT_EQ(j["crop"], "nyu_eigen");
  EXPECT_EQ(j["max_depth_eval"], 10.0);
  Ref ref = reference(pred, 0, 0, gt, 45, 471, 41, 601, 1000, 1000, 1e-3, 10);
  expect_matches(j["metrics"], {ref});
}

TEST_F(EvalPngsCli, ErrorsNameTheFile) {
  fs::remove(dir_ / "gt" / "data_depth_annotated" / "val" / "2011_09_26_drive_0002_sync" /
             "proj_depth" / "groundtruth" / "image_02" / "0000000011.png");
  CliRun r = run_eval_pngs(dir_, "--pred " + (dir_ / "pred").string() + " --gt " + (dir_ / "gt").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("2011_09_26_drive_0002_sync_0000000011.png"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "pred" / "metrics.json"));  // nothing half-written

  r = run_eval_pngs(dir_, "--pred " + (dir_ / "pred").string() + " --gt " + (dir_ / "gt").string() +
                        " --skip_missing_gt");
  EXPECT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file_bytes(dir_ / "pred" / "metrics.json"));
  EXPECT_EQ(j["images"], 2);
  EXPECT_EQ(j["missing_gt"].size(), 1u);

  r = run_eval_pngs(dir_, "--pred " + (dir_ / "pred").string() + " --gt " + (dir_ / "gt").string() +
                        " --kitti_crop gargle");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--kitti_crop"), std::string::npos) << r.err;

  // A prediction of the wrong size names both files.
  Image16 small(100, 50);
  write_png16(dir_ / "pred" / "2011_09_26_drive_0001_sync_0000000010.png", small);
  r = run_eval_pngs(dir_, "--pred " + (dir_ / "pred").string() + " --gt " + (dir_ / "gt").string() +
                        " --skip_missing_gt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("2011_09_26_drive_0001_sync_0000000010.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("50x100"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace glpdepth
