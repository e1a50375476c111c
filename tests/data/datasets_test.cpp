#include <gtest/gtest.h>
#include <cctype>

#include "common/errors.h"
#include "common/temp_dir.h"
#include "data/fixtures.h"
#include "glpdepth/data/dataset.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

using testing::pattern_raw;
using testing::TempDir;
using testing::write_text;
namespace fs = std::filesystem;

using testing::error_of;

TEST(DatasetDefaults, TableHoldsTheSpecNumbers) {
  const auto& k = dataset_defaults(parse_dataset("KITTI"));
  EXPECT_EQ(k.name, "kitti");
  EXPECT_EQ(k.crop_h, 352);
  EXPECT_EQ(k.crop_w, 704);
  EXPECT_EQ(k.depth_scale, 256.f);
  EXPECT_EQ(k.window.kind, WindowKind::kBottomCentre);
  EXPECT_EQ(k.window.height, 352);
  EXPECT_EQ(k.window.width, 1216);
  const auto& ds = dataset_defaults(parse_dataset("ds"));
  EXPECT_EQ(ds.name, "drivingstereo");
  EXPECT_EQ(ds.window.height, 384);
  EXPECT_EQ(ds.window.width + ds.window.right_margin, 873);
  EXPECT_EQ(ds.crop_h, 352);
  EXPECT_EQ(ds.crop_w, 704);
  const auto& nyu = dataset_defaults(parse_dataset("nyu"));
  EXPECT_EQ(nyu.name, "nyudepthv2");
  EXPECT_EQ(nyu.depth_scale, 1000.f);
  EXPECT_EQ(nyu.max_depth, 10.f);
  EXPECT_EQ(nyu.crop_h, 448);
  EXPECT_EQ(nyu.crop_w, 576);
  EXPECT_EQ(nyu.window.kind, WindowKind::kNone);
  EXPECT_EQ(nyu.max_depth_eval, 10.f);
  const auto& folder = dataset_defaults(DatasetKind::kFolder);
  EXPECT_EQ(folder.folder, "");
  EXPECT_EQ(folder.depth_scale, 256.f);  // ground truth of image folders: the driving convention
  EXPECT_EQ(ds.folder, "DrivingStereo");
  EXPECT_EQ(nyu.folder, "nyu_depth_v2");
}

TEST(DatasetKind, EveryNameAndAliasParsesToItsRowInAnyCase) {
  ASSERT_EQ(dataset_table().size(), 4u);
  for (const DatasetDefaults& row : dataset_table()) {
    EXPECT_EQ(&dataset_defaults(row.kind), &row);
    EXPECT_EQ(to_string(row.kind), row.name);
    EXPECT_EQ(parse_dataset(row.name), row.kind);
    for (const std::string& alias : row.aliases) {
      EXPECT_EQ(parse_dataset(alias), row.kind) << alias;
      std::string upper = alias;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      EXPECT_EQ(parse_dataset(upper), row.kind) << upper;
    }
  }
  EXPECT_EQ(parse_dataset("DrivingStereo"), DatasetKind::kDrivingStereo);
  EXPECT_EQ(parse_dataset("nyu"), DatasetKind::kNyuDepthV2);
  EXPECT_EQ(parse_dataset("generic"), DatasetKind::kFolder);
}

TEST(DatasetKind, UnknownNamesListTheKnownOnesAndGuess) {
  std::string msg = error_of([] { parse_dataset("cityscapes"); });
  EXPECT_NE(msg.find("unknown dataset 'cityscapes'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kitti, drivingstereo, nyudepthv2, folder"), std::string::npos) << msg;
  EXPECT_THROW(parse_dataset("cityscapes"), UsageError);
  msg = error_of([] { parse_dataset("kitty"); });
  EXPECT_NE(msg.find("did you mean kitti?"), std::string::npos) << msg;
}

TEST(KittiDataset, KbCropScalingNameAndIntrinsics) {
  TempDir dir;
  write_text(dir / "lists/test.txt", testing::write_kitti(dir.path(), 1242, 375, 2));
  DatasetOptions o;
  o.dataset = DatasetKind::kKitti;
  o.data_path = dir.path();
  o.split = Split::kTest;
  auto ds = make_dataset(o);
  ASSERT_EQ(ds->size(), 2);
  Sample s = ds->get(1);
  ASSERT_EQ(s.width(), 1216);
  ASSERT_EQ(s.height(), 352);
  // kb-crop of 375x1242: top 23, left int(26/2) = 13.
  const int top = 23, left = 13;
  for (auto [x, y] : std::vector<std::pair<int, int>>{{0, 0}, {100, 7}, {1215, 351}}) {
    EXPECT_FLOAT_EQ(s.depth_at(x, y), pattern_raw(x + left, y + top, 1) / 256.f);
    const uint8_t* p = s.rgb.at(x, y);
    EXPECT_EQ(p[0], (x + left + 1) % 256);
    EXPECT_EQ(p[1], (y + top + 2) % 256);
    EXPECT_EQ(p[2], (x + left + y + top) % 256);
  }
  EXPECT_EQ(s.name, "2011_09_26_drive_0002_sync_0000000001.png");
  EXPECT_EQ(s.line, 2);
  EXPECT_NE(s.source.find("line 2"), std::string::npos);
  // P_rect_02 of the date folder, moved by the crop.
  EXPECT_FLOAT_EQ(s.intrinsics.fx, 721.5f);
  EXPECT_FLOAT_EQ(s.intrinsics.fy, 721.6f);
  EXPECT_FLOAT_EQ(s.intrinsics.cx, 609.5f - left);
  EXPECT_FLOAT_EQ(s.intrinsics.cy, 172.8f - top);

  // Window off: the full frame, same intrinsics as the file.
  o.window = false;
  Sample full = make_dataset(o)->get(0);
  EXPECT_EQ(full.width(), 1242);
  EXPECT_EQ(full.height(), 375);
  EXPECT_FLOAT_EQ(full.intrinsics.cx, 609.5f);
  // A smaller window through the overrides.
  o.window = std::nullopt;
  o.window_h = 64;
  o.window_w = 128;
  Sample small = make_dataset(o)->get(0);
  EXPECT_EQ(small.width(), 128);
  EXPECT_EQ(small.height(), 64);
  EXPECT_FLOAT_EQ(small.depth_at(0, 0), pattern_raw((1242 - 128) / 2, 375 - 64, 0) / 256.f);
}

TEST(KittiDataset, ExplicitListAndBtsFocalColumn) {
  TempDir dir;
  std::string list = testing::write_kitti(dir.path(), 1216, 352, 1);
  list.insert(list.size() - 1, " 721.5377");  // BTS lists carry the focal length third
  write_text(dir / "my.txt", list);
  DatasetOptions o;
  o.dataset = DatasetKind::kKitti;
  o.data_path = dir.path();
  o.list = dir / "my.txt";
  auto ds = make_dataset(o);
  ASSERT_EQ(ds->size(), 1);
  EXPECT_EQ(ds->get(0).width(), 1216);
}

TEST(KittiDataset, MissingListSuggestsMakeLists) {
  TempDir dir;
  DatasetOptions o;
  o.dataset = DatasetKind::kKitti;
  o.data_path = dir.path();
  std::string msg = error_of([&] { make_dataset(o); });
  EXPECT_NE(msg.find((dir / "lists/train.txt").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("make-lists"), std::string::npos) << msg;
}

TEST(DrivingStereoDataset, OfficialLayoutWindowAndCamera) {
  TempDir dir;
  const std::string seq = "2018-07-09-16-11-56";
  write_text(dir / "lists/val.txt", testing::write_drivingstereo_train(dir.path(), seq, 881, 400, 2));
  // camera.json given for a 1762x800 frame: intrinsics halve for 881x400.
  write_text(dir / "camera.json",
             R"({"fx": 2000.0, "fy": 2002.0, "cx": 880.0, "cy": 400.0, "width": 1762, "height": 800})");
  DatasetOptions o;
  o.dataset = DatasetKind::kDrivingStereo;
  o.data_path = dir.path();
  o.split = Split::kVal;
  auto ds = make_dataset(o);
  Sample s = ds->get(1);
  ASSERT_EQ(s.width(), 864);
  ASSERT_EQ(s.height(), 384);
  // 881x400: rows 16:400, cols 8:872.
  EXPECT_FLOAT_EQ(s.depth_at(0, 0), pattern_raw(8, 16, 1) / 256.f);
  EXPECT_FLOAT_EQ(s.depth_at(863, 383), pattern_raw(871, 399, 1) / 256.f);
  EXPECT_EQ(s.rgb.at(0, 0)[0], (8 + 1) % 256);
  EXPECT_EQ(s.rgb.at(0, 0)[1], (16 + 2) % 256);
  EXPECT_EQ(s.name, seq + "_" + seq + "_" + seq + "-101.png");
  EXPECT_FLOAT_EQ(s.intrinsics.fx, 1000.f);
  EXPECT_FLOAT_EQ(s.intrinsics.fy, 1001.f);
  EXPECT_FLOAT_EQ(s.intrinsics.cx, 440.f - 8);
  EXPECT_FLOAT_EQ(s.intrinsics.cy, 200.f - 16);
}

TEST(DrivingStereoDataset, FlattenedTestLayoutAndJpeg) {
  TempDir dir;
  const std::string stem = "2018-07-11-14-48-52_2018-07-11-14-48-52-570";
  fs::create_directories(dir / "test/test-left-image/left-image-half-size");
  fs::create_directories(dir / "test/test-depth-map/depth-map-half-size");
  write_image(dir / ("test/test-left-image/left-image-half-size/" + stem + ".jpg"),
              testing::pattern_rgb(880, 400));
  write_png16(dir / ("test/test-depth-map/depth-map-half-size/" + stem + ".png"),
              testing::pattern_depth(880, 400));
  write_text(dir / "lists/test.txt", "/test/test-left-image/left-image-half-size/" + stem +
                                         ".jpg /test/test-depth-map/depth-map-half-size/" +
                                         stem + ".png\r\n");
  DatasetOptions o;
  o.dataset = DatasetKind::kDrivingStereo;
  o.data_path = dir.path();
  o.split = Split::kTest;
  Sample s = make_dataset(o)->get(0);
  EXPECT_EQ(s.name, "left-image-half-size_" + stem + ".jpg");
  ASSERT_EQ(s.width(), 864);
  EXPECT_FLOAT_EQ(s.depth_at(10, 10), pattern_raw(10 + 7, 10 + 16) / 256.f);
  // JPEG is lossy: the red channel (x + 7) is close, not exact.
  EXPECT_NEAR(s.rgb.at(100, 100)[0], 107, 6);
  EXPECT_FALSE(s.intrinsics.known());
}

TEST(DrivingStereoDataset, PerSequenceCalibrationWithoutCameraJson) {
  TempDir dir;
  const std::string seq = "2018-07-09-16-11-56";
  write_text(dir / "lists/train.txt", testing::write_drivingstereo_train(dir.path(), seq, 881, 400, 1));
  write_text(dir / ("calib/half-image-calib/" + seq + ".txt"),
             "S_rect_101: 8.81e+02 4.00e+02\n"
             "P_rect_101: 1.0e+03 0 4.5e+02 0 0 1.01e+03 2.1e+02 0 0 0 1 0\n");
  DatasetOptions o;
  o.dataset = DatasetKind::kDrivingStereo;
  o.data_path = dir.path();
  Sample s = make_dataset(o)->get(0);
  EXPECT_FLOAT_EQ(s.intrinsics.fx, 1000.f);
  EXPECT_FLOAT_EQ(s.intrinsics.fy, 1010.f);
  EXPECT_FLOAT_EQ(s.intrinsics.cx, 450.f - 8);
  EXPECT_FLOAT_EQ(s.intrinsics.cy, 210.f - 16);
  // An explicit override wins.
  o.intrinsics = Intrinsics{1, 2, 3, 4};
  EXPECT_FLOAT_EQ(make_dataset(o)->get(0).intrinsics.cx, 3.f - 8);
}

TEST(DrivingStereoDataset, TooNarrowFrameIsAnErrorNamingTheFile) {  // spec B19
  TempDir dir;
  write_text(dir / "lists/train.txt",
             testing::write_drivingstereo_train(dir.path(), "seqA", 872, 400, 1));
  DatasetOptions o;
  o.dataset = DatasetKind::kDrivingStereo;
  o.data_path = dir.path();
  auto ds = make_dataset(o);
  std::string msg = error_of([&] { ds->get(0); });
  EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("872x400"), std::string::npos) << msg;
  EXPECT_NE(msg.find("873"), std::string::npos) << msg;
}

TEST(NyuDataset, MillimetresNoWindowOriginalListsAndIntrinsics) {
  TempDir dir;
  fs::create_directories(dir / "sync/kitchen_0001");
  fs::create_directories(dir / "official_splits/test/kitchen");
  write_image(dir / "sync/kitchen_0001/rgb_00001.jpg", testing::pattern_rgb(640, 480));
  write_png16(dir / "sync/kitchen_0001/sync_depth_00001.png", testing::pattern_depth(640, 480, 3));
  write_image(dir / "official_splits/test/kitchen/rgb_00002.png", testing::pattern_rgb(640, 480));
  write_png16(dir / "official_splits/test/kitchen/sync_depth_00002.png",
              testing::pattern_depth(640, 480, 5));
  // The first line in our format (relative to the root), the second as the original test list.
  write_text(dir / "lists/test.txt",
             "/sync/kitchen_0001/rgb_00001.jpg /sync/kitchen_0001/sync_depth_00001.png\n"
             "/kitchen/rgb_00002.png /kitchen/sync_depth_00002.png\n");
  DatasetOptions o;
  o.dataset = DatasetKind::kNyuDepthV2;
  o.data_path = dir.path();
  o.split = Split::kTest;
  auto ds = make_dataset(o);
  ASSERT_EQ(ds->size(), 2);
  Sample a = ds->get(0);
  EXPECT_EQ(a.width(), 640);
  EXPECT_EQ(a.height(), 480);
  EXPECT_FLOAT_EQ(a.depth_at(5, 6), pattern_raw(5, 6, 3) / 1000.f);
  EXPECT_EQ(a.name, "kitchen_0001_rgb_00001.jpg");
  EXPECT_NEAR(a.intrinsics.fx, 518.86f, 0.01f);
  Sample b = ds->get(1);
  EXPECT_FLOAT_EQ(b.depth_at(639, 479), pattern_raw(639, 479, 5) / 1000.f);
  EXPECT_EQ(b.name, "kitchen_rgb_00002.png");
}

TEST(FolderDataset, KittiFramesInFoldersNamedDataGetDistinctNames) {
  TempDir dir;
  for (const char* drive : {"2011_09_26_drive_0001_sync", "2011_09_26_drive_0002_sync"}) {
    fs::create_directories(dir / "2011_09_26" / drive / "image_02/data");
    for (const char* frame : {"0000000000.png", "0000000001.png"})
      write_image(dir / "2011_09_26" / drive / "image_02/data" / frame, testing::pattern_rgb(8, 6, 1));
  }
  DatasetOptions o;
  o.dataset = DatasetKind::kFolder;
  o.inputs = {(dir / "2011_09_26/*/image_02/data/000000000[01].png").string()};
  auto ds = make_dataset(o);
  std::vector<std::string> names;
  for (int64_t i = 0; i < ds->size(); ++i) names.push_back(ds->get(i).name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "2011_09_26_drive_0001_sync_image_02_data_0000000000.png",
                       "2011_09_26_drive_0001_sync_image_02_data_0000000001.png",
                       "2011_09_26_drive_0002_sync_image_02_data_0000000000.png",
                       "2011_09_26_drive_0002_sync_image_02_data_0000000001.png"}));
}

TEST(FolderDataset, DatasetListsReadTheirLeadingSlashAsTheDatasetRoot) {
  // lists/test.txt of a dataset, as train and test read it: "/drive/frame.png /drive/depth.png".
  TempDir dir;
  fs::create_directories(dir / "drive");
  fs::create_directories(dir / "lists");
  write_image(dir / "drive/frame.png", testing::pattern_rgb(8, 6, 1));
  write_text(dir / "lists/test.txt", "/drive/frame.png /drive/depth.png\n");
  DatasetOptions o;
  o.dataset = DatasetKind::kFolder;
  o.inputs = {(dir / "lists/test.txt").string()};
  auto ds = make_dataset(o);
  ASSERT_EQ(ds->size(), 1);
  EXPECT_EQ(fs::canonical(ds->image_file(0)), fs::canonical(dir / "drive/frame.png"));
  EXPECT_EQ(ds->get(0).width(), 8);
}

TEST(FolderDataset, SortedFoldersGlobsListsAndNames) {
  TempDir dir;
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  write_image(dir / "a/z.png", testing::pattern_rgb(40, 30, 1));
  write_image(dir / "a/m.jpg", testing::pattern_rgb(40, 30, 2));
  write_image(dir / "a/b.png", testing::pattern_rgb(33, 20, 3));
  write_text(dir / "a/notes.txt", "not an image");
  write_image(dir / "b/z.png", testing::pattern_rgb(40, 30, 4));
  write_text(dir / "b/list.txt", "z.png\n../a/b.png\n");
  DatasetOptions o;
  o.dataset = DatasetKind::kFolder;
  o.inputs = {(dir / "a").string(), (dir / "b/*.png").string(), (dir / "b/list.txt").string()};
  auto ds = make_dataset(o);
  ASSERT_EQ(ds->size(), 6);
  EXPECT_FALSE(ds->has_depth());
  std::vector<std::string> names;
  for (int64_t i = 0; i < ds->size(); ++i) names.push_back(ds->get(i).name);
  // Sorted within the folder; names keep the path below the common folder, and a file given
  // twice gets a second name (nothing is written twice).
  EXPECT_EQ(names, (std::vector<std::string>{"a_b.png", "a_m.jpg", "a_z.png", "b_z.png",
                                              "b_z_2.png", "a_b_2.png"}));
  Sample s = ds->get(0);
  EXPECT_EQ(s.width(), 33);  // no resizing (spec B22)
  EXPECT_FALSE(s.has_depth());
  EXPECT_EQ(s.rgb.at(4, 2)[0], (4 + 3) % 256);
  // The same inputs give the same order every time.
  auto again = make_dataset(o);
  for (int64_t i = 0; i < ds->size(); ++i) EXPECT_EQ(again->describe(i), ds->describe(i));
  DatasetOptions missing;
  missing.dataset = DatasetKind::kFolder;
  missing.inputs = {(dir / "none/*.png").string()};
  EXPECT_THROW(make_dataset(missing), Error);
}

// ---- Bad input: every case is an Error naming the list line and the file --------------------

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    lines_ = testing::write_kitti(dir_.path(), 64, 32, 3);
    options_.dataset = DatasetKind::kKitti;
    options_.data_path = dir_.path();
    options_.window = false;
  }
  fs::path frame(int f, bool depth) {
    char name[32];
    std::snprintf(name, sizeof name, "%010d.png", f);
    return depth ? dir_ / ("data_depth_annotated/train/2011_09_26_drive_0002_sync/proj_depth/"
                           "groundtruth/image_02/" + std::string(name))
                 : dir_ / ("raw_data/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/" +
                           std::string(name));
  }
  // The message of get(index) after writing the list.
  std::string get_error(const std::string& list, int64_t index) {
    write_text(dir_ / "lists/train.txt", list);
    return error_of([&] { make_dataset(options_)->get(index); });
  }
  void expect_names(const std::string& msg, int line, const fs::path& file,
                    const std::string& what) {
    EXPECT_NE(msg.find((dir_ / "lists/train.txt").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(cat("line ", line)), std::string::npos) << msg;
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
  TempDir dir_;
  std::string lines_;
  DatasetOptions options_;
};

TEST_F(BadInput, MissingImage) {
  fs::remove(frame(1, false));
  expect_names(get_error(lines_, 1), 2, frame(1, false), "does not exist");
}

TEST_F(BadInput, MissingDepth) {
  fs::remove(frame(2, true));
  expect_names(get_error(lines_, 2), 3, frame(2, true), "does not exist");
}

TEST_F(BadInput, TruncatedImage) {
  std::string bytes = read_file_bytes(frame(0, false));
  std::ofstream(frame(0, false), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_names(get_error(lines_, 0), 1, frame(0, false), "truncated");
}

TEST_F(BadInput, UnreadableImage) {
  std::ofstream(frame(0, false), std::ios::binary) << "this is not an image at all";
  expect_names(get_error(lines_, 0), 1, frame(0, false), "");
}

TEST_F(BadInput, SizeMismatch) {
  write_png16(frame(1, true), testing::pattern_depth(63, 32));
  std::string msg = get_error(lines_, 1);
  expect_names(msg, 2, frame(1, true), "63x32");
  EXPECT_NE(msg.find("64x32"), std::string::npos) << msg;
}

TEST_F(BadInput, EightBitDepth) {
  Image8 gray(64, 32, 1);
  write_image(frame(1, true), gray);
  expect_names(get_error(lines_, 1), 2, frame(1, true), "16-bit");
}

TEST_F(BadInput, EmptyAndMalformedLines) {
  std::string with_empty = lines_;
  with_empty.insert(with_empty.find('\n') + 1, "\n");
  write_text(dir_ / "lists/train.txt", with_empty);
  std::string msg = error_of([&] { make_dataset(options_); });
  EXPECT_NE(msg.find("line 2: empty line"), std::string::npos) << msg;
  EXPECT_NE(msg.find((dir_ / "lists/train.txt").string()), std::string::npos) << msg;

  write_text(dir_ / "lists/train.txt", "/only/one/field.png\n" + lines_);
  msg = error_of([&] { make_dataset(options_); });
  EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/only/one/field.png"), std::string::npos) << msg;

  write_text(dir_ / "lists/train.txt", lines_ + "a b 1 extra\n/x.png None\n");
  options_.skip_bad_lines = true;
  auto ds = make_dataset(options_);
  EXPECT_EQ(ds->size(), 3);
  ASSERT_EQ(ds->skipped_lines().size(), 2u);
  EXPECT_NE(ds->skipped_lines()[0].find("line 4"), std::string::npos);
  EXPECT_NE(ds->skipped_lines()[1].find("line 5"), std::string::npos);
}

}  // namespace
}  // namespace glpdepth
