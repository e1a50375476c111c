// `glpdepth test` end to end on a tiny synthetic KITTI-layout set (made with `glpdepth synth`)
// and b0 weights (made with `glpdepth export`). The metrics it reports are recomputed here with
// plain loops from the 16-bit eval PNGs it wrote and the GT PNGs of the list, for both KITTI
// protocols, so they agree up to the PNG quantisation of the prediction (1/512 m).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

using testing::CliRun;
using testing::run_cli;

std::vector<std::string> split_fields(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  if (sep == ' ') {
    while (in >> field) out.push_back(field);
  } else {
    while (std::getline(in, field, sep)) out.push_back(field);
  }
  return out;
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> out;
  std::istringstream in(read_file_bytes(file));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// All ten metrics of one image, straight from the formulas of spec 3.1 / 3.2.
std::map<std::string, double> reference_metrics(const std::vector<double>& p,
                                                const std::vector<double>& g) {
  const double n = static_cast<double>(p.size());
  double d1 = 0, d2 = 0, d3 = 0, abs_rel = 0, sq_rel = 0, se = 0, le2 = 0, le = 0, l10 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double ratio = std::max(p[i] / g[i], g[i] / p[i]);
    d1 += ratio < 1.25;
    d2 += ratio < 1.25 * 1.25;
    d3 += ratio < 1.25 * 1.25 * 1.25;
    abs_rel += std::fabs(p[i] - g[i]) / g[i];
    sq_rel += (p[i] - g[i]) * (p[i] - g[i]) / g[i];
    se += (p[i] - g[i]) * (p[i] - g[i]);
    const double e = std::log(p[i]) - std::log(g[i]);
    le += e;
    le2 += e * e;
    l10 += std::fabs(std::log10(p[i]) - std::log10(g[i]));
  }
  const double me = le / n, me2 = le2 / n;
  return {{"d1", d1 / n},
          {"d2", d2 / n},
          {"d3", d3 / n},
          {"abs_rel", abs_rel / n},
          {"sq_rel", sq_rel / n},
          {"rmse", std::sqrt(se / n)},
          {"rmse_log", std::sqrt(me2)},
          {"log10", l10 / n},
          {"silog", std::sqrt(me2 - 0.5 * me * me)},
          {"silog_kitti", 100 * std::sqrt(me2 - me * me)}};
}

const std::vector<std::string> kMetricNames = {"d1",   "d2",       "d3",    "abs_rel",
                                               "sq_rel", "rmse",   "rmse_log", "log10",
                                               "silog", "silog_kitti"};

// Garg crop rows/cols of an h x w frame (spec 3.1).
struct Rect {
  int r0, r1, c0, c1;
};
Rect garg(int h, int w) {
  return {static_cast<int>(0.40810811 * h), static_cast<int>(0.99189189 * h),
          static_cast<int>(0.03594771 * w), static_cast<int>(0.96405229 * w)};
}

class TestCommandCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new testing::TempDir();
    CliRun w = run_cli(*shared_, "export --random_weights --encoder b0 --seed 5 --threads 1 --output " +
                                  (*shared_ / "w.pth").string());
    ASSERT_EQ(w.code, 0) << w.err;
    // 3 drives of 2 frames: the test list gets one drive (2 frames), train gets the rest.
    CliRun s = run_cli(*shared_, "synth --out " + (*shared_ / "kitti").string() +
                                  " --count 6 --scale 0.25 --seed 1 --frames_per_drive 2"
                                  " --val_fraction 0 --test_fraction 0.34 --threads 1");
    ASSERT_EQ(s.code, 0) << s.err;
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  static fs::path root() { return *shared_ / "kitti"; }
  static std::string weights() { return (*shared_ / "w.pth").string(); }

  // Runs `test` and checks every output against the recomputation. `place_top/left`: where the
  // (window-cropped) prediction sits in the full GT frame; `crop_frame_*`: the frame on which
  // the Garg fractions and the comparison apply (the GT is cut to it first).
  void run_and_check(const std::string& extra_flags, const std::string& list_name,
                     bool full_frame_check, int window_h = 0, int window_w = 0) {
    const fs::path results = dir_ / "results";
    CliRun r = run_cli(dir_, "test --dataset kitti --data_path " + root().string() + " --ckpt " +
                              weights() + " --kitti_crop garg --save_eval_pngs --save_visualize"
                              " --result_dir " + results.string() +
                              " --exp_name e --batch_size 2 --workers 1 --threads 1 " +
                              extra_flags);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("silog"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("SILog(KITTI)"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("test 1/"), std::string::npos) << r.err;  // progress on stderr

    const fs::path out = results / "e";
    auto j = nlohmann::json::parse(read_file_bytes(out / "metrics.json"));
    const std::vector<std::string> list = lines_of(root() / "lists" / list_name);
    ASSERT_FALSE(list.empty());
    EXPECT_EQ(j["images"], static_cast<int64_t>(list.size()));
    EXPECT_EQ(j["crop"], "garg");
    EXPECT_EQ(j["protocol"], full_frame_check ? "full-frame" : "kb-crop");
    for (const std::string& name : kMetricNames) EXPECT_TRUE(j["metrics"].contains(name)) << name;

    const std::vector<std::string> csv = lines_of(out / "per_image.csv");
    ASSERT_EQ(csv.size(), list.size() + 1);
    EXPECT_EQ(csv[0], "name,pixels,d1,d2,d3,abs_rel,sq_rel,rmse,rmse_log,log10,silog,silog_kitti");

    std::map<std::string, double> mean;
    int64_t pixels = 0;
    for (size_t k = 0; k < list.size(); ++k) {
      const std::vector<std::string> entry = split_fields(list[k], ' ');
      const std::vector<std::string> row = split_fields(csv[k + 1], ',');
      ASSERT_EQ(row.size(), 12u);
      const std::string& name = row[0];
      SCOPED_TRACE(name);
      EXPECT_NE(name.find(fs::path(entry[0]).stem().string()), std::string::npos);

      // List paths are relative to the root even with a leading '/' (BTS lists).
      const Image16 gt = read_png16(root() / entry[1].substr(entry[1][0] == '/' ? 1 : 0));
      const Image16 pred = read_png16(out / "eval_pngs" / name);  // still 16-bit: not overwritten
      const Image8 vis = read_image(out / "visualize" / name, 3);
      EXPECT_EQ(vis.width, pred.width);
      EXPECT_EQ(vis.height, pred.height);

      // Where the prediction lies in the GT frame and which frame the crop applies to.
      int top = 0, left = 0, fh = gt.height, fw = gt.width, ftop = 0, fleft = 0;
      if (window_h > 0) {
        top = gt.height - window_h;
        left = (gt.width - window_w) / 2;
        EXPECT_EQ(pred.height, window_h);
        EXPECT_EQ(pred.width, window_w);
        if (!full_frame_check) {
          fh = window_h, fw = window_w, ftop = top, fleft = left;
        }
      } else {
        EXPECT_EQ(pred.height, gt.height);
        EXPECT_EQ(pred.width, gt.width);
      }
      const Rect c = garg(fh, fw);
      std::vector<double> p, g;
      for (int y = c.r0; y < c.r1; ++y) {
        for (int x = c.c0; x < c.c1; ++x) {
          const int gy = y + ftop, gx = x + fleft;
          const double gv = gt.at(gx, gy) / 256.0;
          if (!(gv > 1e-3 && gv < 80)) continue;
          const int py = gy - top, px = gx - left;
          if (py < 0 || px < 0 || py >= pred.height || px >= pred.width) continue;
          p.push_back(pred.at(px, py) / 256.0);
          g.push_back(gv);
        }
      }
      ASSERT_GT(p.size(), 100u);
      EXPECT_EQ(std::stoll(row[1]), static_cast<int64_t>(p.size()));
      pixels += static_cast<int64_t>(p.size());
      const auto ref = reference_metrics(p, g);
      for (size_t m = 0; m < kMetricNames.size(); ++m) {
        const double got = std::stod(row[m + 2]), want = ref.at(kMetricNames[m]);
        // Prediction quantised to 1/256 m in the PNG: relative changes of ~1e-4 at these depths;
        // a d-threshold may flip for a pixel or two.
        const double tol = kMetricNames[m][0] == 'd' && kMetricNames[m].size() == 2
                               ? 3.0 / p.size()
                               : 2e-3 * std::fabs(want) + 1e-4;
        EXPECT_NEAR(got, want, tol) << kMetricNames[m];
        mean[kMetricNames[m]] += want / list.size();
      }
    }
    EXPECT_EQ(j["pixels"], pixels);
    for (const std::string& name : kMetricNames) {
      const double want = mean[name];
      const double tol = name.size() == 2 && name[0] == 'd' ? 0.01 : 2e-3 * std::fabs(want) + 1e-4;
      EXPECT_NEAR(j["metrics"][name].get<double>(), want, tol) << name;
    }
  }

  static testing::TempDir* shared_;
  testing::TempDir dir_;
};
testing::TempDir* TestCommandCli::shared_ = nullptr;

TEST_F(TestCommandCli, SmallFramesEvaluateWholeFrameAndMatchRecomputation) {
  run_and_check("--flip_test --do_evaluate", "test.txt", false);
}

TEST_F(TestCommandCli, KbCropWindowCropsImageAndGt) {
  // A small stand-in for the 352x1216 kb-crop: both image and GT are cut to it.
  run_and_check("--window on --window_h 64 --window_w 160 --test_list " +
                    (root() / "lists" / "test.txt").string(),
                "test.txt", false, 64, 160);
}

TEST_F(TestCommandCli, FullFrameProtocolPlacesThePredictionInTheFullGt) {
  // Full-frame: the window is cut out of the image only; the Garg crop applies to the full GT.
  run_and_check("--window on --window_h 64 --window_w 160 --protocol full-frame", "test.txt", true,
                64, 160);
}

TEST_F(TestCommandCli, SplitPicksTheList) {
  CliRun r = run_cli(dir_, "test --dataset kitti --data_path " + root().string() + " --ckpt " +
                            weights() + " --eval_split train --result_dir " +
                            (dir_ / "res").string() + " --exp_name t --threads 1 --workers 0");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file_bytes(dir_ / "res" / "t" / "metrics.json"));
  EXPECT_EQ(j["images"], static_cast<int64_t>(lines_of(root() / "lists" / "train.txt").size()));
  EXPECT_EQ(j["crop"], "none");  // B3: KITTI without --kitti_crop evaluates valid pixels
  EXPECT_FALSE(fs::exists(dir_ / "res" / "t" / "eval_pngs"));
}

TEST_F(TestCommandCli, ASecondRunNeverMixesIntoTheFirstRunsFolder) {
  // Finding 6 of issue 24: a second `test` into the same folder rewrote metrics.json beside the
  // first run's PNGs. Now it gets <exp_name>_2, and --overwrite writes into the first.
  const std::string base = "test --dataset kitti --data_path " + root().string() + " --ckpt " +
                           weights() + " --result_dir " + (dir_ / "twice").string() +
                           " --exp_name t --threads 1 --workers 0";
  CliRun first = run_cli(dir_, base + " --save_eval_pngs --eval_split train");
  ASSERT_EQ(first.code, 0) << first.err;
  const std::string first_metrics = read_file_bytes(dir_ / "twice" / "t" / "metrics.json");
  CliRun second = run_cli(dir_, base);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.err.find("t_2"), std::string::npos) << second.err;
  EXPECT_EQ(read_file_bytes(dir_ / "twice" / "t" / "metrics.json"), first_metrics);
  EXPECT_TRUE(fs::exists(dir_ / "twice" / "t" / "eval_pngs"));
  EXPECT_TRUE(fs::exists(dir_ / "twice" / "t_2" / "metrics.json"));
  EXPECT_FALSE(fs::exists(dir_ / "twice" / "t_2" / "eval_pngs"));
  CliRun third = run_cli(dir_, base + " --overwrite");
  ASSERT_EQ(third.code, 0) << third.err;
  EXPECT_FALSE(fs::exists(dir_ / "twice" / "t_3"));
  EXPECT_NE(read_file_bytes(dir_ / "twice" / "t" / "metrics.json"), first_metrics);
}

TEST_F(TestCommandCli, BadCheckpointAndUnknownFlag) {
  const fs::path bad = dir_ / "garbage.ckpt";
  write_bytes_atomic(bad, "this is not a checkpoint");
  CliRun r = run_cli(dir_, "test --dataset kitti --data_path " + root().string() + " --ckpt " +
                            bad.string() + " --threads 1 --result_dir " + (dir_ / "r").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("garbage.ckpt"), std::string::npos) << r.err;
  CliRun missing = run_cli(dir_, "test --dataset kitti --data_path " + root().string() +
                                  " --ckpt " + (dir_ / "absent.pth").string() +
                                  " --threads 1 --result_dir " + (dir_ / "r").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("absent.pth"), std::string::npos) << missing.err;
  CliRun flag = run_cli(dir_, "test --dataset kitti --data_path " + root().string() +
                               " --no_such_flag");
  EXPECT_EQ(flag.code, 2);
  CliRun crop = run_cli(dir_, "test --dataset kitti --data_path " + root().string() +
                               " --kitti_crop sideways");
  EXPECT_EQ(crop.code, 2);
  EXPECT_NE(crop.err.find("kitti_crop"), std::string::npos) << crop.err;
}

}  // namespace
}  // namespace glpdepth
