// Real multi-process runs: the parent test starts two ranks of this same binary (through
// launch_local, filtered to DistWorker.Run) that meet over Gloo on 127.0.0.1.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/temp_dir.h"
#include "glpdepth/dist/ddp.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/dist/launch.h"
#include "glpdepth/dist/sync_batchnorm.h"
#include "glpdepth/util/error.h"

namespace glpdepth::dist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

// ---- the model the broadcast check rebuilds in the parent -------------------------------------

torch::nn::Sequential make_small_model(int seed, int rank_mark) {
  torch::manual_seed(seed);
  torch::nn::Sequential model(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                              torch::nn::BatchNorm2d(4), torch::nn::Flatten(),
                              torch::nn::Linear(4 * 4 * 4, 5));
  torch::NoGradGuard no_grad;
  model[1]->as<torch::nn::BatchNorm2dImpl>()->running_mean.fill_(rank_mark);
  return model;
}

std::vector<torch::Tensor> state_of(torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  for (const auto& p : module.parameters()) out.push_back(p.detach().clone());
  for (const auto& b : module.buffers()) out.push_back(b.clone());
  return out;
}

struct Net : torch::nn::Module {
  // `unused` comes first so that it lands in the last bucket: a parameter without gradient
  // holds back its bucket and every later one until finish().
  Net() {
    unused = register_module("unused", torch::nn::Linear(2, 2));
    a = register_module("a", torch::nn::Linear(4, 8));
    b = register_module("b", torch::nn::Linear(8, 8));
    c = register_module("c", torch::nn::Linear(8, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) { return c(torch::relu(b(torch::relu(a(x))))); }
  torch::nn::Linear a{nullptr}, b{nullptr}, unused{nullptr}, c{nullptr};
};

torch::Tensor net_input(int rank, int step) {
  torch::manual_seed(200 + 10 * step + rank);
  return torch::randn({6, 4});
}

// Gradients of one rank's loss on a fresh copy of the seeded net, computed without any group.
std::vector<torch::Tensor> local_gradients(int rank, int step) {
  torch::manual_seed(5);
  Net net;
  net.forward(net_input(rank, step)).pow(2).mean().backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : net.parameters()) {
    grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  }
  return grads;
}

std::string payload() {
  std::string bytes(100000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919 + 13) % 256);
  return bytes;
}

// ---- worker scenarios (run inside the launched ranks) -----------------------------------------

void collectives(Group& group, const std::filesystem::path& dir) {
  const int rank = group.rank();
  ASSERT_EQ(group.size(), 2);

  // Every rank knows where every rank runs (exchanged through the store at creation).
  std::string peers;
  for (const PeerInfo& peer : group.peers()) peers += peer.host + " " + peer.address + "\n";
  write_text(dir / ("peers_" + std::to_string(rank)), peers);

  // Different seeds per rank, one broadcast: everybody holds rank 0's weights and buffers.
  torch::nn::Sequential model = make_small_model(100 + rank, rank + 1);
  broadcast_module(group, *model);
  torch::save(state_of(*model), (dir / ("bcast_" + std::to_string(rank) + ".pt")).string());

  // Known per-rank gradients: the all-reduce must leave their exact mean; a parameter without a
  // gradient on one rank counts as zeros there. 16-byte buckets force several buckets.
  torch::Tensor p1 = torch::zeros({3, 5}, torch::requires_grad());
  torch::Tensor p2 = torch::zeros({7}, torch::requires_grad());
  torch::Tensor p3 = torch::zeros({2}, torch::requires_grad());
  auto known = [](int r, int64_t n) {
    return torch::arange(n, torch::kFloat32) * (r + 1) + 0.25 * r;
  };
  p1.mutable_grad() = known(rank, 15).view({3, 5});
  p2.mutable_grad() = known(rank, 7);
  if (rank == 0) p3.mutable_grad() = torch::full({2}, 3.0f);
  allreduce_gradients(group, {p1, p2, p3}, 16);
  EXPECT_TRUE(torch::equal(p1.grad(), ((known(0, 15) + known(1, 15)) / 2).view({3, 5})));
  EXPECT_TRUE(torch::equal(p2.grad(), (known(0, 7) + known(1, 7)) / 2));
  EXPECT_TRUE(torch::equal(p3.grad(), torch::full({2}, 1.5f)));

  // Overlapped reducer: after backward + finish, .grad is the mean of both ranks' gradients,
  // which every rank can compute on its own. The second step keeps the first step's .grad, which
  // the new mean must be added to.
  torch::manual_seed(5);
  auto net = std::make_shared<Net>();
  GradientReducer reducer(std::shared_ptr<Group>(&group, [](Group*) {}), net->parameters(),
                          ReducerOptions{100, true});
  EXPECT_GT(reducer.buckets().size(), 2u);
  std::vector<torch::Tensor> params = net->parameters();
  std::vector<torch::Tensor> expected(params.size());
  for (int step = 0; step < 2; ++step) {
    net->forward(net_input(rank, step)).pow(2).mean().backward();
    EXPECT_GE(reducer.launched_during_backward(), 1) << "no bucket started during backward";
    reducer.finish();
    std::vector<torch::Tensor> g0 = local_gradients(0, step), g1 = local_gradients(1, step);
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor mean = (g0[i] + g1[i]) / 2;
      expected[i] = step == 0 ? mean : expected[i] + mean;
      ASSERT_TRUE(params[i].grad().defined()) << i;
      EXPECT_TRUE(torch::allclose(params[i].grad(), expected[i], 1e-6, 1e-7))
          << "step " << step << " parameter " << i;
    }
  }
  EXPECT_TRUE(torch::equal(net->unused->weight.grad(), torch::zeros({2, 2})));

  // Sums of doubles are exact where the inputs allow.
  std::vector<double> sums = group.allreduce_sum({rank + 0.5, 1e15 * (rank + 1), -1.0 * rank});
  EXPECT_EQ(sums, (std::vector<double>{2.0, 3e15, -1.0}));

  // Bytes from rank 0 (including NULs), then from rank 1.
  EXPECT_EQ(group.broadcast_string(rank == 0 ? payload() : "junk"), payload());
  EXPECT_EQ(group.broadcast_string(rank == 1 ? "from one" : "", 1), "from one");
  EXPECT_EQ(group.broadcast_string(rank == 0 ? "" : "not empty"), "");

  torch::Tensor t = torch::full({4}, static_cast<float>(rank + 10));
  group.broadcast(t, 1);
  EXPECT_TRUE(torch::equal(t, torch::full({4}, 11.0f)));

  // The barrier holds rank 0 until rank 1 arrives 0.4 s later.
  if (rank == 1) std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto start = Clock::now();
  group.barrier();
  if (rank == 0) {
    EXPECT_GT(seconds_since(start), 0.3);
  }
}

void sync_batchnorm(Group& group) {
  const int rank = group.rank();
  // Uneven per-rank batches (1 and 3) check that the statistics are weighted by count.
  const int64_t offset = rank == 0 ? 0 : 1, batch = rank == 0 ? 1 : 3;
  torch::manual_seed(7);
  torch::Tensor x_full = torch::randn({4, 3, 4, 5}) * 2 + 3;
  torch::Tensor g_full = torch::randn({4, 3, 4, 5});
  torch::nn::BatchNorm2d plain(torch::nn::BatchNormOptions(3).momentum(0.2));
  SyncBatchNorm2d sync(torch::nn::BatchNormOptions(3).momentum(0.2),
                       std::shared_ptr<Group>(&group, [](Group*) {}));
  {
    torch::NoGradGuard no_grad;
    plain->weight.uniform_(0.5, 1.5);
    plain->bias.uniform_(-1, 1);
    sync->weight.copy_(plain->weight);
    sync->bias.copy_(plain->bias);
  }
  for (int step = 0; step < 2; ++step) {
    torch::Tensor xp = x_full.clone().requires_grad_(true);
    torch::Tensor yp = plain->forward(xp);
    (yp * g_full).sum().backward();

    torch::Tensor xs = x_full.narrow(0, offset, batch).clone().requires_grad_(true);
    torch::Tensor ys = sync->forward(xs);
    (ys * g_full.narrow(0, offset, batch)).sum().backward();

    EXPECT_TRUE(torch::allclose(ys, yp.narrow(0, offset, batch), 1e-5, 1e-5)) << step;
    EXPECT_TRUE(torch::allclose(xs.grad(), xp.grad().narrow(0, offset, batch), 1e-4, 1e-5)) << step;
    // Weight and bias gradients are this rank's share: their sum is the full-batch gradient.
    torch::Tensor wb = torch::cat({sync->weight.grad(), sync->bias.grad()});
    group.allreduce_sum(wb);
    EXPECT_TRUE(
        torch::allclose(wb, torch::cat({plain->weight.grad(), plain->bias.grad()}), 1e-4, 1e-4))
        << step;
    EXPECT_TRUE(torch::allclose(sync->running_mean, plain->running_mean, 1e-5, 1e-6)) << step;
    EXPECT_TRUE(torch::allclose(sync->running_var, plain->running_var, 1e-5, 1e-6)) << step;
    EXPECT_EQ(sync->num_batches_tracked.item<int64_t>(), step + 1);
    for (auto& p : plain->parameters()) p.mutable_grad() = torch::Tensor();
    for (auto& p : sync->parameters()) p.mutable_grad() = torch::Tensor();
    x_full = x_full * 0.5 - 1;
  }
  plain->eval();
  sync->eval();
  torch::Tensor xe = x_full.narrow(0, offset, batch);
  EXPECT_TRUE(torch::allclose(sync->forward(xe), plain->forward(x_full).narrow(0, offset, batch),
                              1e-5, 1e-5));
}

// conv -> BN -> relu -> conv, seeded identically everywhere.
torch::nn::Sequential conv_bn_model(bool sync, const std::shared_ptr<Group>& group) {
  torch::manual_seed(11);
  torch::nn::Sequential model;
  model->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3).padding(1)));
  if (sync) {
    model->push_back(SyncBatchNorm2d(torch::nn::BatchNormOptions(4), group));
  } else {
    model->push_back(torch::nn::BatchNorm2d(4));
  }
  model->push_back(torch::nn::ReLU());
  model->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 3, 1)));
  return model;
}

// SyncBatchNorm's collectives in backward interleave with the reducer's bucket all-reduces
// started from hooks; the averaged gradients must equal one process's gradients of the whole
// batch (loss halved: the reducer averages over 2 ranks).
void sync_batchnorm_with_reducer(Group& group) {
  const int rank = group.rank();
  const int64_t offset = rank == 0 ? 0 : 1, batch = rank == 0 ? 1 : 3;
  std::shared_ptr<Group> shared(&group, [](Group*) {});
  torch::manual_seed(12);
  torch::Tensor x_full = torch::randn({4, 2, 5, 6});
  torch::Tensor g_full = torch::randn({4, 3, 5, 6});

  torch::nn::Sequential reference = conv_bn_model(false, nullptr);
  (reference->forward(x_full) * g_full).sum().div(2).backward();

  torch::nn::Sequential model = conv_bn_model(true, shared);
  GradientReducer reducer(shared, model->parameters(), ReducerOptions{64, true});
  torch::Tensor out = model->forward(x_full.narrow(0, offset, batch));
  (out * g_full.narrow(0, offset, batch)).sum().backward();
  EXPECT_GE(reducer.launched_during_backward(), 1);
  reducer.finish();
  std::vector<torch::Tensor> got = model->parameters(), want = reference->parameters();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(torch::allclose(got[i].grad(), want[i].grad(), 1e-4, 1e-5)) << "parameter " << i;
  }
}

// One rank dies (SIGKILL) or hangs after a first collective; rank 0 must give up with an error
// (and then also get rid of its group without waiting for the lost rank).
void failure(Group& group, const std::filesystem::path& dir, bool die) {
  torch::Tensor t = torch::ones({1000});
  group.allreduce_sum(t);
  if (group.rank() == 1) {
    if (die) ::raise(SIGKILL);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    std::_Exit(0);
  }
  auto start = Clock::now();
  try {
    for (int i = 0; i < 100000; ++i) {
      group.allreduce_sum(t);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    write_text(dir / "failure_0", "no error");
    std::_Exit(4);
  } catch (const Error& e) {
    write_text(dir / "failure_0", cat(seconds_since(start), "\n", e.what()));
  }
}

TEST(DistWorker, Run) {
  const char* scenario = std::getenv("GLPDEPTH_DIST_TEST_SCENARIO");
  if (!scenario) GTEST_SKIP() << "runs only as a rank of the multi-process tests";
  std::filesystem::path dir = std::getenv("GLPDEPTH_DIST_TEST_DIR");
  GroupOptions options;
  options.timeout =
      std::chrono::milliseconds(std::atoi(std::getenv("GLPDEPTH_DIST_TEST_TIMEOUT_MS")));
  std::shared_ptr<Group> group = Group::create(detect_env(), options);
  std::string name = scenario;
  if (name == "collectives") collectives(*group, dir);
  if (name == "syncbn") {
    sync_batchnorm(*group);
    sync_batchnorm_with_reducer(*group);
  }
  if (name == "die" || name == "hang") {
    failure(*group, dir, name == "die");
    auto start = Clock::now();
    group.reset();
    write_text(dir / "destroyed_0", cat(seconds_since(start)));
    std::_Exit(3);
  }
  if (!HasFailure()) write_text(dir / ("done_" + std::to_string(group->rank())), name);
}

// ---- the parent tests -------------------------------------------------------------------------

#if defined(GLPDEPTH_HAVE_GLOO)

int run_ranks(const std::string& scenario, const testing::TempDir& dir, int timeout_ms,
              std::chrono::milliseconds grace = std::chrono::seconds(30)) {
  LaunchOptions options;
  options.nproc = 2;
  options.master_port = 0;
  options.args = {"--gtest_filter=DistWorker.Run"};
  options.extra_env = {{"GLPDEPTH_DIST_TEST_SCENARIO", scenario},
                       {"GLPDEPTH_DIST_TEST_DIR", dir.path().string()},
                       {"GLPDEPTH_DIST_TEST_TIMEOUT_MS", std::to_string(timeout_ms)},
                       {"OMP_NUM_THREADS", "1"}};
  options.grace = grace;
  return launch_local(options);
}

TEST(DistGloo, CollectivesBroadcastAndGradientAverage) {
  testing::TempDir dir;
  ASSERT_EQ(run_ranks("collectives", dir, 60000), 0);
  ASSERT_EQ(slurp(dir / "done_0"), "collectives");
  ASSERT_EQ(slurp(dir / "done_1"), "collectives");
  // Both ranks run here and meet on 127.0.0.1: both see this host twice, by name and address.
  const std::string here = host_name() + " 127.0.0.1\n";
  EXPECT_EQ(slurp(dir / "peers_0"), here + here);
  EXPECT_EQ(slurp(dir / "peers_1"), here + here);
  std::vector<torch::Tensor> rank0, rank1;
  torch::load(rank0, (dir / "bcast_0.pt").string());
  torch::load(rank1, (dir / "bcast_1.pt").string());
  torch::nn::Sequential original = make_small_model(100, 1);
  std::vector<torch::Tensor> expected = state_of(*original);
  std::vector<torch::Tensor> other = state_of(*make_small_model(101, 2));
  ASSERT_EQ(rank0.size(), expected.size());
  ASSERT_EQ(rank1.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::equal(rank0[i], expected[i])) << i;
    EXPECT_TRUE(torch::equal(rank1[i], expected[i])) << i;
  }
  // Conv and Linear weights and biases, and the running mean, differed before the broadcast.
  for (size_t i : {0, 1, 4, 5, 6}) {
    EXPECT_FALSE(torch::equal(other[i], expected[i])) << "ranks did not differ: " << i;
  }
}

TEST(DistGloo, SyncBatchNormOnTwoRanksEqualsOneBigBatch) {
  testing::TempDir dir;
  ASSERT_EQ(run_ranks("syncbn", dir, 60000), 0);
  EXPECT_EQ(slurp(dir / "done_0"), "syncbn");
  EXPECT_EQ(slurp(dir / "done_1"), "syncbn");
}

TEST(DistGloo, AKilledRankMakesTheOtherFail) {
  testing::TempDir dir;
  auto start = Clock::now();
  // Rank 1's SIGKILL, or rank 0's failure when both ended within one poll of the launcher.
  int code = run_ranks("die", dir, 5000);
  EXPECT_TRUE(code == 128 + SIGKILL || code == 3) << code;
  std::string report = slurp(dir / "failure_0");
  EXPECT_NE(report.find("distributed allreduce failed on rank 0 of 2"), std::string::npos)
      << report;
  // The error names the lost peer by rank, host and address.
  EXPECT_NE(report.find("the peer rank 1 on " + host_name() + " (127.0.0.1)"), std::string::npos)
      << report;
  EXPECT_LT(std::stod(report), 5.0 + 2.0) << report;
  EXPECT_LT(std::stod(slurp(dir / "destroyed_0")), 5.0 + 2.0);
  std::cout << "rank 0 noticed the dead rank after " << report << "\n";
  EXPECT_LT(seconds_since(start), 30.0);
}

TEST(DistGloo, AHangingRankMakesTheOtherFailAfterTheTimeout) {
  testing::TempDir dir;
  auto start = Clock::now();
  EXPECT_EQ(run_ranks("hang", dir, 2000, std::chrono::milliseconds(500)), 3);
  std::string report = slurp(dir / "failure_0");
  EXPECT_NE(report.find("distributed allreduce failed on rank 0 of 2"), std::string::npos)
      << report;
  EXPECT_NE(report.find("the peer rank 1 on " + host_name() + " (127.0.0.1)"), std::string::npos)
      << report;
  double waited = std::stod(report);
  EXPECT_GE(waited, 1.5) << report;
  EXPECT_LT(waited, 8.0) << report;
  EXPECT_LT(std::stod(slurp(dir / "destroyed_0")), 2.0 + 2.0);
  EXPECT_LT(seconds_since(start), 30.0);
}

#endif  // GLPDEPTH_HAVE_GLOO

}  // namespace
}  // namespace glpdepth::dist
