// The evaluator behind `glpdepth test` and validation: windows, the KITTI full-frame protocol
// and exact reduction across ranks, checked against metrics recomputed here with plain loops.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "common/synth_set.h"
#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/infer/predictor.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

// 311x94 KITTI-layout frames: small enough for a 64x160 window to stand in for the kb-crop.
class EvaluatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    dir_ = new testing::TempDir();
    testing::SynthSet set;
    set.count = 4; set.seed = 6; set.scale = 0.25; set.frames_per_drive = 2; set.test_fraction = 0.5;
    testing::write_synth_set(dir_->path(), set);
    torch::manual_seed(8);
    GLPDepthOptions model;
    model.encoder = MitEncoder::kB0;
    predictor_ = new DepthPredictor(GLPDepth(model), PredictorOptions{});
  }
  static void TearDownTestSuite() {
    delete predictor_;
    delete dir_;
  }

  static DatasetOptions data(int window_h = 64, int window_w = 160) {
    DatasetOptions options;
    options.dataset = DatasetKind::kKitti;
    options.data_path = dir_->path();
    options.split = Split::kTest;
    options.window_h = window_h;
    options.window_w = window_w;
    return options;
  }
  static EvalSettings kitti(KittiProtocol protocol) {
    EvalSettings settings;
    settings.dataset = DatasetKind::kKitti;
    settings.protocol = protocol;
    return settings;
  }

  static testing::TempDir* dir_;
  static DepthPredictor* predictor_;
};
testing::TempDir* EvaluatorTest::dir_ = nullptr;
DepthPredictor* EvaluatorTest::predictor_ = nullptr;

// abs_rel, rmse and d1 of one image over the pixels where `mask` holds, in double.
std::array<double, 3> plain_metrics(const torch::Tensor& pred, const torch::Tensor& gt,
                                    const torch::Tensor& mask) {
  auto p = pred.to(torch::kFloat64).contiguous(), g = gt.to(torch::kFloat64).contiguous();
  auto m = mask.contiguous();
  const double* pp = p.data_ptr<double>();
  const double* gg = g.data_ptr<double>();
  const bool* mm = m.data_ptr<bool>();
  double abs_rel = 0, sq = 0, d1 = 0, n = 0;
  for (int64_t i = 0; i < p.numel(); ++i) {
    if (!mm[i]) continue;
    abs_rel += std::abs(pp[i] - gg[i]) / gg[i];
    sq += (pp[i] - gg[i]) * (pp[i] - gg[i]);
    d1 += std::max(pp[i] / gg[i], gg[i] / pp[i]) < 1.25 ? 1 : 0;
    ++n;
  }
  return {abs_rel / n, std::sqrt(sq / n), d1 / n};
}

EvaluateResult run(DepthPredictor& predictor, const EvalData& eval_data, const EvalSettings& settings,
                   int rank = 0, int world = 1) {
  LoaderOptions loader_options;
  loader_options.workers = 0;
  loader_options.rank = rank;
  loader_options.world_size = world;
  Loader loader(eval_data.dataset, loader_options);
  EvaluatorOptions options;
  options.settings = settings;
  options.input_window = eval_data.input_window;
  return evaluate(predictor, loader, options);
}

TEST_F(EvaluatorTest, FullFrameProtocolPredictsTheWindowAndScoresOnlyUnderIt) {
  const EvalSettings settings = kitti(KittiProtocol::kFullFrame);
  const EvalData eval_data = open_eval_data(data(), settings, WindowChoice::kOn);
  ASSERT_TRUE(eval_data.input_window.has_value());
  EXPECT_EQ(eval_data.window_description(), "160x64");
  const EvaluateResult result = run(*predictor_, eval_data, settings);
  ASSERT_EQ(result.metrics.images(), eval_data.dataset->size());

  // By hand: cut the window (rows 30..94, cols 75..235 of 94x311), predict it, and score it
  // against the full-size ground truth under the window only.
  std::array<double, 3> sum{};
  for (int64_t i = 0; i < eval_data.dataset->size(); ++i) {
    const Sample s = eval_data.dataset->get(i);
    ASSERT_EQ(s.height(), 94);
    const Batch full = collate({s});
    const int top = 94 - 64, left = (311 - 160) / 2;
    torch::Tensor pred = predictor_->predict(
        full.image.slice(2, top, top + 64).slice(3, left, left + 160))[0][0];
    torch::Tensor gt = full.depth[0][0].slice(0, top, top + 64).slice(1, left, left + 160);
    auto m = plain_metrics(pred, gt, (gt > 1e-3) & (gt < 80.0));
    for (int k = 0; k < 3; ++k) sum[k] += m[k] / eval_data.dataset->size();
  }
  const DepthMetrics mean = result.metrics.mean();
  EXPECT_NEAR(mean.abs_rel, sum[0], 1e-9 * sum[0]);
  EXPECT_NEAR(mean.rmse, sum[1], 1e-9 * sum[1]);
  EXPECT_NEAR(mean.d1, sum[2], 1e-12);
}

TEST_F(EvaluatorTest, KbCropProtocolCutsImageAndGroundTruthAlike) {
  const EvalSettings settings = kitti(KittiProtocol::kKbCrop);
  const EvalData eval_data = open_eval_data(data(), settings, WindowChoice::kOn);
  EXPECT_FALSE(eval_data.input_window.has_value());
  EXPECT_TRUE(eval_data.windowed);
  const Sample first = eval_data.dataset->get(0);
  EXPECT_EQ(first.height(), 64);  // the loader crops
  EXPECT_EQ(first.width(), 160);
  const EvaluateResult result = run(*predictor_, eval_data, settings);
  double abs_rel = 0;
  for (int64_t i = 0; i < eval_data.dataset->size(); ++i) {
    const Batch b = collate({eval_data.dataset->get(i)});
    torch::Tensor gt = b.depth[0][0];
    abs_rel += plain_metrics(predictor_->predict(b.image)[0][0], gt, (gt > 1e-3) & (gt < 80.0))[0];
  }
  abs_rel /= eval_data.dataset->size();
  EXPECT_NEAR(result.metrics.mean().abs_rel, abs_rel, 1e-9 * abs_rel);
}

TEST_F(EvaluatorTest, AutoLeavesTheWindowOffForSmallFramesAndSaysWhy) {
  const EvalData eval_data =
      open_eval_data(data(0, 0), kitti(KittiProtocol::kKbCrop), WindowChoice::kAuto);
  EXPECT_FALSE(eval_data.windowed);
  EXPECT_EQ(eval_data.window_description(), "none");
  EXPECT_NE(eval_data.note.find("311x94"), std::string::npos) << eval_data.note;
  EXPECT_EQ(eval_data.dataset->get(0).width(), 311);
}

TEST_F(EvaluatorTest, RanksSumToExactlyTheWholeEvaluation) {
  const EvalSettings settings = kitti(KittiProtocol::kKbCrop);
  const EvalData eval_data = open_eval_data(data(0, 0), settings, WindowChoice::kOff);
  const EvaluateResult whole = run(*predictor_, eval_data, settings);
  std::vector<double> sum = run(*predictor_, eval_data, settings, 0, 2).state();
  const std::vector<double> other = run(*predictor_, eval_data, settings, 1, 2).state();
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += other[i];
  const EvaluateResult reduced = EvaluateResult::from_state(sum);
  EXPECT_EQ(reduced.metrics.images(), whole.metrics.images());
  EXPECT_EQ(reduced.images, whole.images);
  EXPECT_NEAR(reduced.mean_loss(), whole.mean_loss(), 1e-12);
  const auto a = reduced.metrics.mean().values(), b = whole.metrics.mean().values();
  for (size_t k = 0; k < a.size(); ++k) EXPECT_NEAR(a[k], b[k], 1e-12 * std::max(1.0, std::abs(b[k])));
}

TEST_F(EvaluatorTest, SinksGetEveryImageByName) {
  testing::TempDir out;
  const EvalSettings settings = kitti(KittiProtocol::kKbCrop);
  const EvalData eval_data = open_eval_data(data(0, 0), settings, WindowChoice::kOff);
  LoaderOptions loader_options;
  loader_options.workers = 0;
  loader_options.batch_size = 2;
  Loader loader(eval_data.dataset, loader_options);
  EvaluatorOptions options;
  options.settings = settings;
  options.sinks.push_back(eval_png_sink(out.path() / "png", 256.0));
  options.sinks.push_back(visualize_sink(out.path() / "vis", Colormap::kTurbo, 0, 80));
  evaluate(*predictor_, loader, options);
  for (int64_t i = 0; i < eval_data.dataset->size(); ++i) {
    const std::string name = png_name(eval_data.dataset->get(i).name);
    EXPECT_TRUE(fs::exists(out.path() / "png" / name)) << name;
    EXPECT_TRUE(fs::exists(out.path() / "vis" / name)) << name;
  }
}

}  // namespace
}  // namespace glpdepth
