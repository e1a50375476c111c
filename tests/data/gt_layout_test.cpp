// Ground-truth layouts of offline evaluation: a prediction named after its frame finds its
// ground truth where KITTI's and NYU's releases put it (the original's eval_with_pngs.py).
#include "glpdepth/data/gt_layout.h"

#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

TEST(GtLayout, KittiNamesMapToTheAnnotatedDepthFolders) {
  const auto c = gt_candidates("/gt", "2011_09_26_drive_0002_sync_0000000005.png", GtLayout::kKitti);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0], fs::path("/gt/data_depth_annotated/train/2011_09_26_drive_0002_sync/proj_depth/"
                           "groundtruth/image_02/0000000005.png"));
  EXPECT_EQ(c[1], fs::path("/gt/train/2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/"
                           "0000000005.png"));
  EXPECT_EQ(c[2].parent_path().parent_path().parent_path().parent_path().parent_path().filename(),
            "val");
}

TEST(GtLayout, NyuNamesMapToTheOfficialSplit) {
  const auto c = gt_candidates("/gt", "bathroom_rgb_00045.png", GtLayout::kNyu);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], fs::path("/gt/official_splits/test/bathroom/sync_depth_00045.png"));
  EXPECT_EQ(c[1], fs::path("/gt/bathroom/sync_depth_00045.png"));
}

TEST(GtLayout, AutoTriesTheDatasetsLayoutThenFlat) {
  const auto kitti = gt_candidates("/gt", "d_0001.png", GtLayout::kAuto, GtLayout::kKitti);
  ASSERT_EQ(kitti.size(), 5u);
  EXPECT_EQ(kitti.back(), fs::path("/gt/d_0001.png"));
  EXPECT_EQ(gt_candidates("/gt", "d_0001.png", GtLayout::kAuto),
            std::vector<fs::path>{fs::path("/gt/d_0001.png")});
  EXPECT_EQ(gt_candidates("/gt", "x.png", GtLayout::kFlat), std::vector<fs::path>{"/gt/x.png"});
  // A name without the layout's separator has no place in it.
  EXPECT_TRUE(gt_candidates("/gt", "plain.png", GtLayout::kKitti).empty());
  EXPECT_TRUE(gt_candidates("/gt", "plain.png", GtLayout::kNyu).empty());
  EXPECT_STREQ(gt_layout_name(GtLayout::kNyu), "nyu");
}

TEST(GtLayout, FirstExistingFileSkipsMissingOnesAndFolders) {
  testing::TempDir dir;
  fs::create_directories(dir / "a.png");  // a folder named like the file
  write_bytes_atomic(dir / "b.png", "x");
  EXPECT_EQ(first_existing_file({dir / "missing.png", dir / "a.png", dir / "b.png"}), dir / "b.png");
  EXPECT_TRUE(first_existing_file({dir / "missing.png"}).empty());
}

}  // namespace
}  // namespace glpdepth
