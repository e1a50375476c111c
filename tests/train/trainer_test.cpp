// The training loop as a whole: exact resume, atomic checkpoints, non-finite steps, run files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/trainer.h"
#include "glpdepth/util/error.h"

using namespace glpdepth;
namespace fs = std::filesystem;

namespace {

// A tiny synthetic KITTI-layout set: 124x38 frames, 3 drives of 4 frames.
fs::path make_small_set(const fs::path& root) {
  synth::SynthOptions options;
  options.count = 12;
  options.seed = 5;
  options.camera = synth::scale_camera(synth::camera_preset("kitti"), 0.1);
  options.frames_per_drive = 4;
  options.val_fraction = 0.34;
  options.test_fraction = 0.0;
  options.workers = 1;
  synth::write_dataset(root, options);
  return root;
}

TrainConfig small_config(const fs::path& data, const fs::path& logs, const std::string& name) {
  TrainConfig config;
  config.data.dataset = "kitti";
  config.data.data_path = data.string();
  config.model.model.encoder = "b0";
  config.loop.epochs = 2;
  config.loop.batch_size = 2;
  config.data.workers = 1;
  config.data.window = WindowChoice::kOff;
  config.augment.crop_h = 32;
  config.augment.crop_w = 64;
  config.loop.max_steps_per_epoch = 3;
  config.log.log_dir = logs.string();
  config.log.exp_name = name;
  config.runtime.seed = 7;
  config.log.log_every = 1;
  return config;
}

std::vector<std::pair<std::string, torch::Tensor>> checkpoint_weights(const fs::path& path) {
  PyValue value = read_pytorch_file(path);
  return state_dict_from_value(value.at("model"), path.string());
}

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    data_ = new glpdepth::testing::TempDir();
    make_small_set(data_->path());
  }
  static void TearDownTestSuite() { delete data_; }
  static glpdepth::testing::TempDir* data_;
  glpdepth::testing::TempDir logs_;
  std::ostringstream log_;
};
glpdepth::testing::TempDir* TrainerTest::data_ = nullptr;

}  // namespace

TEST_F(TrainerTest, InterruptedAndResumedRunEqualsUninterruptedRun) {
  TrainConfig straight = small_config(data_->path(), logs_.path(), "straight");
  TrainResult full = train(straight, log_);
  ASSERT_FALSE(full.interrupted);
  ASSERT_EQ(full.step_losses.size(), 6u);
  EXPECT_EQ(full.val_abs_rel.size(), 2u);

  TrainConfig first_half = small_config(data_->path(), logs_.path(), "halves");
  first_half.loop.stop_after_steps = 4;  // inside epoch 2, after one validation
  TrainResult part1 = train(first_half, log_);
  ASSERT_TRUE(part1.interrupted);
  ASSERT_EQ(part1.step_losses.size(), 4u);

  TrainConfig second_half = small_config(data_->path(), logs_.path(), "halves");
  second_half.checkpoint.resume = part1.last_checkpoint.string();
  TrainResult part2 = train(second_half, log_);
  ASSERT_FALSE(part2.interrupted);
  ASSERT_EQ(part2.step_losses.size(), 2u);

  std::vector<double> joined = part1.step_losses;
  joined.insert(joined.end(), part2.step_losses.begin(), part2.step_losses.end());
  for (size_t i = 0; i < joined.size(); ++i)
    EXPECT_EQ(joined[i], full.step_losses[i]) << "step " << i + 1;  // bit-identical

  auto a = checkpoint_weights(full.last_checkpoint);
  auto b = checkpoint_weights(part2.last_checkpoint);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
  // The resumed run continued in the interrupted run's folder and kept its logs.
  EXPECT_EQ(part2.run_dir, part1.run_dir);
  std::ifstream metrics(part2.run_dir / "metrics.csv");
  std::string line;
  int rows = 0;
  while (std::getline(metrics, line)) ++rows;
  EXPECT_EQ(rows, 3);  // header + two validations
}

TEST_F(TrainerTest, RunFilesAndCheckpointContents) {
  TrainResult result = train(small_config(data_->path(), logs_.path(), "files"), log_);
  for (const char* name : {"config.json", "train.csv", "metrics.csv", "last.ckpt", "best.ckpt"})
    EXPECT_TRUE(fs::exists(result.run_dir / name)) << name;
  bool has_events = false;
  for (const auto& entry : fs::directory_iterator(result.run_dir))
    has_events |= entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(has_events);
  CheckpointData data = peek_checkpoint(result.last_checkpoint);
  EXPECT_EQ(data.model_options.encoder, "b0");
  EXPECT_EQ(data.progress.epoch, 3);
  EXPECT_EQ(data.progress.global_step, 6);
  EXPECT_FALSE(data.optimizer_bytes.empty());
  // A second run with the same exp_name gets its own folder (never mixes logs).
  TrainResult again = train(small_config(data_->path(), logs_.path(), "files"), log_);
  EXPECT_NE(again.run_dir, result.run_dir);
}

TEST_F(TrainerTest, NonFiniteStepsStopTheRunWithAClearMessage) {
  TrainConfig config = small_config(data_->path(), logs_.path(), "explode");
  config.optim.kind = OptimizerKind::kSGD;
  config.schedule.kind = ScheduleKind::kConstant;
  config.optim.lr = 1e12;  // the first step blows the weights up; the following losses are NaN
  config.loop.max_nonfinite = 2;
  config.loop.epochs = 1;
  config.loop.max_steps_per_epoch = 5;
  try {
    train(config, log_);
    FAIL() << "expected the run to stop";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, KilledCheckpointWriteLeavesThePreviousFileValid) {
  GLPDepth first(GLPDepthOptions{"b1", 80.0});
  GLPDepth second(GLPDepthOptions{"b1", 80.0});
  const fs::path path = logs_ / "last.ckpt";
  CheckpointData data;
  data.config_json = "{}";
  save_checkpoint(path, first, nullptr, data);
  for (int delay_ms : {1, 10, 40, 120}) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (;;) save_checkpoint(path, second, nullptr, data);  // killed while writing
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    GLPDepth loaded(GLPDepthOptions{"b1", 80.0});
    ASSERT_NO_THROW(load_checkpoint(path, loaded, nullptr)) << "after " << delay_ms << " ms";
    auto weight = loaded->named_parameters()["encoder.block1.0.attn.q.weight"];
    bool is_first = torch::equal(weight, first->named_parameters()["encoder.block1.0.attn.q.weight"]);
    bool is_second = torch::equal(weight, second->named_parameters()["encoder.block1.0.attn.q.weight"]);
    EXPECT_TRUE(is_first || is_second);
  }
}
