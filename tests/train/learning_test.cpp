// Training must learn: the demo recipe (--recipe demo), trained for a few steps on a tiny
// synthetic set, beats by a fixed margin the constant guess (every pixel at the median training
// depth) on held-out drives. A change that breaks learning (loss, gradients, augmentation that
// moves image and depth apart, a schedule stuck at 0) fails here without a timed test.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <sstream>

#include "common/synth_set.h"
#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/eval/baseline.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/setup.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/train/trainer.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

// The held-out drives, whole frames, set up as `glpdepth test` sets them up.
EvaluateResult evaluate_on(const fs::path& data_path, const DepthFunction& predict) {
  EvaluationRequest request;
  request.data.dataset = DatasetKind::kKitti;
  request.data.data_path = data_path;
  request.data.split = Split::kTest;
  request.settings.kitti_crop = EvalCrop::kNone;
  request.window = WindowChoice::kOff;
  request.loader.batch_size = 4;
  Evaluation evaluation = open_evaluation(request);
  return evaluate(predict, *evaluation.loader, evaluation.options);
}

TEST(Learning, DemoRecipeBeatsTheConstantGuessOnHeldOutDrives) {
  torch::set_num_threads(2);
  testing::TempDir dir;
  testing::SynthSet set;
  set.count = 48; set.scale = 0.25; set.test_fraction = 0.25; set.workers = 2;
  testing::write_synth_set(dir / "data", set);

  TrainConfig config;
  apply_recipe(config, parse_recipe("demo"));
  config.data.dataset = DatasetKind::kKitti;
  config.data.data_path = (dir / "data").string();
  config.data.workers = 1;
  config.schedule.cosine.warmup_steps = 10;  // the recipe's 100 is most of this short run
  config.loop.epochs = 10;                    // 36 frames: 90 steps
  config.validation.val_freq = 0;
  config.log.log_dir = (dir / "logs").string();
  config.runtime.seed = 1;
  std::ostringstream log;
  const fs::path checkpoint = train(config, log).last_checkpoint;

  DepthPredictor predictor = DepthPredictor::open(checkpoint, PredictorOptions{});
  const EvaluateResult model = evaluate_on(dir / "data", [&](const torch::Tensor& images,
                                                             const torch::Tensor& intrinsics) {
    return predictor.predict(images, intrinsics);
  });
  DatasetOptions train_data;
  train_data.dataset = DatasetKind::kKitti;
  train_data.data_path = dir / "data";
  train_data.split = Split::kTrain;
  train_data.window = false;
  const double median = median_depth(*make_dataset(train_data));
  const EvaluateResult guess = evaluate_on(dir / "data", constant_depth(median));

  const DepthMetrics m = model.metrics.mean(), g = guess.metrics.mean();
  std::cout << "held-out: model abs_rel " << m.abs_rel << " d1 " << m.d1 << " loss "
            << model.mean_loss() << "; constant " << median << " m: abs_rel " << g.abs_rel
            << " d1 " << g.d1 << " loss " << guess.mean_loss() << "\n";
  EXPECT_LT(model.mean_loss(), 0.8 * guess.mean_loss());
  EXPECT_LT(m.abs_rel, 0.8 * g.abs_rel);
  EXPECT_GT(m.d1, g.d1 + 0.05);
}

TEST(Learning, MedianDepthIsTheMedianOfValidPixels) {
  testing::TempDir dir;
  testing::SynthSet set;
  set.count = 3; set.seed = 2;
  testing::write_synth_set(dir / "data", set);
  DatasetOptions data;
  data.dataset = DatasetKind::kKitti;
  data.data_path = dir / "data";
  data.split = Split::kTrain;
  data.window = false;
  const auto dataset = make_dataset(data);
  std::vector<float> valid;
  for (int64_t i = 0; i < dataset->size(); ++i)
    for (float d : dataset->get(i).depth)
      if (d > 0) valid.push_back(d);
  ASSERT_FALSE(valid.empty());
  std::sort(valid.begin(), valid.end());
  EXPECT_FLOAT_EQ(median_depth(*dataset), valid[valid.size() / 2]);
  // A constant guess predicts that depth everywhere, at the batch's size.
  const torch::Tensor depth = constant_depth(7.5)(torch::zeros({2, 3, 5, 9}), torch::Tensor());
  EXPECT_EQ(depth.sizes(), torch::IntArrayRef({2, 1, 5, 9}));
  EXPECT_EQ(depth.min().item<float>(), 7.5f);
  EXPECT_EQ(depth.max().item<float>(), 7.5f);
}

}  // namespace
}  // namespace glpdepth
