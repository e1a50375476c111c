// The fp16 loss scaler against a sequence of scales and skipped steps worked out by hand from
// torch.amp.GradScaler's rules, and its state through a checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "common/temp_dir.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/loss_scaler.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

TEST(LossScaler, HandComputedScalesAndSkippedSteps) {
  LossScalerOptions options;
  options.init_scale = 8.0;
  options.growth_factor = 2.0;
  options.backoff_factor = 0.5;
  options.growth_interval = 3;
  LossScaler scaler(options);

  // loss = w * x with x = 3, except inf at steps 2 and 7 (1-based).
  torch::Tensor w = torch::full({1}, 1.0, torch::requires_grad());
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
  // GradScaler by hand (growth after 3 clean steps, halve on inf):
  //   step     1  2    3  4  5    6  7    8  9  10
  //   scale    8  8    4  4  4    8  8    4  4  4   -> 8 after step 10
  //   stepped  y  n    y  y  y    y  n    y  y  y
  const std::vector<double> expected_scale = {8, 8, 4, 4, 4, 8, 8, 4, 4, 4};
  const std::vector<bool> expected_step = {true, false, true, true, true,
                                           true, false, true, true, true};
  double expected_w = 1.0;
  for (int step = 1; step <= 10; ++step) {
    SCOPED_TRACE(step);
    const bool inject = step == 2 || step == 7;
    const double x = inject ? std::numeric_limits<double>::infinity() : 3.0;
    EXPECT_DOUBLE_EQ(scaler.scale(), expected_scale[step - 1]);
    optimizer.zero_grad();
    torch::Tensor loss = (w * x).sum();
    torch::Tensor scaled = scaler.scale(loss);
    EXPECT_DOUBLE_EQ(scaled.item<double>(), loss.item<double>() * expected_scale[step - 1]);
    scaled.backward();
    const bool finite = scaler.unscale({w});
    EXPECT_EQ(finite, !inject);
    if (!inject) EXPECT_FLOAT_EQ(w.grad().item<float>(), 3.0f);  // the true gradient again
    const bool stepped = scaler.step(optimizer);
    EXPECT_EQ(stepped, expected_step[step - 1]);
    if (stepped) expected_w -= 0.1 * 3.0;
    EXPECT_NEAR(w.item<double>(), expected_w, 1e-6);
    scaler.update();
  }
  EXPECT_DOUBLE_EQ(scaler.scale(), 8.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(LossScaler, GrowthStopsBeforeInfinity) {
  LossScalerOptions options;
  options.init_scale = 1e308;
  options.growth_interval = 1;
  LossScaler scaler(options);
  torch::Tensor w = torch::ones({1}, torch::requires_grad());
  w.mutable_grad() = torch::ones({1});
  scaler.unscale({w});
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.scale(), 1e308);  // 2e308 overflows: kept, as GradScaler does
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(LossScaler, DisabledPassesThroughButStillSkipsNonFinite) {
  LossScalerOptions options;
  options.enabled = false;
  LossScaler scaler(options);
  torch::Tensor w = torch::full({1}, 2.0, torch::requires_grad());
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(1.0));
  torch::Tensor loss = (w * 5.0).sum();
  EXPECT_TRUE(scaler.scale(loss).is_same(loss));
  loss.backward();
  EXPECT_TRUE(scaler.unscale({w}));
  EXPECT_FLOAT_EQ(w.grad().item<float>(), 5.0f);
  EXPECT_TRUE(scaler.step(optimizer));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.scale(), 1.0);
}

TEST(LossScaler, MisuseIsAnError) {
  LossScaler scaler;
  torch::Tensor w = torch::ones({1}, torch::requires_grad());
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(1.0));
  EXPECT_THROW(scaler.step(optimizer), Error);  // step before unscale
  scaler.unscale({w});
  EXPECT_THROW(scaler.unscale({w}), Error);  // twice in one step
  LossScalerOptions bad;
  bad.backoff_factor = 1.5;
  EXPECT_THROW(LossScaler{bad}, Error);
  bad = {};
  bad.growth_interval = 0;
  EXPECT_THROW(LossScaler{bad}, Error);
  EXPECT_THROW(scaler.load_state({{"scale", -1.0}, {"growth_tracker", 0.0}}), Error);
}

TEST(LossScaler, StateSurvivesACheckpoint) {
  LossScalerOptions options;
  options.init_scale = 1024.0;
  options.growth_interval = 5;
  LossScaler scaler(options);
  torch::Tensor w = torch::ones({1}, torch::requires_grad());
  // Two clean steps, one with inf: scale 512, tracker 0; then three clean: tracker 3.
  for (bool inf : {false, false, true, false, false, false}) {
    w.mutable_grad() = torch::full({1}, inf ? std::numeric_limits<float>::infinity() : 1.0f);
    scaler.unscale({w});
    scaler.update();
  }
  ASSERT_DOUBLE_EQ(scaler.scale(), 512.0);
  ASSERT_EQ(scaler.growth_tracker(), 3);

  testing::TempDir dir;
  GLPDepthOptions model_options;
  model_options.encoder = MitEncoder::kB0;
  GLPDepth model(model_options);
  CheckpointData data;
  data.model_options = model_options;
  data.loss_scaler = scaler.state();
  save_checkpoint(dir.path() / "scaler.ckpt", model, nullptr, data);
  CheckpointData read = load_checkpoint(dir.path() / "scaler.ckpt", model, nullptr);

  LossScaler restored(options);
  restored.load_state(read.loss_scaler);
  EXPECT_DOUBLE_EQ(restored.scale(), 512.0);
  EXPECT_EQ(restored.growth_tracker(), 3);
  // Two more clean steps reach the interval: both scalers grow to 1024 together.
  for (LossScaler* s : {&scaler, &restored}) {
    for (int i = 0; i < 2; ++i) {
      w.mutable_grad() = torch::ones({1});
      s->unscale({w});
      s->update();
    }
  }
  EXPECT_DOUBLE_EQ(scaler.scale(), 1024.0);
  EXPECT_DOUBLE_EQ(restored.scale(), 1024.0);
}

}  // namespace
}  // namespace glpdepth
