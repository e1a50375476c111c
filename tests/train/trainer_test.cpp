// The training loop as a whole: exact resume, atomic checkpoints, non-finite steps, run files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/synth_set.h"
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
  glpdepth::testing::SynthSet set;
  set.val_fraction = 0.34;
  return glpdepth::testing::write_synth_set(root, set);
}

TrainConfig small_config(const fs::path& data, const fs::path& logs, const std::string& name) {
  TrainConfig config;
  config.data.dataset = DatasetKind::kKitti;
  config.data.data_path = data.string();
  config.model.model.encoder = MitEncoder::kB0;
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

// train.csv rows cover log_every steps; a row that spans the interruption averages all of its
// steps after the resume too (the checkpoint keeps the row in progress), so the resumed run's
// file is the uninterrupted run's but for the throughput column.
TEST_F(TrainerTest, TheTrainCsvRowSpanningAnInterruptionCountsEveryStep) {
  auto rows_of = [](const fs::path& run) {
    std::ifstream csv(run / "train.csv");
    std::string line;
    std::vector<std::string> rows;
    while (std::getline(csv, line)) {
      // step, epoch, loss, lr, grad_norm; then images_per_s (timing) and the rest.
      std::vector<std::string> fields;
      std::stringstream split(line);
      std::string field;
      while (std::getline(split, field, ',')) fields.push_back(field);
      fields.erase(fields.begin() + 5);
      std::string kept;
      for (const auto& f : fields) kept += f + ",";
      rows.push_back(kept);
    }
    return rows;
  };
  TrainConfig straight = small_config(data_->path(), logs_.path(), "csv_straight");
  straight.log.log_every = 3;
  const TrainResult full = train(straight, log_);
  TrainConfig halves = small_config(data_->path(), logs_.path(), "csv_halves");
  halves.log.log_every = 3;
  halves.loop.stop_after_steps = 4;  // one step into the second row
  const TrainResult part1 = train(halves, log_);
  ASSERT_TRUE(part1.interrupted);
  halves.loop.stop_after_steps = 0;
  halves.checkpoint.resume = part1.last_checkpoint.string();
  const TrainResult part2 = train(halves, log_);
  const auto expected = rows_of(full.run_dir), got = rows_of(part2.run_dir);
  ASSERT_EQ(expected.size(), 3u);  // header, steps 3 and 6
  EXPECT_EQ(got, expected);
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
  EXPECT_EQ(data.model_options.encoder, MitEncoder::kB0);
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
  GLPDepth first(GLPDepthOptions{glpdepth::MitEncoder::kB1, 80.0});
  GLPDepth second(GLPDepthOptions{glpdepth::MitEncoder::kB1, 80.0});
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
    GLPDepth loaded(GLPDepthOptions{glpdepth::MitEncoder::kB1, 80.0});
    ASSERT_NO_THROW(load_checkpoint(path, loaded, nullptr)) << "after " << delay_ms << " ms";
    auto weight = loaded->named_parameters()["encoder.block1.0.attn.q.weight"];
    bool is_first = torch::equal(weight, first->named_parameters()["encoder.block1.0.attn.q.weight"]);
    bool is_second = torch::equal(weight, second->named_parameters()["encoder.block1.0.attn.q.weight"]);
    EXPECT_TRUE(is_first || is_second);
  }
}

namespace {

// Batches per epoch of the small set: 8 training frames (two drives) in batches of 2.
constexpr int64_t kBatchesPerEpoch = 4;

// small_config with whole epochs: the loader then decodes exactly the batches that are trained
// on (a cut epoch would decode up to its prefetch beyond the cut), so decoded batches count
// exactly.
TrainConfig whole_epochs_config(const fs::path& data, const fs::path& logs, const std::string& name) {
  TrainConfig config = small_config(data, logs, name);
  config.loop.max_steps_per_epoch = 0;
  config.validation.val_freq = 0;
  return config;
}

void expect_same_weights(const fs::path& a_path, const fs::path& b_path) {
  auto a = checkpoint_weights(a_path);
  auto b = checkpoint_weights(b_path);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

std::vector<fs::path> temporaries_in(const fs::path& folder) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().find(".tmp.") != std::string::npos)
      found.push_back(entry.path());
  return found;
}

}  // namespace

// --save_every_steps 3 over two epochs of 4 steps: last.ckpt after steps 3 and 6 (and at the
// epoch ends, 4 and 8), each copied aside as it is written. The one written after batch k of
// epoch e holds that position; a run resumed from it starts at batch k+1 of e, decodes only the
// batches after it, and ends where the uninterrupted run ended (same losses bit for bit: the
// poly schedule's state, the optimiser's, and the RNG that drop-path draws from came back too).
TEST_F(TrainerTest, StepCheckpointsResumeAtTheNextBatchWithoutDecodingEarlierOnes) {
  TrainConfig config = whole_epochs_config(data_->path(), logs_.path(), "steps");
  config.checkpoint.save_every_steps = 3;
  const fs::path copies = logs_ / "copies";
  std::vector<int64_t> written_at;
  TrainHooks hooks;
  hooks.on_checkpoint = [&](const fs::path& written) {
    const int64_t step = peek_checkpoint(written).progress.global_step;
    written_at.push_back(step);
    fs::create_directories(copies / cat("step_", step));
    fs::copy_file(written, copies / cat("step_", step) / "last.ckpt",
                  fs::copy_options::overwrite_existing);
  };
  TrainResult full = train(config, log_, hooks);
  const int64_t total = 2 * kBatchesPerEpoch;
  ASSERT_EQ(full.global_step, total);
  EXPECT_EQ(full.batches_loaded, total);
  EXPECT_EQ(written_at, (std::vector<int64_t>{3, 4, 6, 8}));

  for (int64_t k : {int64_t{3}, int64_t{6}}) {  // inside epoch 1, inside epoch 2
    const fs::path from = copies / cat("step_", k) / "last.ckpt";
    ASSERT_TRUE(fs::exists(from)) << from;
    const CheckpointData saved = peek_checkpoint(from);
    EXPECT_EQ(saved.progress.global_step, k);
    EXPECT_EQ(saved.progress.epoch, 1 + (k - 1) / kBatchesPerEpoch);
    EXPECT_EQ(saved.progress.batch_in_epoch, 1 + (k - 1) % kBatchesPerEpoch);
    EXPECT_FALSE(saved.schedule.empty());
    EXPECT_FALSE(saved.rng.torch_cpu.empty());

    TrainConfig resumed_config = whole_epochs_config(data_->path(), logs_.path(), "steps");
    resumed_config.checkpoint.resume = from.string();
    TrainResult resumed = train(resumed_config, log_);
    ASSERT_EQ(resumed.step_losses.size(), static_cast<size_t>(total - k));
    for (int64_t i = k; i < total; ++i)
      EXPECT_EQ(resumed.step_losses[i - k], full.step_losses[i]) << "step " << i + 1;
    EXPECT_EQ(resumed.batches_loaded, total - k) << "batches decoded by the run resumed at step " << k;
    expect_same_weights(full.last_checkpoint, resumed.last_checkpoint);
  }
}

// A checkpoint write killed mid-way leaves .last.ckpt.tmp.<pid>.<n>; the next start in that run
// folder removes it (and says so) and leaves other files alone.
TEST_F(TrainerTest, ALeftoverTemporaryCheckpointIsRemovedAtStart) {
  TrainConfig config = whole_epochs_config(data_->path(), logs_.path(), "leftover");
  config.loop.epochs = 1;
  config.loop.stop_after_steps = 2;
  TrainResult first = train(config, log_);
  ASSERT_TRUE(first.interrupted);
  const fs::path leftover = first.run_dir / ".last.ckpt.tmp.4194304.7";
  const fs::path unrelated = first.run_dir / ".notes.tmp.txt";
  std::ofstream(leftover) << "half a checkpoint";
  std::ofstream(unrelated) << "not ours";

  config.loop.stop_after_steps = 0;
  config.checkpoint.resume = "auto";
  std::ostringstream log;
  TrainResult second = train(config, log);
  EXPECT_EQ(second.run_dir, first.run_dir);
  EXPECT_FALSE(fs::exists(leftover));
  EXPECT_TRUE(fs::exists(unrelated));
  EXPECT_NE(log.str().find("removed .last.ckpt.tmp.4194304.7"), std::string::npos) << log.str();
}

namespace {

// A mount that is undone (lazily, even with files still open) when the test ends.
class ScopedMount {
 public:
  ~ScopedMount() {
    for (auto it = targets_.rbegin(); it != targets_.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  }
  // Returns "" or why the mount failed (no privilege: the caller skips).
  std::string mount(const std::string& source, const fs::path& target, const char* type,
                    unsigned long flags, const std::string& data = "") {
    if (::mount(source.c_str(), target.c_str(), type, flags, data.empty() ? nullptr : data.c_str()) != 0)
      return cat("mount ", target.string(), ": ", std::strerror(errno));
    if (!(flags & MS_REMOUNT)) targets_.push_back(target);
    return "";
  }

 private:
  std::vector<fs::path> targets_;
};

void expect_loadable_at_step(const fs::path& checkpoint, int64_t step) {
  GLPDepth model(GLPDepthOptions{glpdepth::MitEncoder::kB0, 80.0});
  CheckpointData data;
  ASSERT_NO_THROW(data = load_checkpoint(checkpoint, model, nullptr)) << checkpoint;
  EXPECT_EQ(data.progress.global_step, step);
}

}  // namespace

// The disk fills up between two checkpoints (a tmpfs, filled from the first checkpoint's hook
// to half a checkpoint short of the next): the run stops with an error naming last.ckpt and the
// reason, the first last.ckpt still loads and no temporary file is left.
TEST_F(TrainerTest, AFullDiskDuringACheckpointWriteKeepsThePreviousCheckpoint) {
  const fs::path mount_point = logs_ / "small-disk";
  fs::create_directories(mount_point);
  ScopedMount mounts;
  const std::string failed = mounts.mount("tmpfs", mount_point, "tmpfs", 0, "size=256m");
  if (!failed.empty()) GTEST_SKIP() << "cannot make a small disk (needs root): " << failed;
  TrainConfig config = whole_epochs_config(data_->path(), mount_point, "full");
  config.checkpoint.save_every_steps = 1;
  TrainHooks hooks;
  int checkpoints = 0;
  hooks.on_checkpoint = [&](const fs::path& written) {
    if (checkpoints++ > 0) return;
    struct statvfs disk {};
    ASSERT_EQ(::statvfs(mount_point.c_str(), &disk), 0);
    const auto free_bytes = static_cast<off_t>(disk.f_bavail * disk.f_frsize);
    const auto filler_size = free_bytes - static_cast<off_t>(fs::file_size(written) / 2);
    const int fd = ::open((mount_point / "filler").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::posix_fallocate(fd, 0, filler_size), 0);
    ::close(fd);
  };
  try {
    train(config, log_, hooks);
    FAIL() << "the run went on with a full disk";
  } catch (const Error& e) {
    const std::string message = e.what();
    std::cout << "the run stopped with: " << message << "\n";
    EXPECT_NE(message.find("cannot write checkpoint " + (mount_point / "kitti" / "full" / "last.ckpt").string()),
              std::string::npos) << message;
    EXPECT_NE(message.find(std::strerror(ENOSPC)), std::string::npos) << message;
  }
  EXPECT_EQ(checkpoints, 1);
  const fs::path run_dir = mount_point / "kitti" / "full";
  expect_loadable_at_step(run_dir / "last.ckpt", 1);
  EXPECT_TRUE(temporaries_in(run_dir).empty());
}

// The run folder turns read-only after the first checkpoint (a read-only bind mount over it for
// root, whom permission bits do not stop; chmod otherwise): the same promises as a full disk.
TEST_F(TrainerTest, AReadOnlyRunFolderDuringACheckpointWriteKeepsThePreviousCheckpoint) {
  TrainConfig config = whole_epochs_config(data_->path(), logs_.path(), "readonly");
  config.checkpoint.save_every_steps = 1;
  ScopedMount mounts;
  std::string failed;
  TrainHooks hooks;
  int checkpoints = 0;
  hooks.on_checkpoint = [&](const fs::path& written) {
    if (checkpoints++ > 0) return;
    const fs::path folder = written.parent_path();
    if (::geteuid() != 0) {
      fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
      return;
    }
    failed = mounts.mount(folder.string(), folder, nullptr, MS_BIND);
    if (failed.empty())
      failed = mounts.mount("", folder, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY);
    if (!failed.empty()) throw std::runtime_error(failed);
  };
  try {
    train(config, log_, hooks);
    FAIL() << "the run went on in a read-only folder";
  } catch (const Error& e) {
    const std::string message = e.what();
    std::cout << "the run stopped with: " << message << "\n";
    EXPECT_NE(message.find("cannot write checkpoint "), std::string::npos) << message;
    EXPECT_NE(message.find("last.ckpt after step 2"), std::string::npos) << message;
    EXPECT_NE(message.find(std::strerror(::geteuid() == 0 ? EROFS : EACCES)), std::string::npos)
        << message;
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "cannot make the run folder read-only: " << e.what();
  }
  const fs::path run_dir = logs_ / "kitti" / "readonly";
  expect_loadable_at_step(run_dir / "last.ckpt", 1);
  EXPECT_TRUE(temporaries_in(run_dir).empty());
  if (::geteuid() != 0) fs::permissions(run_dir, fs::perms::owner_all);  // lets TempDir remove it
}
