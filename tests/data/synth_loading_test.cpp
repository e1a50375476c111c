// The contract between `glpdepth synth` and the datasets: synthetic data in both layouts loads
// with the right depth (metres), intrinsics and names, and make-lists regroups it.
#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/data/lists.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/data/synth.h"

namespace glpdepth {
namespace {

TEST(SynthLoading, KittiLayoutDepthAndCalibration) {
  testing::TempDir dir;
  synth::SynthOptions so;
  so.camera = synth::scale_camera(synth::camera_preset("kitti"), 0.1);
  so.count = 4;
  so.frames_per_drive = 2;
  so.val_fraction = 0.25;
  so.test_fraction = 0.25;
  so.workers = 1;
  so.layout = DatasetKind::kKitti;
  synth::write_dataset(dir.path(), so);

  DatasetOptions o;
  o.dataset = DatasetKind::kKitti;
  o.data_path = dir.path();
  o.window = false;  // frames are smaller than the kb-crop
  auto ds = make_dataset(o);
  ASSERT_GT(ds->size(), 0);
  Sample s = ds->get(0);
  EXPECT_EQ(s.width(), so.camera.width);
  EXPECT_EQ(s.height(), so.camera.height);
  EXPECT_NEAR(s.intrinsics.fx, so.camera.fx, 1e-3);
  EXPECT_NEAR(s.intrinsics.cx, so.camera.cx, 1e-3);
  EXPECT_NEAR(s.intrinsics.cy, so.camera.cy, 1e-3);
  EXPECT_EQ(s.name.substr(s.name.size() - 15), "_0000000000.png");
  // The file's depth is the generator's metric depth quantised to 1/256 m.
  synth::Frame f = synth::generate_frame(so, static_cast<int>(0));
  ASSERT_EQ(f.depth_metres.size(), s.depth.size());
  int valid = 0;
  for (size_t i = 0; i < s.depth.size(); ++i) {
    // Beyond max_depth the files hold 0 (invalid), like real ground truth.
    const double expected = f.depth_metres[i] <= so.max_depth ? f.depth_metres[i] : 0.0;
    EXPECT_NEAR(s.depth[i], expected, 0.5 / 256 + 1e-6) << i;
    valid += s.depth[i] > 0;
  }
  EXPECT_GT(valid, 0);

  MakeListsOptions m;
  m.dataset = DatasetKind::kKitti;
  m.data_path = dir.path();
  m.out = dir / "regrouped";
  ListsSummary summary = make_lists(m);
  EXPECT_EQ(summary.train + summary.val + summary.test, 4);
}

TEST(SynthLoading, DrivingStereoLayoutThroughTheLoader) {
  testing::TempDir dir;
  synth::SynthOptions so;
  so.camera = synth::scale_camera(synth::camera_preset("drivingstereo"), 0.1);
  so.count = 6;
  so.frames_per_drive = 2;
  so.val_fraction = 0.34;
  so.test_fraction = 0.34;
  so.workers = 1;
  so.layout = DatasetKind::kDrivingStereo;
  synth::write_dataset(dir.path(), so);

  DatasetOptions o;
  o.dataset = DatasetKind::kDrivingStereo;
  o.data_path = dir.path();
  o.window = false;
  std::shared_ptr<const Dataset> ds = make_dataset(o);
  ASSERT_GT(ds->size(), 0);
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.workers = 2;
  Loader loader(ds, lo);
  int64_t seen = 0;
  for (Batch& b : loader) {
    seen += b.size();
    EXPECT_EQ(b.image.size(2), so.camera.height);
    EXPECT_EQ(b.image.size(3), so.camera.width);
    EXPECT_NEAR(b.intrinsics[0][0].item<float>(), so.camera.fx, 1e-3);
    EXPECT_GT(b.depth.max().item<float>(), 0.f);
    EXPECT_LE(b.depth.max().item<float>(), so.max_depth + 1e-3);
  }
  EXPECT_EQ(seen, ds->size());

  MakeListsOptions m;
  m.dataset = DatasetKind::kDrivingStereo;
  m.data_path = dir.path();
  m.val_fraction = 0.5;
  m.out = dir / "regrouped";
  ListsSummary summary = make_lists(m);
  EXPECT_EQ(summary.train + summary.val + summary.test, 6);
  EXPECT_GT(summary.test, 0);
  EXPECT_GT(summary.val, 0);
}

}  // namespace
}  // namespace glpdepth
