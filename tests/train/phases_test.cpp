// The trainer's decisions: which validation is best, when checkpoints are written.
#include <gtest/gtest.h>

#include "glpdepth/train/phases.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

EvaluateResult result_with(double abs_rel, double d1, double loss) {
  std::vector<double> state(MetricAccumulator::kStateSize + 3, 0.0);
  state[0] = 1;  // one image
  DepthMetrics m;
  m.abs_rel = abs_rel;
  m.d1 = d1;
  const auto values = m.values();
  for (size_t k = 0; k < values.size(); ++k) state[2 + k] = values[k];
  state[MetricAccumulator::kStateSize] = loss;      // loss sum
  state[MetricAccumulator::kStateSize + 1] = 1;     // images with a loss
  return EvaluateResult::from_state(state);
}

TEST(BestMetric, ErrorsShrinkAndAccuraciesGrow) {
  const EvaluateResult a = result_with(0.2, 0.7, 0.30), b = result_with(0.1, 0.6, 0.35);
  BestMetric abs_rel(Figure::kAbsRel), d1(Figure::kD1), loss(parse_figure("val_loss"));
  EXPECT_DOUBLE_EQ(abs_rel.value_of(a), 0.2);
  EXPECT_DOUBLE_EQ(d1.value_of(b), 0.6);
  EXPECT_DOUBLE_EQ(loss.value_of(b), 0.35);
  EXPECT_TRUE(abs_rel.improves(abs_rel.value_of(b), true, abs_rel.value_of(a)));
  EXPECT_FALSE(d1.improves(d1.value_of(b), true, d1.value_of(a)));
  EXPECT_FALSE(loss.improves(loss.value_of(b), true, loss.value_of(a)));
  EXPECT_TRUE(d1.improves(0.0, false, 0.0));  // the first validation is always the best so far
  EXPECT_FALSE(abs_rel.improves(0.2, true, 0.2));  // ties keep the earlier checkpoint
  EXPECT_THROW(parse_figure("accuracy"), UsageError);
  EXPECT_THROW(BestMetric{Figure::kTrainLoss}, UsageError);  // no validation figure
}

// One table of names: every figure's name parses back to it, "loss" is val_loss, and the metric
// names are DepthMetrics' own (BestMetric reads them by name).
TEST(Figure, NamesRoundTripAndMatchTheMetrics) {
  for (const auto& [name, figure] : figure_names()) EXPECT_EQ(parse_figure(to_string(figure)), figure) << name;
  EXPECT_EQ(parse_figure("loss"), Figure::kValLoss);
  EXPECT_EQ(to_string(Figure::kValLoss), "val_loss");
  for (const char* metric : DepthMetrics::names()) EXPECT_EQ(to_string(parse_figure(metric)), metric);
  EXPECT_TRUE(higher_is_better(Figure::kD2));
  EXPECT_FALSE(higher_is_better(Figure::kRmse));
}

TEST(CheckpointCadence, StepsMinutesAndEpochFiles) {
  CheckpointOptions options;
  options.save_every_steps = 3;
  CheckpointCadence steps(options);
  std::vector<int64_t> due;
  for (int64_t s = 1; s <= 10; ++s)
    if (steps.step_checkpoint_due(s, 0.0)) due.push_back(s);
  EXPECT_EQ(due, (std::vector<int64_t>{3, 6, 9}));
  options = {};
  options.save_every_minutes = 2;
  CheckpointCadence minutes(options);
  EXPECT_FALSE(minutes.step_checkpoint_due(7, 119.0));
  EXPECT_TRUE(minutes.step_checkpoint_due(7, 120.0));
  EXPECT_FALSE(CheckpointCadence(CheckpointOptions{}).step_checkpoint_due(1, 1e9));
  options = {};
  options.save_model = true;
  EXPECT_TRUE(CheckpointCadence(options).keep_epoch_file(3, true));
  EXPECT_FALSE(CheckpointCadence(options).keep_epoch_file(3, false));
  options = {};
  options.save_freq = 5;
  EXPECT_TRUE(CheckpointCadence(options).keep_epoch_file(10, false));
  EXPECT_FALSE(CheckpointCadence(options).keep_epoch_file(11, true));
  EXPECT_EQ(CheckpointCadence::epoch_file(3), "epoch_03.ckpt");
}

}  // namespace
}  // namespace glpdepth
