// What the fast inference paths cost in accuracy, measured where it means something: a small
// model trained here on synthetic drives (random weights predict about max_depth/2 everywhere
// and would hide any difference), evaluated on held-out drives with every backend and
// precision. OpenVINO fp32 must give LibTorch fp32's nine metrics; bf16 (OpenVINO's hint, and
// LibTorch's CPU autocast where it has one) may move them only a little. The figures go to the
// test's output (docs/PERFORMANCE.md quotes them).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "common/openvino.h"
#include "common/synth_set.h"
#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/setup.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/train/trainer.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

class InferencePrecision : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(2);
    dir_ = new testing::TempDir();
    testing::SynthSet set;
    set.count = 40; set.seed = 11; set.scale = 0.2; set.test_fraction = 0.2; set.workers = 2;
    testing::write_synth_set(dir_->path() / "data", set);

    TrainConfig config;
    config.data.dataset = DatasetKind::kKitti;
    config.data.data_path = (dir_->path() / "data").string();
    config.data.workers = 1;
    config.data.window = WindowChoice::kOff;
    config.model.model.encoder = MitEncoder::kB0;
    config.model.pretrained = "none";
    config.model.drop_path_rate = 0;
    config.augment.crop_h = 64;
    config.augment.crop_w = 192;
    config.augment.cutdepth_p = 0;
    config.optim.lr = 1e-3;
    config.schedule.kind = ScheduleKind::kConstant;
    config.loop.epochs = 10;
    config.loop.batch_size = 4;
    config.validation.val_freq = 0;
    config.log.log_dir = (dir_->path() / "logs").string();
    config.log.exp_name = "precision";
    config.runtime.seed = 3;
    std::ostringstream log;
    checkpoint_ = new fs::path(train(config, log).last_checkpoint);
  }
  static void TearDownTestSuite() {
    delete checkpoint_;
    delete dir_;
  }

  // Mean metrics on the held-out drives (whole frames, padded to 256x96 inside the model).
  static DepthMetrics evaluate_with(const PredictorOptions& options) {
    DepthPredictor predictor = DepthPredictor::open(*checkpoint_, options);
    return evaluate_on_test_drives(predictor);
  }

  static DepthMetrics evaluate_on_test_drives(DepthPredictor& predictor) {
    EvaluationRequest request;
    request.data.dataset = DatasetKind::kKitti;
    request.data.data_path = dir_->path() / "data";
    request.data.split = Split::kTest;
    request.settings.kitti_crop = EvalCrop::kNone;
    request.window = WindowChoice::kOff;
    request.loader.batch_size = 2;
    Evaluation evaluation = open_evaluation(request);
    return evaluate(predictor, *evaluation.loader, evaluation.options).metrics.mean();
  }

  static PredictorOptions with(Backend backend, Precision precision) {
    PredictorOptions options;
    options.backend = backend;
    options.precision = precision;
    return options;
  }

  static void print(const std::string& label, const DepthMetrics& metrics, const DepthMetrics& base) {
    std::ostringstream line;
    line << std::setw(16) << std::left << label << std::right << std::fixed;
    const auto values = metrics.values(), reference = base.values();
    for (size_t i = 0; i < values.size(); ++i)
      line << " " << DepthMetrics::names()[i] << " " << std::setprecision(5) << values[i] << " ("
           << std::showpos << std::setprecision(2)
           << 100.0 * (values[i] - reference[i]) / std::max(std::abs(reference[i]), 1e-12)
           << "%)" << std::noshowpos;
    std::cout << line.str() << "\n";
  }

  static testing::TempDir* dir_;
  static fs::path* checkpoint_;
};
testing::TempDir* InferencePrecision::dir_ = nullptr;
fs::path* InferencePrecision::checkpoint_ = nullptr;

double relative(double value, double reference) {
  return std::abs(value - reference) / std::max(std::abs(reference), 1e-12);
}

// One test (ctest runs each test in its own process, and each would train the model again).
TEST_F(InferencePrecision, OpenVinoFp32GivesLibTorchsMetricsAndBf16MovesThemByUnderOnePercent) {
  GLPDEPTH_OPENVINO_OR_SKIP();
  const DepthMetrics base = evaluate_with(with(Backend::kLibTorch, Precision::kFloat32));
  // The model did learn (else the bounds below say little): it beats its own untrained start
  // by a wide margin.
  PredictorOptions untrained = with(Backend::kLibTorch, Precision::kFloat32);
  untrained.model.encoder = MitEncoder::kB0;
  DepthPredictor random = DepthPredictor::random_weights(untrained);
  EXPECT_LT(base.abs_rel, 0.7 * evaluate_on_test_drives(random).abs_rel);
  print("libtorch fp32", base, base);

  const DepthMetrics openvino = evaluate_with(with(Backend::kOpenVino, Precision::kFloat32));
  print("openvino fp32", openvino, base);
  const auto values = openvino.values(), reference = base.values();
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_LE(relative(values[i], reference[i]), 1e-5) << DepthMetrics::names()[i];

  std::vector<std::pair<std::string, PredictorOptions>> fast = {
      {"openvino bf16", with(Backend::kOpenVino, Precision::kBFloat16)}};
  if (cpu_autocast_available())
    fast.push_back({"libtorch bf16", with(Backend::kLibTorch, Precision::kBFloat16)});
  for (const auto& [label, options] : fast) {
    const DepthMetrics metrics = evaluate_with(options);
    print(label, metrics, base);
    EXPECT_LE(relative(metrics.abs_rel, base.abs_rel), 0.01) << label;
    EXPECT_LE(relative(metrics.rmse, base.rmse), 0.01) << label;
    EXPECT_LE(std::abs(metrics.d1 - base.d1), 0.01) << label;
  }
}

}  // namespace
}  // namespace glpdepth
