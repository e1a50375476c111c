// Long runs under faults, end to end with the real binary (docs/RELIABILITY.md): a run SIGKILLed
// at a random step and resumed, Slurm's preemption signal, elastic restarts of `launch` after a
// rank is killed, and two hosts on their own network (namespaces joined by a veth pair) whose
// link is cut mid-training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "common/background.h"
#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/trainer.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/threads.h"

using glpdepth::testing::Background;
using glpdepth::testing::csv_rows;
using glpdepth::testing::run_glpdepth;
using glpdepth::testing::TempDir;
using glpdepth::testing::wait_until;
namespace fs = std::filesystem;

namespace {

// 8 training frames (two drives; the third is validation) at 124x38.
class ReliabilityCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir();
    auto [code, output] = run_glpdepth("synth --out " + data_->path().string() +
                                       " --count 12 --scale 0.1 --seed 4 --frames_per_drive 4"
                                       " --val_fraction 0.34 --test_fraction 0 --workers 1");
    ASSERT_EQ(code, 0) << output;
  }
  static void TearDownTestSuite() { delete data_; }

  // A tiny MiT-b0 run, one thread, a row of train.csv per step, no validation.
  static std::string train_flags(const fs::path& logs, const std::string& name, int epochs,
                                 int batch_size = 2) {
    return " --dataset kitti --data_path " + data_->path().string() +
           " --no_window --crop_h 32 --crop_w 64 --encoder b0 --pretrained none --batch_size " +
           std::to_string(batch_size) + " --workers 1 --threads 1 --seed 3 --log_every 1"
           " --val_freq 0 --epochs " + std::to_string(epochs) + " --log_dir " + logs.string() +
           " --exp_name " + name;
  }
  static std::string cli() { return GLPDEPTH_CLI_PATH; }

  static TempDir* data_;
  TempDir dir_;
};
TempDir* ReliabilityCli::data_ = nullptr;

glpdepth::StateDict model_of(const fs::path& checkpoint) {
  auto value = glpdepth::read_pytorch_file(checkpoint);
  return glpdepth::state_dict_from_value(value.at("model"), checkpoint.string());
}

void expect_same_weights(const fs::path& a_path, const fs::path& b_path) {
  const glpdepth::StateDict a = model_of(a_path), b = model_of(b_path);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

int random_in(int low, int high) {
  std::random_device device;
  const int value = std::uniform_int_distribution<int>(low, high)(device);
  std::cout << "random step: " << value << " (of " << low << ".." << high << ")\n";
  return value;
}

bool has_temporaries(const fs::path& folder) {
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

// The first column (the step) of each train.csv row.
std::vector<int> logged_steps(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<int> steps;
  while (std::getline(in, line)) steps.push_back(std::stoi(line));
  return steps;
}

std::vector<int> one_to(int n) {
  std::vector<int> steps(n);
  for (int i = 0; i < n; ++i) steps[i] = i + 1;
  return steps;
}

// The child of `parent` whose environment holds `entry` (e.g. RANK=1), or -1.
pid_t child_with_env(pid_t parent, const std::string& entry) {
  for (const auto& proc : fs::directory_iterator("/proc")) {
    const std::string name = proc.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(proc.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    char state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid != parent) continue;
    std::ifstream environ(proc.path() / "environ");
    std::stringstream text;
    text << environ.rdbuf();
    const std::string all = std::string(1, '\0') + text.str();
    if (all.find(std::string(1, '\0') + entry + '\0') != std::string::npos) return std::stoi(name);
  }
  return -1;
}

}  // namespace

// A run with a step checkpoint every 2 steps is SIGKILLed at a random step; continued with
// --resume auto it ends with exactly the uninterrupted run's weights, and the continuation decodes
// only the batches after its checkpoint (counted by the loader), none of them twice.
TEST_F(ReliabilityCli, KilledAtARandomStepAndResumedEqualsTheUninterruptedRun) {
  const int epochs = 2, total = 8;  // 4 batches per epoch
  const fs::path logs = dir_ / "logs";
  auto [code, output] = run_glpdepth("train" + train_flags(logs, "straight", epochs));
  ASSERT_EQ(code, 0) << output;

  // From step 3 on: the row of step s comes just before checkpoint s is written, so only the
  // row of step 3 proves that a checkpoint (step 2) exists to resume from.
  const int kill_at = random_in(3, total - 2);
  const fs::path run = logs / "kitti" / "killed";
  {
    Background killed(cli() + " train" + train_flags(logs, "killed", epochs) + " --save_every_steps 2",
                      dir_ / "killed.log");
    ASSERT_TRUE(wait_until(120, [&] { return csv_rows(run / "train.csv") >= kill_at || !killed.running(); }));
    ASSERT_TRUE(killed.running()) << "the run ended before the kill:\n" << killed.output();
    ::kill(killed.pid(), SIGKILL);
    ASSERT_EQ(killed.wait(20), 128 + SIGKILL);
  }
  // The last step checkpoint that was complete when the kill came (the row of step s is logged
  // just before checkpoint s is written).
  const int64_t saved = glpdepth::peek_checkpoint(run / "last.ckpt").progress.global_step;
  std::cout << "killed after " << csv_rows(run / "train.csv") << " logged steps; last.ckpt holds step "
            << saved << "\n";
  EXPECT_GE(saved, kill_at - 2);
  ASSERT_LT(saved, total);

  // The continuation runs in this process (to count decoded batches) from the run's own
  // config.json, as `--config config.json --resume auto` would.
  nlohmann::json json = nlohmann::json::parse(glpdepth::read_file_bytes(run / "config.json"));
  json.erase("run");
  glpdepth::TrainConfig config = glpdepth::train_config_from_json(json);
  config.checkpoint.resume = "auto";
  glpdepth::set_compute_threads(1);
  std::ostringstream log;
  const glpdepth::TrainResult resumed = glpdepth::train(config, log);
  EXPECT_EQ(resumed.run_dir, run);
  EXPECT_NE(log.str().find("resumed from"), std::string::npos) << log.str();
  EXPECT_EQ(resumed.global_step, total);
  EXPECT_EQ(resumed.step_losses.size(), static_cast<size_t>(total - saved));
  EXPECT_EQ(resumed.batches_loaded, total - saved) << "batches decoded after resuming at step " << saved;
  expect_same_weights(logs / "kitti" / "straight" / "last.ckpt", resumed.last_checkpoint);
  EXPECT_FALSE(has_temporaries(run));
  // The rows the killed run had logged after its checkpoint were dropped and logged again.
  EXPECT_EQ(logged_steps(run / "train.csv"), one_to(total));
}

// SIGUSR1 (sbatch --signal=B:USR1@120) finishes the step, saves it, exits 3 with the requeue
// advice; the requeued run (--resume auto) ends with the uninterrupted run's weights.
TEST_F(ReliabilityCli, PreemptionSignalSavesTheStepAndExitsWithTheRequeueCode) {
  const int epochs = 2, total = 8;
  const fs::path logs = dir_ / "logs";
  auto [code, output] = run_glpdepth("train" + train_flags(logs, "straight", epochs));
  ASSERT_EQ(code, 0) << output;

  const int signal_at = random_in(1, total - 2);
  const fs::path run = logs / "kitti" / "preempted";
  Background preempted(cli() + " train" + train_flags(logs, "preempted", epochs), dir_ / "preempted.log");
  ASSERT_TRUE(wait_until(120, [&] { return csv_rows(run / "train.csv") >= signal_at || !preempted.running(); }));
  ASSERT_TRUE(preempted.running()) << "the run ended before the signal:\n" << preempted.output();
  ::kill(preempted.pid(), SIGUSR1);
  EXPECT_EQ(preempted.wait(60), 3) << preempted.output();
  const std::string said = preempted.output();
  EXPECT_NE(said.find("exit code 3"), std::string::npos) << said;
  EXPECT_NE(said.find("requeue"), std::string::npos) << said;
  EXPECT_NE(said.find("--resume auto"), std::string::npos) << said;
  // The step under way when the signal came was finished and saved: the checkpoint is at the
  // last step with a train.csv row.
  const int64_t saved = glpdepth::peek_checkpoint(run / "last.ckpt").progress.global_step;
  EXPECT_EQ(saved, csv_rows(run / "train.csv"));
  EXPECT_GE(saved, signal_at);

  std::tie(code, output) = run_glpdepth("train" + train_flags(logs, "preempted", epochs) + " --resume auto");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("resumed from"), std::string::npos) << output;
  expect_same_weights(logs / "kitti" / "straight" / "last.ckpt", run / "last.ckpt");
}

// SIGUSR1 reaching only rank 1 of 2 (one task of an srun step got it first): the ranks agree to
// stop after the same step, rank 0 saves it and nobody exits before that file is complete; both
// exit 3, which `launch` hands on without restarting.
TEST_F(ReliabilityCli, PreemptionOfOneRankStopsEveryRankAtTheSameSavedStep) {
  const fs::path logs = dir_ / "logs";
  const fs::path run = logs / "kitti" / "preempted";
  Background launcher(cli() + " launch --nproc 2 --master_port 0 --max_restarts 1 -- train" +
                          train_flags(logs, "preempted", 50) + " --dist_timeout 30",
                      dir_ / "launch.log");
  ASSERT_TRUE(wait_until(120, [&] { return csv_rows(run / "train.csv") >= 2 || !launcher.running(); }));
  const pid_t rank1 = child_with_env(launcher.pid(), "RANK=1");
  ASSERT_GT(rank1, 0) << launcher.output();
  ::kill(rank1, SIGUSR1);
  EXPECT_EQ(launcher.wait(60), 3) << launcher.output();
  const std::string said = launcher.output();
  EXPECT_EQ(said.find("restarting"), std::string::npos) << said;
  const int64_t saved = glpdepth::peek_checkpoint(run / "last.ckpt").progress.global_step;
  EXPECT_EQ(saved, csv_rows(run / "train.csv"));
  const std::string stopped = "train: stopped after step " + std::to_string(saved) + " ";
  const size_t first = said.find(stopped);
  ASSERT_NE(first, std::string::npos) << said;
  EXPECT_NE(said.find(stopped, first + 1), std::string::npos) << "both ranks stop at step " << saved << "\n" << said;
}

// `launch --nproc 2 --max_restarts 1`: rank 1 is SIGKILLed mid-epoch; rank 0 notices, every rank
// stops, the group starts again and continues from the last step checkpoint, and the weights at
// the end are the uninterrupted 2-rank run's.
TEST_F(ReliabilityCli, ElasticLaunchSurvivesAKilledRankWithTheUninterruptedWeights) {
  const int epochs = 3, total = 6;  // 2 ranks x batch 2: 2 steps per epoch
  const fs::path logs = dir_ / "logs";
  auto [code, output] = run_glpdepth("launch --nproc 2 --master_port 0 -- train" +
                                     train_flags(logs, "straight", epochs) + " --dist_timeout 60");
  ASSERT_EQ(code, 0) << output;

  const int kill_at = 2 * random_in(0, total / 2 - 2) + 1;  // after an epoch's first step
  std::cout << "rank 1 is killed once " << kill_at << " steps are logged\n";
  const fs::path run = logs / "kitti" / "elastic";
  Background launcher(cli() + " launch --nproc 2 --master_port 0 --max_restarts 1 --grace 5 -- train" +
                          train_flags(logs, "elastic", epochs) +
                          " --resume auto --save_every_steps 1 --dist_timeout 30",
                      dir_ / "elastic.log");
  ASSERT_TRUE(wait_until(120, [&] { return csv_rows(run / "train.csv") >= kill_at || !launcher.running(); }));
  ASSERT_TRUE(launcher.running()) << launcher.output();
  const pid_t rank1 = child_with_env(launcher.pid(), "RANK=1");
  ASSERT_GT(rank1, 0) << "rank 1 not found among the launcher's children";
  ::kill(rank1, SIGKILL);
  EXPECT_EQ(launcher.wait(180), 0) << launcher.output();
  const std::string said = launcher.output();
  std::istringstream lines(said);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("launch:", 0) == 0 || line.rfind("error:", 0) == 0 || line.find("resumed") != std::string::npos)
      std::cout << "  " << line << "\n";
  // Usually rank 1's SIGKILL (137); rank 0's own failure (1) when the launcher saw both at once.
  EXPECT_NE(said.find("failed with exit code"), std::string::npos) << said;
  EXPECT_NE(said.find("restarting all 2 ranks (restart 1 of 1)"), std::string::npos) << said;
  EXPECT_NE(said.find("resumed from " + (run / "last.ckpt").string()), std::string::npos) << said;
  expect_same_weights(logs / "kitti" / "straight" / "last.ckpt", run / "last.ckpt");
  EXPECT_EQ(logged_steps(run / "train.csv"), one_to(total));
}

namespace {

// Runs a shell command; returns its exit status and output.
int shell(const std::string& command, std::string& output) {
  FILE* pipe = ::popen(("(" + command + ") 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  size_t n;
  output.clear();
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Two hosts: network namespaces joined by a veth pair, A at 10.231.0.1/24 and B at
// 10.231.0.2/24, with names unique to this process. The destructor kills whatever still runs in
// them and removes them (the veth pair goes with them), also when the test failed.
class TwoHosts {
 public:
  static constexpr const char* kAddress[2] = {"10.231.0.1", "10.231.0.2"};

  TwoHosts() {
    const std::string id = std::to_string(::getpid());
    ns_[0] = "glpdepth-" + id + "-a";
    ns_[1] = "glpdepth-" + id + "-b";
    if_[0] = "glpa" + id;  // interface names have at most 15 characters
    if_[1] = "glpb" + id;
    std::vector<std::string> commands = {"ip netns add " + ns_[0], "ip netns add " + ns_[1],
                                         "ip link add " + if_[0] + " type veth peer name " + if_[1]};
    for (int h = 0; h < 2; ++h) {
      commands.push_back("ip link set " + if_[h] + " netns " + ns_[h]);
      commands.push_back("ip -n " + ns_[h] + " addr add " + kAddress[h] + "/24 dev " + if_[h]);
      commands.push_back("ip -n " + ns_[h] + " link set lo up");
      commands.push_back("ip -n " + ns_[h] + " link set " + if_[h] + " up");
    }
    std::string output;
    for (const std::string& command : commands) {
      if (shell(command, output) != 0) {
        why_not_ = "`" + command + "`: " + output;
        return;
      }
    }
  }
  ~TwoHosts() {
    std::string ignored;
    for (int h = 0; h < 2; ++h) {
      shell("ip netns pids " + ns_[h] + " | xargs -r kill -9", ignored);
      shell("ip netns del " + ns_[h], ignored);
    }
    shell("ip link del " + if_[0], ignored);  // only if it never left this namespace
  }
  TwoHosts(const TwoHosts&) = delete;
  TwoHosts& operator=(const TwoHosts&) = delete;

  const std::string& why_not() const { return why_not_; }

  // `glpdepth train` as rank `host` of 2 on that host, meeting at A's address.
  std::string rank(int host, int port, const std::string& train_args) const {
    return "ip netns exec " + ns_[host] + " env RANK=" + std::to_string(host) +
           " WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=" + kAddress[0] +
           " MASTER_PORT=" + std::to_string(port) + " GLOO_SOCKET_IFNAME=" + if_[host] + " " +
           GLPDEPTH_CLI_PATH + " train" + train_args;
  }

  // Pulls A's end of the cable.
  std::string cut() const {
    std::string output;
    return shell("ip -n " + ns_[0] + " link set " + if_[0] + " down", output) == 0 ? "" : output;
  }

 private:
  std::string ns_[2], if_[2], why_not_;
};

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

std::vector<double> train_csv_losses(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<double> losses;
  while (std::getline(in, line)) losses.push_back(std::stod(line.substr(line.find(',', line.find(',') + 1) + 1)));
  return losses;
}

}  // namespace

// One rank on each of two hosts with their own addresses: the training equals one process with
// the double batch; then the link between them is cut mid-training and both ranks stop with an
// error naming the other within the timeout, leaving a loadable last.ckpt.
TEST_F(ReliabilityCli, TwoHostsTrainLikeOneProcessAndACutLinkStopsBothNamingThePeer) {
  TwoHosts hosts;
  if (!hosts.why_not().empty())
    GTEST_SKIP() << "cannot make two hosts with network namespaces (needs root or CAP_NET_ADMIN): "
                 << hosts.why_not();
  const fs::path logs = dir_ / "logs";
  // SGD and SyncBatchNorm as in dist_train_cli_test.cpp: 2 ranks x batch 2 = 1 process x batch 4.
  const std::string same = " --optimizer sgd --momentum 0.9 --schedule constant --lr 0.05"
                           " --drop_path_rate 0 --max_steps_per_epoch 2";
  auto [code, output] = run_glpdepth("train" + train_flags(logs, "single", 2, 4) + same);
  ASSERT_EQ(code, 0) << output;
  {
    const std::string args = train_flags(logs, "hosts", 2) + same + " --sync_bn --dist_timeout 60";
    Background a(hosts.rank(0, 29500, args), dir_ / "a.log"), b(hosts.rank(1, 29500, args), dir_ / "b.log");
    ASSERT_EQ(a.wait(180), 0) << a.output() << "\n--- host B:\n" << b.output();
    ASSERT_EQ(b.wait(30), 0) << b.output();
    const std::string host = host_name();
    EXPECT_NE(a.output().find("2 ranks: rank 0 on " + host + " (10.231.0.1), rank 1 on " + host +
                              " (10.231.0.2)"), std::string::npos) << a.output();
  }
  const std::vector<double> single = train_csv_losses(logs / "kitti" / "single" / "train.csv");
  const std::vector<double> dual = train_csv_losses(logs / "kitti" / "hosts" / "train.csv");
  ASSERT_EQ(single.size(), 4u);
  ASSERT_EQ(dual.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(single[i], dual[i], 1e-5) << "step " << i + 1;
  const glpdepth::StateDict one = model_of(logs / "kitti" / "single" / "last.ckpt");
  const glpdepth::StateDict two = model_of(logs / "kitti" / "hosts" / "last.ckpt");
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i)
    EXPECT_TRUE(torch::allclose(one[i].second.to(torch::kFloat64), two[i].second.to(torch::kFloat64), 1e-4, 1e-5))
        << one[i].first;

  // The cut: a long run (it cannot end by itself first), step checkpoints, an 8 s timeout.
  const double timeout = 8;
  const std::string args = train_flags(logs, "cut", 500) + same + " --save_every_steps 1 --dist_timeout 8";
  Background a(hosts.rank(0, 29501, args), dir_ / "cut-a.log"), b(hosts.rank(1, 29501, args), dir_ / "cut-b.log");
  const fs::path run = logs / "kitti" / "cut";
  ASSERT_TRUE(wait_until(120, [&] { return csv_rows(run / "train.csv") >= 3 || !a.running(); })) << a.output();
  ASSERT_TRUE(a.running() && b.running()) << a.output() << "\n--- host B:\n" << b.output();
  ASSERT_EQ(hosts.cut(), "");
  const auto cut_at = std::chrono::steady_clock::now();
  double stopped_after[2] = {-1, -1};
  Background* ranks[2] = {&a, &b};
  wait_until(timeout + 60, [&] {
    const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut_at).count();
    for (int h = 0; h < 2; ++h)
      if (stopped_after[h] < 0 && !ranks[h]->running()) stopped_after[h] = now;
    return stopped_after[0] >= 0 && stopped_after[1] >= 0;
  });
  std::cout << "after the cut, rank 0 stopped in " << stopped_after[0] << " s, rank 1 in "
            << stopped_after[1] << " s (--dist_timeout " << timeout << ")\n";
  for (int h = 0; h < 2; ++h) {
    EXPECT_GE(stopped_after[h], 0) << "host " << h << " still ran " << timeout + 60 << " s after the cut";
    EXPECT_LT(stopped_after[h], timeout + 10) << ranks[h]->output();
    EXPECT_NE(ranks[h]->wait(1), 0) << ranks[h]->output();
    std::istringstream lines(ranks[h]->output());
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("error:", 0) == 0) std::cout << "  rank " << h << ": " << line << "\n";
  }
  // Each names the other: rank, host and address.
  EXPECT_NE(a.output().find("the peer rank 1 on " + host_name() + " (10.231.0.2)"), std::string::npos) << a.output();
  EXPECT_NE(b.output().find("the peer rank 0 on " + host_name() + " (10.231.0.1)"), std::string::npos) << b.output();
  glpdepth::GLPDepth model(glpdepth::GLPDepthOptions{glpdepth::MitEncoder::kB0, 80.0});
  glpdepth::CheckpointData saved;
  ASSERT_NO_THROW(saved = glpdepth::load_checkpoint(run / "last.ckpt", model, nullptr));
  EXPECT_GE(saved.progress.global_step, 2);
  EXPECT_FALSE(has_temporaries(run));
}
