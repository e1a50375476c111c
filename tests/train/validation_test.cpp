// run_validation, the validation pass of training, with stub predictors instead of a model: its
// metrics equal those recomputed here with plain loops over the validation set's ground truth,
// and its best-so-far decision follows the metric's direction.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "common/synth_set.h"
#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/train/validation.h"

namespace glpdepth {
namespace {

class ValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SynthSet set;
    set.count = 6; set.seed = 11; set.scale = 0.25; set.frames_per_drive = 2; set.val_fraction = 0.5;
    testing::write_synth_set(dir_.path(), set);
    DatasetOptions data;
    data.dataset = DatasetKind::kKitti;
    data.data_path = dir_.path();
    data.split = Split::kVal;
    data.window = false;
    dataset_ = make_dataset(data);
    LoaderOptions loader;
    loader.batch_size = 2;
    loader.workers = 0;
    loader_ = std::make_unique<Loader>(dataset_, loader);
  }

  // abs_rel and d1 of predicting `depth` everywhere, over the valid pixels of every image,
  // averaged over images (plain loops over the dataset's own samples).
  std::pair<double, double> constant_metrics(double depth) const {
    double abs_rel = 0, d1 = 0;
    for (int64_t i = 0; i < dataset_->size(); ++i) {
      const Sample s = dataset_->get(i);
      double a = 0, d = 0, n = 0;
      for (float gt : s.depth) {
        if (!(gt > 1e-3 && gt < 80.0)) continue;
        a += std::abs(depth - gt) / gt;
        d += std::max(depth / gt, gt / depth) < 1.25 ? 1 : 0;
        ++n;
      }
      abs_rel += a / n;
      d1 += d / n;
    }
    return {abs_rel / dataset_->size(), d1 / dataset_->size()};
  }

  static DepthFunction constant(double depth) {
    return [depth](const torch::Tensor& images, const torch::Tensor&) {
      return torch::full({images.size(0), 1, images.size(2), images.size(3)}, depth);
    };
  }

  testing::TempDir dir_;
  std::shared_ptr<const Dataset> dataset_;
  std::unique_ptr<Loader> loader_;
};

TEST_F(ValidationTest, MetricsOfAStubPredictorEqualPlainLoopsOverTheGroundTruth) {
  auto group = dist::Group::single();
  EvaluatorOptions options;
  const BestMetric best(Figure::kAbsRel);
  for (double depth : {8.0, 20.0}) {
    const ValidationOutcome outcome =
        run_validation(constant(depth), *loader_, options, *group, best, false, 0);
    const auto [abs_rel, d1] = constant_metrics(depth);
    const DepthMetrics mean = outcome.result.metrics.mean();
    EXPECT_NEAR(mean.abs_rel, abs_rel, 1e-6 * abs_rel) << depth;
    EXPECT_NEAR(mean.d1, d1, 1e-9) << depth;
    EXPECT_EQ(outcome.result.metrics.images(), dataset_->size());
    EXPECT_DOUBLE_EQ(outcome.value, mean.abs_rel);
    EXPECT_TRUE(outcome.improved);  // the first validation always is
  }
}

TEST_F(ValidationTest, TheBestSoFarFollowsTheMetricsDirection) {
  auto group = dist::Group::single();
  EvaluatorOptions options;
  const auto [abs_rel_8, d1_8] = constant_metrics(8.0);
  const ValidationOutcome by_abs_rel =
      run_validation(constant(8.0), *loader_, options, *group, BestMetric(Figure::kAbsRel), true, abs_rel_8 * 0.5);
  EXPECT_FALSE(by_abs_rel.improved);  // an error twice the best so far
  const ValidationOutcome by_d1 =
      run_validation(constant(8.0), *loader_, options, *group, BestMetric(Figure::kD1), true, d1_8 * 0.5);
  EXPECT_TRUE(by_d1.improved);  // d1 grows as predictions improve
}

}  // namespace
}  // namespace glpdepth
