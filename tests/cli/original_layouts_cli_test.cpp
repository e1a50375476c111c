// The original's users at home: the command lines of the DrivingStereo fork's README and of
// GLPDepth's run as typed, on tiny synthetic datasets in each original layout (KITTI,
// DrivingStereo official and flattened, NYU Depth v2) under a parent folder, without lists (they
// are made). Only a step limit and tiny sizes are added to the command lines.
#include <gtest/gtest.h>

#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

// Runs glpdepth in `dir` (so that the default ./logs and ./results land there).
testing::CliRun run_in(const fs::path& dir, const std::string& args) {
  return testing::run_glpdepth_split(dir, args + " --threads 1", dir);
}

// What the README lines get added: a step limit and sizes that fit tiny frames on 2 cores.
const std::string kTiny =
    " --epochs 1 --max_steps_per_epoch 2 --batch_size 2 --crop_h 32 --crop_w 64 --encoder b0"
    " --workers 1 --threads 1";

void synth(const fs::path& out, const std::string& camera, double scale, int count) {
  testing::CliRun r = testing::run_glpdepth_split(
      out.parent_path(), "synth --output " + out.string() + " --camera " + camera + " --scale " +
                             std::to_string(scale) + " --count " + std::to_string(count) +
                             " --seed 3 --frames_per_drive 2 --val_fraction 0.25"
                             " --test_fraction 0.25 --workers 1");
  ASSERT_EQ(r.code, 0) << r.err;
  fs::remove_all(out / "lists");  // the original's users bring none: they are made
}

// The fork's layout on its cluster: train/train-left-image/<stem>.jpg (no sequence folders)
// and test/test-left-image/left-image-half-size/<stem>.jpg.
void flatten_drivingstereo(const fs::path& root) {
  for (const char* kind : {"train-left-image", "train-depth-map"}) {
    fs::create_directories(root / "train" / kind);
    for (const auto& seq : fs::directory_iterator(root / kind))
      for (const auto& file : fs::directory_iterator(seq.path()))
        fs::rename(file.path(), root / "train" / kind / file.path().filename());
    fs::remove_all(root / kind);
  }
  fs::create_directories(root / "test");
  for (const char* kind : {"test-left-image", "test-depth-map"})
    fs::rename(root / kind, root / "test" / kind);
}

// NYU Depth v2 as BTS lays it out: sync/<scene>/rgb_N.jpg + sync_depth_N.png (mm) for training,
// official_splits/test/<scene>/... for testing, 640x480 frames. Made from a synthetic KITTI set
// rendered at 640x480; depth beyond 10 m becomes invalid, as the Kinect's range.
void make_nyu(const fs::path& root, const fs::path& scratch) {
  synth(scratch, "518.86,519.47,325.58,253.74,640,480", 1.0, 6);
  int n = 0;
  for (const auto& gt : fs::recursive_directory_iterator(scratch / "data_depth_annotated")) {
    if (gt.path().extension() != ".png") continue;
    const std::string drive = gt.path().parent_path().parent_path().parent_path().parent_path().filename().string();
    const fs::path image = scratch / "raw_data" / drive.substr(0, 10) / drive / "image_02" /
                           "data" / gt.path().filename();
    const bool test = gt.path().string().find("/val/") != std::string::npos;
    const fs::path scene = (test ? root / "official_splits" / "test" : root / "sync") /
                           cat("scene_", n % 2 + (test ? 10 : 0));
    fs::create_directories(scene);
    const std::string id = cat(std::setw(5), std::setfill('0'), n++);
    write_image(scene / ("rgb_" + id + ".jpg"), read_image(image, 3));
    Image16 depth = read_png16(gt.path());
    for (uint16_t& v : depth.pixels) {
      const double metres = v / 256.0;
      v = metres > 0 && metres < 10.0 ? static_cast<uint16_t>(std::lround(metres * 1000)) : 0;
    }
    write_png16(scene / ("sync_depth_" + id + ".png"), depth);
  }
}

class OriginalLayouts : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  fs::path parent() const { return dir_.path() / "datasets"; }

  void expect_train(const std::string& line, const std::string& dataset_folder) {
    testing::CliRun r = run_in(dir_.path(), line + kTiny);
    ASSERT_EQ(r.code, 0) << line << "\n" << r.err;
    EXPECT_NE(r.err.find("holds " + dataset_folder + "/"), std::string::npos) << r.err;
  }
};

TEST_F(OriginalLayouts, DrivingStereoForkReadmeCommandLines) {
  fs::create_directories(parent());
  synth(parent() / "DrivingStereo", "drivingstereo", 0.1, 8);
  // README, Training, first line (its crop is the dataset's own; tiny sizes override it).
  const std::string data = " --data_path " + parent().string() + "/";
  testing::CliRun first = run_in(dir_.path(),
      "train --dataset DrivingStereo" + data + " --max_depth 80.0 --max_depth_eval 80.0"
      " --crop_h 352 --crop_w 704" + kTiny);
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.err.find("holds DrivingStereo/"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("wrote"), std::string::npos) << first.err;  // lists were made
  EXPECT_TRUE(fs::exists(parent() / "DrivingStereo" / "lists" / "train.txt"));
  // README, Training, second line: --lr is not what the fork's schedule uses; we say so.
  testing::CliRun second = run_in(dir_.path(),
      "train --dataset DrivingStereo" + data + " --max_depth 80.0 --max_depth_eval 80.0"
      " --workers 1 --lr 0.00015 --epochs 8 --save_model --workers 4" + kTiny);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.err.find("--lr 0.00015 is not used by the cyclic schedule"), std::string::npos)
      << second.err;
  const fs::path run = dir_.path() / "logs" / "drivingstereo" / "train_2";
  ASSERT_TRUE(fs::exists(run / "last.ckpt")) << second.err;
  EXPECT_TRUE(fs::exists(run / "epoch_01.ckpt"));  // --save_model
  // README, Testing.
  testing::CliRun test = run_in(dir_.path(),
      "test --dataset DrivingStereo --data_path " + parent().string() + "/ --ckpt_dir " +
      (run / "last.ckpt").string() + " --do_evaluate --max_depth 80.0 --max_depth_eval 80.0");
  ASSERT_EQ(test.code, 0) << test.err;
  const auto metrics = nlohmann::json::parse(read_file_bytes(dir_.path() / "results" / "test" / "metrics.json"));
  EXPECT_GT(metrics.at("images").get<int>(), 0);
}

TEST_F(OriginalLayouts, DrivingStereoFlattenedLayoutOfTheFork) {
  fs::create_directories(parent());
  synth(parent() / "DrivingStereo", "drivingstereo", 0.1, 8);
  flatten_drivingstereo(parent() / "DrivingStereo");
  expect_train("train --dataset DrivingStereo --data_path " + parent().string() +
                   "/ --max_depth 80.0 --max_depth_eval 80.0",
               "DrivingStereo");
  const std::string train_list = read_file_bytes(parent() / "DrivingStereo" / "lists" / "train.txt");
  EXPECT_NE(train_list.find("/train/train-left-image/"), std::string::npos) << train_list;
}

TEST_F(OriginalLayouts, GlpDepthKittiCommandLines) {
  fs::create_directories(parent());
  synth(parent() / "kitti", "kitti", 0.1, 8);
  expect_train("train --dataset kitti --kitti_crop garg_crop --data_path " + parent().string() +
                   "/ --max_depth 80.0 --max_depth_eval 80.0 --gpu_or_cpu cpu --do_kb_crop 1",
               "kitti");
  testing::CliRun test = run_in(dir_.path(),
      "test --dataset kitti --data_path " + parent().string() + "/ --ckpt_dir " +
      (dir_.path() / "logs" / "kitti" / "train" / "last.ckpt").string() +
      " --do_evaluate --max_depth 80.0 --max_depth_eval 80.0 --kitti_crop garg_crop --gpu_or_cpu cpu");
  ASSERT_EQ(test.code, 0) << test.err;
  const auto metrics = nlohmann::json::parse(read_file_bytes(dir_.path() / "results" / "test" / "metrics.json"));
  EXPECT_NE(metrics.dump().find("garg"), std::string::npos);
}

TEST_F(OriginalLayouts, GlpDepthNyuCommandLines) {
  fs::create_directories(parent() / "nyu_depth_v2");
  make_nyu(parent() / "nyu_depth_v2", dir_.path() / "nyu_scratch");
  expect_train("train --dataset nyudepthv2 --data_path " + parent().string() +
                   "/ --max_depth 10.0 --max_depth_eval 10.0",
               "nyu_depth_v2");
  testing::CliRun test = run_in(dir_.path(),
      "test --dataset nyudepthv2 --data_path " + parent().string() + "/ --ckpt_dir " +
      (dir_.path() / "logs" / "nyudepthv2" / "train" / "last.ckpt").string() +
      " --do_evaluate --max_depth 10.0 --max_depth_eval 10.0");
  ASSERT_EQ(test.code, 0) << test.err;
  const auto metrics = nlohmann::json::parse(read_file_bytes(dir_.path() / "results" / "test" / "metrics.json"));
  EXPECT_GT(metrics.at("images").get<int>(), 0);
}

}  // namespace
}  // namespace glpdepth
