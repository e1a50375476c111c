#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "common/temp_dir.h"
#include "data/fixtures.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/data/lists.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

TEST(ChooseHeldOut, FractionBoundsAndSeed) {
  std::vector<std::string> seqs = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  EXPECT_EQ(choose_held_out(seqs, 0.2, 1).size(), 2u);
  EXPECT_EQ(choose_held_out(seqs, 0.01, 1).size(), 1u);  // at least one
  EXPECT_EQ(choose_held_out(seqs, 0.0, 1).size(), 0u);
  EXPECT_EQ(choose_held_out(seqs, 0.99, 1).size(), 9u);  // never all
  EXPECT_EQ(choose_held_out({"only"}, 0.5, 1).size(), 0u);
  EXPECT_EQ(choose_held_out(seqs, 0.3, 7), choose_held_out(seqs, 0.3, 7));
  std::set<std::vector<std::string>> distinct;
  for (uint64_t seed = 0; seed < 10; ++seed) distinct.insert(choose_held_out(seqs, 0.3, seed));
  EXPECT_GT(distinct.size(), 3u);
}

TEST(MakeLists, DrivingStereoOfficialLayoutHoldsOutWholeSequences) {
  testing::TempDir dir;
  const std::vector<std::string> seqs = {"2018-07-09-16-11-56", "2018-07-10-09-54-03",
                                         "2018-07-16-15-18-53"};
  for (const auto& seq : seqs) testing::write_drivingstereo_train(dir.path(), seq, 16, 8, 2, ".jpg");
  // An image without depth is left out and counted.
  write_image(dir / "train-left-image" / seqs[0] / "orphan_1.jpg", testing::pattern_rgb(16, 8));
  fs::create_directories(dir / "test-left-image/left-image-half-size");
  fs::create_directories(dir / "test-depth-map/depth-map-half-size");
  for (const char* stem : {"t_2", "t_1"}) {
    write_image(dir / "test-left-image/left-image-half-size" / (std::string(stem) + ".jpg"),
                testing::pattern_rgb(16, 8));
    write_png16(dir / "test-depth-map/depth-map-half-size" / (std::string(stem) + ".png"),
                testing::pattern_depth(16, 8));
  }
  MakeListsOptions o;
  o.dataset = DatasetKind::kDrivingStereo;
  o.data_path = dir.path();
  o.val_fraction = 0.34;
  o.seed = 3;
  ListsSummary s = make_lists(o);
  EXPECT_EQ(s.out, dir / "lists");
  ASSERT_EQ(s.val_sequences.size(), 1u);
  EXPECT_EQ(s.train, 4);
  EXPECT_EQ(s.val, 2);
  EXPECT_EQ(s.test, 2);
  EXPECT_EQ(s.missing_pairs, 1);
  auto train = read_lines(dir / "lists/train.txt");
  auto val = read_lines(dir / "lists/val.txt");
  auto test = read_lines(dir / "lists/test.txt");
  ASSERT_EQ(val.size(), 2u);
  for (const auto& line : val) EXPECT_NE(line.find(s.val_sequences[0]), std::string::npos);
  for (const auto& line : train) EXPECT_EQ(line.find(s.val_sequences[0]), std::string::npos);
  EXPECT_EQ(test, (std::vector<std::string>{
                      "/test-left-image/left-image-half-size/t_1.jpg "
                      "/test-depth-map/depth-map-half-size/t_1.png",
                      "/test-left-image/left-image-half-size/t_2.jpg "
                      "/test-depth-map/depth-map-half-size/t_2.png"}));
  // The lists load, and the same seed writes the same files.
  DatasetOptions d;
  d.dataset = DatasetKind::kDrivingStereo;
  d.data_path = dir.path();
  d.window = false;
  d.split = Split::kVal;
  auto ds = make_dataset(d);
  ASSERT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->get(1).width(), 16);
  make_lists(o);
  EXPECT_EQ(read_lines(dir / "lists/val.txt"), val);
}

TEST(MakeLists, DrivingStereoFlattenedLayoutAndCustomOut) {
  testing::TempDir dir;
  fs::create_directories(dir / "train/train-left-image");
  fs::create_directories(dir / "train/train-depth-map");
  for (const char* stem : {"s1_a", "s1_b", "s2_a", "s3_a"}) {
    write_image(dir / "train/train-left-image" / (std::string(stem) + ".jpg"),
                testing::pattern_rgb(8, 4));
    write_png16(dir / "train/train-depth-map" / (std::string(stem) + ".png"),
                testing::pattern_depth(8, 4));
  }
  MakeListsOptions o;
  o.dataset = parse_dataset("ds");
  o.data_path = dir.path();
  o.val_fraction = 0.3;
  o.out = dir / "elsewhere";
  ListsSummary s = make_lists(o);
  EXPECT_EQ(s.train + s.val, 4);
  ASSERT_EQ(s.val_sequences.size(), 1u);
  EXPECT_EQ(s.val, s.val_sequences[0] == "s1" ? 2 : 1);
  auto train = read_lines(dir / "elsewhere/train.txt");
  ASSERT_FALSE(train.empty());
  EXPECT_EQ(train[0].rfind("/train/train-left-image/", 0), 0u) << train[0];
  EXPECT_EQ(s.test, 0);
  EXPECT_FALSE(s.notes.empty());
}

TEST(MakeLists, KittiTrainDrivesAndValAsTest) {
  testing::TempDir dir;
  testing::write_kitti(dir.path(), 16, 8, 2, "2011_09_26_drive_0001_sync");
  testing::write_kitti(dir.path(), 16, 8, 3, "2011_09_28_drive_0002_sync");
  // An annotated drive of the official val folder becomes the test list.
  fs::create_directories(dir / "data_depth_annotated/val/2011_09_29_drive_0004_sync/proj_depth/groundtruth/image_02");
  fs::create_directories(dir / "raw_data/2011_09_29/2011_09_29_drive_0004_sync/image_02/data");
  write_png16(dir / "data_depth_annotated/val/2011_09_29_drive_0004_sync/proj_depth/groundtruth/image_02/0000000000.png",
              testing::pattern_depth(16, 8));
  write_image(dir / "raw_data/2011_09_29/2011_09_29_drive_0004_sync/image_02/data/0000000000.png",
              testing::pattern_rgb(16, 8));
  MakeListsOptions o;
  o.dataset = DatasetKind::kKitti;
  o.data_path = dir.path();
  o.val_fraction = 0.5;
  ListsSummary s = make_lists(o);
  EXPECT_EQ(s.train + s.val, 5);
  EXPECT_EQ(s.test, 1);
  ASSERT_EQ(s.val_sequences.size(), 1u);
  auto test = read_lines(dir / "lists/test.txt");
  EXPECT_EQ(test[0], "/raw_data/2011_09_29/2011_09_29_drive_0004_sync/image_02/data/0000000000.png "
                     "/data_depth_annotated/val/2011_09_29_drive_0004_sync/proj_depth/"
                     "groundtruth/image_02/0000000000.png");
  DatasetOptions d;
  d.dataset = DatasetKind::kKitti;
  d.data_path = dir.path();
  d.window = false;
  EXPECT_EQ(make_dataset(d)->size(), s.train);
}

TEST(MakeLists, NyuSyncScenesAndOfficialTest) {
  testing::TempDir dir;
  for (const char* scene : {"bedroom_0001", "kitchen_0002", "office_0003"}) {
    fs::create_directories(dir / "sync" / scene);
    write_image(dir / "sync" / scene / "rgb_00000.jpg", testing::pattern_rgb(8, 6));
    write_png16(dir / "sync" / scene / "sync_depth_00000.png", testing::pattern_depth(8, 6));
  }
  fs::create_directories(dir / "official_splits/test/bathroom");
  write_image(dir / "official_splits/test/bathroom/rgb_00045.jpg", testing::pattern_rgb(8, 6));
  write_png16(dir / "official_splits/test/bathroom/sync_depth_00045.png", testing::pattern_depth(8, 6));
  MakeListsOptions o;
  o.dataset = DatasetKind::kNyuDepthV2;
  o.data_path = dir.path();
  o.val_fraction = 0.34;
  ListsSummary s = make_lists(o);
  EXPECT_EQ(s.train, 2);
  EXPECT_EQ(s.val, 1);
  EXPECT_EQ(s.test, 1);
  DatasetOptions d;
  d.dataset = parse_dataset("nyu");
  d.data_path = dir.path();
  d.split = Split::kTest;
  Sample t = make_dataset(d)->get(0);
  EXPECT_EQ(t.name, "bathroom_rgb_00045.jpg");
  EXPECT_FLOAT_EQ(t.depth_at(2, 1), testing::pattern_raw(2, 1) / 1000.f);
}

TEST(MakeLists, EmptyRootAndUnknownDatasetAreErrors) {
  testing::TempDir dir;
  MakeListsOptions o;
  o.dataset = DatasetKind::kKitti;
  o.data_path = dir.path();
  EXPECT_THROW(make_lists(o), Error);
  o.dataset = DatasetKind::kFolder;
  EXPECT_THROW(make_lists(o), UsageError);
  o.dataset = DatasetKind::kKitti;
  o.val_fraction = 1.0;
  EXPECT_THROW(make_lists(o), Error);
}

}  // namespace
}  // namespace glpdepth
