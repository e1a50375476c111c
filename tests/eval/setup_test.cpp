// One setup for every evaluation (eval/setup.h): the dataset's conventions, the window decision,
// the evaluator's options and the loader, as `glpdepth test` and training's validation use them.
#include "glpdepth/eval/setup.h"

#include <gtest/gtest.h>

#include "common/synth_set.h"
#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

TEST(EvalSettings, DatasetConventionsFollowTheName) {
  EvalSettings given;
  given.max_depth_eval = 0;
  EXPECT_EQ(resolve_eval_settings(given, parse_dataset("KITTI")).dataset, DatasetKind::kKitti);
  EXPECT_EQ(resolve_eval_settings(given, DatasetKind::kKitti).max_depth_eval, 80);
  EXPECT_EQ(resolve_eval_settings(given, parse_dataset("nyu_depth_v2")).dataset, DatasetKind::kNyuDepthV2);
  EXPECT_EQ(resolve_eval_settings(given, parse_dataset("nyu")).max_depth_eval, 10);
  EXPECT_EQ(resolve_eval_settings(given, parse_dataset("ds")).dataset, DatasetKind::kDrivingStereo);
  EXPECT_EQ(resolve_eval_settings(given, DatasetKind::kFolder).dataset, DatasetKind::kFolder);
  given.max_depth_eval = 50;  // an explicit range stays
  EXPECT_EQ(resolve_eval_settings(given, parse_dataset("nyu")).max_depth_eval, 50);
}

class OpenEvaluation : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SynthSet set;
    set.count = 8; set.seed = 4; set.scale = 0.25; set.frames_per_drive = 2; set.test_fraction = 0.5;
    testing::write_synth_set(dir_.path(), set);
    request_.data.dataset = DatasetKind::kKitti;
    request_.data.data_path = dir_.path();
    request_.data.split = Split::kTest;
    request_.settings.max_depth_eval = 0;
    request_.loader.batch_size = 3;
  }
  testing::TempDir dir_;
  EvaluationRequest request_;
};

TEST_F(OpenEvaluation, SmallFramesAreEvaluatedWholeUnderAuto) {
  const Evaluation e = open_evaluation(request_);
  EXPECT_FALSE(e.data.windowed);
  EXPECT_NE(e.data.note.find("smaller than the kitti window"), std::string::npos) << e.data.note;
  EXPECT_EQ(e.options.settings.dataset, DatasetKind::kKitti);
  EXPECT_EQ(e.options.settings.max_depth_eval, 80);
  EXPECT_FALSE(e.options.input_window.has_value());
  EXPECT_EQ(e.png_scale, 256);
  EXPECT_EQ(e.data.dataset->size(), 4);
  EXPECT_EQ(e.loader->num_batches(), 2);  // 4 images in batches of 3
  EXPECT_TRUE(e.options.keep_per_image);
  EXPECT_TRUE(e.options.sinks.empty());
}

TEST_F(OpenEvaluation, AWindowThatFitsIsCutByTheLoaderOrFromTheImageOnly) {
  request_.data.window_h = 64;
  request_.data.window_w = 160;
  request_.silog_lambda = 0.85;
  request_.keep_per_image = false;
  const Evaluation cropped = open_evaluation(request_);
  EXPECT_TRUE(cropped.data.windowed);
  EXPECT_TRUE(cropped.data.note.empty());
  EXPECT_FALSE(cropped.options.input_window.has_value());
  EXPECT_EQ(cropped.data.dataset->get(0).height(), 64);
  EXPECT_EQ(cropped.options.silog_lambda, 0.85);
  EXPECT_FALSE(cropped.options.keep_per_image);
  // KITTI full-frame: the ground truth keeps its frame, the window is cut from the image only.
  request_.settings.protocol = KittiProtocol::kFullFrame;
  const Evaluation full = open_evaluation(request_);
  ASSERT_TRUE(full.options.input_window.has_value());
  EXPECT_EQ(full.options.input_window->height, 64);
  EXPECT_EQ(full.data.dataset->get(0).height(), 94);
  request_.window = WindowChoice::kOff;
  EXPECT_FALSE(open_evaluation(request_).data.windowed);
}

}  // namespace
}  // namespace glpdepth
