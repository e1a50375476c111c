#include <gtest/gtest.h>
#include <torch/torch.h>

#include "glpdepth/model/glpdepth.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/run_dir.h"
#include "glpdepth/util/error.h"
#include "train_test_util.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

TEST(RunDir, ReusedNameNeverMixesRuns) {
  test::TempDir tmp;
  const fs::path logs = tmp.path() / "logs";
  const fs::path first = prepare_run_dir(logs, "DrivingStereo", "exp", {false, "config A"});
  EXPECT_EQ(first, logs / "DrivingStereo" / "exp");
  EXPECT_TRUE(fs::is_directory(first));
  EXPECT_EQ(run_signature(first), "config A");
  EXPECT_FALSE(run_finished(first));
  test::write_text(first / "log.csv", "epoch\n1\n");

  // Same name, different run: a new folder; the first one is untouched.
  const fs::path second = prepare_run_dir(logs, "DrivingStereo", "exp", {false, "config B"});
  EXPECT_EQ(second, logs / "DrivingStereo" / "exp_2");
  EXPECT_EQ(run_signature(first), "config A");
  EXPECT_EQ(test::read_text(first / "log.csv"), "epoch\n1\n");
  // Finished first run: still not reused.
  mark_run_finished(first);
  EXPECT_TRUE(run_finished(first));
  EXPECT_EQ(prepare_run_dir(logs, "DrivingStereo", "exp", {false, "config A"}),
            logs / "DrivingStereo" / "exp_3");

  // Resume: the newest one.
  EXPECT_EQ(prepare_run_dir(logs, "DrivingStereo", "exp", {true, "x"}),
            logs / "DrivingStereo" / "exp_3");
  EXPECT_EQ(run_signature(logs / "DrivingStereo" / "exp_3"), "config A");  // not overwritten
  EXPECT_EQ(prepare_run_dir(logs, "NYU", "fresh", {true, ""}), logs / "NYU" / "fresh");

  // An empty folder (e.g. made by hand) is used as is.
  fs::create_directories(logs / "KITTI" / "e");
  EXPECT_EQ(prepare_run_dir(logs, "KITTI", "e"), logs / "KITTI" / "e");

  EXPECT_THROW(prepare_run_dir(logs, "KITTI", ""), Error);
  EXPECT_THROW(prepare_run_dir(logs, "KITTI", "../x"), Error);
  EXPECT_THROW(prepare_run_dir(logs, "", "x"), Error);
}

TEST(SeedCounter, DeterministicAndRestorable) {
  SeedCounter a(42), b(42), c(43);
  std::vector<uint64_t> seq;
  for (int i = 0; i < 5; ++i) seq.push_back(a.next());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.next(), seq[i]);
  EXPECT_NE(c.next(), seq[0]);
  EXPECT_NE(seq[0], seq[1]);
  EXPECT_EQ(a.at(2), seq[2]);
  SeedCounter d;
  d.restore(42, 3);
  EXPECT_EQ(d.next(), seq[3]);
  EXPECT_EQ(d.count(), 4u);
}

TEST(RngState, RestoreReplaysTorchRandomNumbers) {
  torch::manual_seed(123);
  SeedCounter seeds(9);
  seeds.next();
  const RngState saved = capture_rng_state(seeds);
  EXPECT_FALSE(saved.torch_cpu.empty());
  EXPECT_EQ(saved.seed_count, 1u);
  const torch::Tensor first = torch::rand({16});
  const torch::Tensor first_normal = torch::randn({4});
  const uint64_t next_seed = seeds.next();

  SeedCounter other(1);
  torch::manual_seed(999);
  restore_rng_state(saved, other);
  EXPECT_TRUE(torch::equal(torch::rand({16}), first));
  EXPECT_TRUE(torch::equal(torch::randn({4}), first_normal));
  EXPECT_EQ(other.next(), next_seed);

  RngState broken = saved;
  broken.torch_cpu.resize(3);
  EXPECT_THROW(restore_rng_state(broken, other), Error);
}

// Every generator state goes into the checkpoint and comes back byte for byte, the CUDA ones too
// (written on a GPU machine, read anywhere): a list of one state per device.
TEST(RngState, SurvivesACheckpointWithCudaStates) {
  test::TempDir dir;
  GLPDepthOptions model_options;
  model_options.encoder = MitEncoder::kB0;
  GLPDepth model(model_options);
  CheckpointData data;
  data.model_options = model_options;
  torch::manual_seed(5);
  data.rng = capture_rng_state(SeedCounter(3));
  data.rng.torch_cuda = {std::vector<uint8_t>(16, 7), std::vector<uint8_t>{1, 2, 3, 250, 0, 9}};
  data.rng.seed_count = 11;
  save_checkpoint(dir.path() / "rng.ckpt", model, nullptr, data);
  const CheckpointData read = load_checkpoint(dir.path() / "rng.ckpt", model, nullptr);
  EXPECT_EQ(read.rng.torch_cpu, data.rng.torch_cpu);
  EXPECT_EQ(read.rng.torch_cuda, data.rng.torch_cuda);
  EXPECT_EQ(read.rng.seed, 3u);
  EXPECT_EQ(read.rng.seed_count, 11u);
}

}  // namespace
}  // namespace glpdepth
