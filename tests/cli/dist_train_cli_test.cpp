// Data-parallel training over c10d Gloo on 127.0.0.1 against single-process training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/dist/launch.h"
#include "glpdepth/io/pytorch_file.h"

using glpdepth::testing::run_glpdepth;
using glpdepth::testing::TempDir;

namespace {

std::vector<std::vector<double>> read_csv_numbers(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  std::vector<std::vector<double>> rows;
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) row.push_back(std::stod(field));
    rows.push_back(row);
  }
  return rows;
}

glpdepth::StateDict model_of(const std::string& checkpoint) {
  auto value = glpdepth::read_pytorch_file(checkpoint);
  return glpdepth::state_dict_from_value(value.at("model"), checkpoint);
}

}  // namespace

// 2 ranks x batch 2 with SyncBatchNorm == 1 process x batch 4 on the same samples.
TEST(DistributedTraining, TwoGlooRanksEqualOneProcessWithTheDoubleBatch) {
  TempDir dir;
  const std::string data = (dir / "data").string(), logs = (dir / "logs").string();
  auto [code, output] = run_glpdepth("synth --out " + data +
                                     " --count 12 --scale 0.1 --seed 4 --frames_per_drive 4"
                                     " --val_fraction 0.34 --test_fraction 0 --workers 1");
  ASSERT_EQ(code, 0) << output;
  const std::string common =
      " --dataset kitti --data_path " + data + " --no_window --crop_h 32 --crop_w 64 --encoder b0"
      " --epochs 2 --max_steps_per_epoch 2 --drop_path_rate 0 --workers 1 --threads 1 --seed 3"
      " --optimizer sgd --momentum 0.9 --schedule constant --lr 0.05 --log_every 1 --log_dir " + logs;
  // SGD, not Adam: the conv biases in front of BatchNorm have an exactly-zero true gradient, so
  // theirs is rounding noise that differs with the reduction order; Adam's normalised update
  // would turn that noise into lr-sized steps in either run and the comparison would be moot.

  std::tie(code, output) = run_glpdepth("train --batch_size 4 --exp_name single" + common);
  ASSERT_EQ(code, 0) << output;
  std::tie(code, output) =
      run_glpdepth("launch --nproc 2 --master_port 0 -- train --batch_size 2 --sync_bn"
                   " --verify_replicas --dist_timeout 60 --exp_name dual" + common);
  ASSERT_EQ(code, 0) << output;

  // Same losses step by step (the global SiLog over both ranks' pixels).
  auto single_steps = read_csv_numbers(logs + "/kitti/single/train.csv");
  auto dual_steps = read_csv_numbers(logs + "/kitti/dual/train.csv");
  ASSERT_EQ(single_steps.size(), 4u);
  ASSERT_EQ(dual_steps.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(single_steps[i][2], dual_steps[i][2], 1e-5) << "step " << i + 1;

  // Same weights after 4 steps.
  auto single = model_of(logs + "/kitti/single/last.ckpt");
  auto dual = model_of(logs + "/kitti/dual/last.ckpt");
  ASSERT_EQ(single.size(), dual.size());
  for (size_t i = 0; i < single.size(); ++i) {
    ASSERT_EQ(single[i].first, dual[i].first);
    EXPECT_TRUE(torch::allclose(single[i].second.to(torch::kFloat64), dual[i].second.to(torch::kFloat64),
                                1e-4, 1e-5))
        << single[i].first << " max diff "
        << (single[i].second.to(torch::kFloat64) - dual[i].second.to(torch::kFloat64)).abs().max().item<double>();
  }

  // Validation sharded over the ranks and reduced exactly equals the single-process metrics.
  auto single_val = read_csv_numbers(logs + "/kitti/single/metrics.csv");
  auto dual_val = read_csv_numbers(logs + "/kitti/dual/metrics.csv");
  ASSERT_EQ(single_val.size(), 2u);
  ASSERT_EQ(dual_val.size(), 2u);
  for (size_t r = 0; r < 2; ++r)
    for (size_t c = 2; c + 1 < single_val[r].size(); ++c)
      EXPECT_NEAR(single_val[r][c], dual_val[r][c], 1e-4 * std::max(1.0, std::abs(single_val[r][c])))
          << "validation " << r + 1 << " column " << c;
}

// A rank that dies makes the other fail within the timeout instead of hanging.
TEST(DistributedTraining, ARankThatDiesStopsTheOthers) {
  TempDir dir;
  const std::string data = (dir / "data").string();
  auto [synth_code, output] = run_glpdepth("synth --out " + data +
                                     " --count 8 --scale 0.1 --seed 4 --frames_per_drive 4"
                                     " --val_fraction 0 --test_fraction 0 --workers 1");
  ASSERT_EQ(synth_code, 0) << output;
  // Rank 1 dies at start-up (exit 7); rank 0 must not wait for it forever in the rendezvous or
  // in the first collective, but fail on its own within the timeout.
  glpdepth::dist::LaunchOptions options;
  options.nproc = 2;
  options.master_port = 0;
  options.grace = std::chrono::seconds(60);  // long: rank 0 must stop by itself, not be killed
  options.program = "/bin/sh";
  const std::string rank0_log = (dir / "rank0.log").string();
  options.args = {"-c", std::string("if [ \"$RANK\" = 1 ]; then exit 7; fi; exec ") + GLPDEPTH_CLI_PATH +
                            " train --dataset kitti --data_path " + data +
                            " --no_window --crop_h 32 --crop_w 64 --encoder b0 --epochs 1"
                            " --batch_size 2 --workers 1 --threads 1 --dist_timeout 5 --log_dir " +
                            (dir / "logs").string() + " > " + rank0_log + " 2>&1"};
  auto start = std::chrono::steady_clock::now();
  int code = glpdepth::dist::launch_local(options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(code, 7);  // the first failing rank's code
  std::ifstream in(rank0_log);
  std::string rank0((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(rank0.find("error:"), std::string::npos) << rank0;  // rank 0 failed with a message
  EXPECT_LT(seconds, 45.0) << rank0;
}
