// Camera-aware mode end to end (docs/CAMERAS.md): `train --canonical_focal` records the mode in
// its checkpoints, `test` and `predict` rescale by each image's focal length (checked by changing
// only the intrinsics: the depth must scale by exactly their ratio), and every way of mixing the
// modes up is an error that says so.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/image.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/util/atomic_file.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

using testing::CliRun;

class CameraCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    CliRun synth = run("synth --out " + data().string() +
                       " --count 20 --seed 4 --camera kitti --scale 0.125 --frames_per_drive 5"
                       " --val_fraction 0.2 --test_fraction 0.2 --threads 1");
    ASSERT_EQ(synth.code, 0) << synth.err;
    CliRun train = run(train_args("aware") + " --canonical_focal 90");
    ASSERT_EQ(train.code, 0) << train.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static CliRun run(const std::string& args) { return testing::run_glpdepth_split(dir_->path(), args); }
  static fs::path data() { return dir_->path() / "data"; }
  static fs::path run_dir(const std::string& name) { return dir_->path() / "logs" / "kitti" / name; }
  static std::string train_args(const std::string& name) {
    return "train --dataset kitti --data_path " + data().string() +
           " --crop_h 32 --crop_w 64 --encoder b0 --epochs 1 --batch_size 2"
           " --max_steps_per_epoch 2 --workers 1 --threads 1 --log_dir " +
           (dir_->path() / "logs").string() + " --exp_name " + name;
  }
  static std::string ckpt() { return (run_dir("aware") / "last.ckpt").string(); }
  static testing::TempDir* dir_;
};
testing::TempDir* CameraCli::dir_ = nullptr;

TEST_F(CameraCli, CheckpointRecordsTheCanonicalFocal) {
  ModelSource source;
  GLPDepth model = load_model(ckpt(), std::nullopt, 0, 80, &source);
  EXPECT_DOUBLE_EQ(model->options().canonical_focal, 90.0);
  EXPECT_DOUBLE_EQ(source.canonical_focal, 90.0);
  auto config = nlohmann::json::parse(read_file_bytes(run_dir("aware") / "config.json"));
  EXPECT_DOUBLE_EQ(config.at("model").at("model").at("canonical_focal").get<double>(), 90.0);
}

// The same images with fx doubled (via --intrinsics) must give exactly twice the depth.
TEST_F(CameraCli, TestRescalesByTheFocalOfTheImages) {
  const auto camera = nlohmann::json::parse(read_file_bytes(data() / "camera.json"));
  const double fx = camera.at("fx"), fy = camera.at("fy"), cx = camera.at("cx"), cy = camera.at("cy");
  auto test_with = [&](const std::string& name, const std::string& extra) {
    CliRun r = run("test --dataset kitti --data_path " + data().string() + " --ckpt " + ckpt() +
                   " --threads 1 --save_eval_pngs --result_dir " + (dir_->path() / "res").string() +
                   " --exp_name " + name + extra);
    EXPECT_EQ(r.code, 0) << r.err;
    return dir_->path() / "res" / name;
  };
  const fs::path own = test_with("own", "");
  const auto metrics = nlohmann::json::parse(read_file_bytes(own / "metrics.json"));
  EXPECT_DOUBLE_EQ(metrics.at("canonical_focal").get<double>(), 90.0);
  char doubled[128];
  std::snprintf(doubled, sizeof doubled, " --intrinsics %.9g,%.9g,%.9g,%.9g", 2 * fx, fy, cx, cy);
  const fs::path twice = test_with("twice", doubled);
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(own / "eval_pngs")) {
    const Image16 a = read_png16(entry.path());
    const Image16 b = read_png16(twice / "eval_pngs" / entry.path().filename());
    ASSERT_EQ(a.pixels.size(), b.pixels.size());
    for (size_t i = 0; i < a.pixels.size(); ++i) {
      // PNG values are round(depth x 256): 2 x round(d) and round(2d) differ by at most 1.
      ASSERT_LE(std::abs(int{b.pixels[i]} - 2 * int{a.pixels[i]}), 1) << entry.path() << " " << i;
      compared += a.pixels[i] > 100;
    }
  }
  EXPECT_GT(compared, 1000);
}

TEST_F(CameraCli, PredictNeedsTheCameraAndRescales) {
  const fs::path image = dir_->path() / "frame.png";
  {
    std::ifstream list(data() / "lists" / "test.txt");
    std::string rel;
    list >> rel;
    fs::copy_file(data() / rel.substr(1), image, fs::copy_options::overwrite_existing);
  }
  CliRun missing = run("predict " + image.string() + " --ckpt " + ckpt() +
                       " --threads 1 --save_png16 --output " +
                       (dir_->path() / "p0").string());
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("--intrinsics"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(dir_->path() / "p0" / "frame_depth16.png"));
  auto predict = [&](const std::string& name, const std::string& k) {
    CliRun r = run("predict " + image.string() + " --ckpt " + ckpt() +
                   " --threads 1 --save_npy --save_png16 --output " +
                   (dir_->path() / name).string() + " --intrinsics " + k);
    EXPECT_EQ(r.code, 0) << r.err;
    return read_png16(dir_->path() / name / "frame_depth16.png");
  };
  const Image16 a = predict("p1", "90,90,19,6"), b = predict("p2", "45,90,19,6");
  for (size_t i = 0; i < a.pixels.size(); ++i)
    ASSERT_LE(std::abs(2 * int{b.pixels[i]} - int{a.pixels[i]}), 1) << i;
}

// safetensors exports carry the mode in their metadata; PyTorch state_dicts cannot, so export
// says how to load them.
TEST_F(CameraCli, ExportsKeepOrExplainTheMode) {
  const fs::path st = dir_->path() / "aware.safetensors", pth = dir_->path() / "aware.pth";
  CliRun a = run("export --ckpt " + ckpt() + " --format safetensors --output " + st.string());
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_DOUBLE_EQ(load_model(st, std::nullopt, 0, 80)->options().canonical_focal, 90.0);
  // A safetensors file that records the mode is as binding as a checkpoint.
  CliRun contradicted = run("test --dataset kitti --data_path " + data().string() + " --ckpt " +
                            st.string() + " --threads 1 --canonical_focal 100 --result_dir " +
                            (dir_->path() / "res").string());
  EXPECT_EQ(contradicted.code, 2);
  EXPECT_NE(contradicted.err.find("canonical focal 90"), std::string::npos) << contradicted.err;
  CliRun b = run("export --ckpt " + ckpt() + " --output " + pth.string());
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.err.find("--canonical_focal 90"), std::string::npos) << b.err;
  EXPECT_DOUBLE_EQ(load_model(pth, std::nullopt, 0, 80)->options().canonical_focal, 0.0);
}

// The training set-up above gives no window flag: --window auto must have trained on the whole
// 155x47 frames (smaller than the KITTI kb-crop window). --window on must refuse them.
TEST_F(CameraCli, WindowAutoTrainsOnWholeSmallFrames) {
  auto config = nlohmann::json::parse(read_file_bytes(run_dir("aware") / "config.json"));
  EXPECT_EQ(config.at("data").at("window").get<std::string>(), "auto");
  CliRun on = run(train_args("window-on") + " --window on");
  EXPECT_NE(on.code, 0);
  EXPECT_NE(on.err.find("window"), std::string::npos) << on.err;
  CliRun bad = run(train_args("window-bad") + " --window sometimes");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--window sometimes"), std::string::npos) << bad.err;
}

TEST_F(CameraCli, MixingTheModesUpIsAnError) {
  // A flag that contradicts the checkpoint.
  CliRun wrong = run("test --dataset kitti --data_path " + data().string() + " --ckpt " + ckpt() +
                     " --threads 1 --canonical_focal 100 --result_dir " + (dir_->path() / "res").string());
  EXPECT_EQ(wrong.code, 2);
  EXPECT_NE(wrong.err.find("canonical focal 90"), std::string::npos) << wrong.err;
  // Resuming in the other mode.
  CliRun resume = run(train_args("aware") + " --resume " + ckpt());
  EXPECT_NE(resume.code, 0);
  EXPECT_NE(resume.err.find("canonical focal 90"), std::string::npos) << resume.err;
  // Training camera-aware on data that does not know its camera.
  testing::TempDir copy;
  fs::copy(data(), copy / "data", fs::copy_options::recursive);
  fs::remove(copy / "data" / "camera.json");
  fs::remove(copy / "data" / "raw_data" / "2011_09_26" / "calib_cam_to_cam.txt");
  CliRun unknown = run("train --dataset kitti --data_path " + (copy / "data").string() +
                       " --no_window --encoder b0 --epochs 1 --batch_size 2 --threads 1 --canonical_focal 90 --log_dir " +
                       (copy / "logs").string());
  EXPECT_NE(unknown.code, 0);
  EXPECT_NE(unknown.err.find("no camera intrinsics"), std::string::npos) << unknown.err;
  EXPECT_FALSE(fs::exists(copy / "logs" / "kitti" / "train" / "last.ckpt"));
}

}  // namespace
}  // namespace glpdepth
