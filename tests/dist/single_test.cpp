// The pieces in a group of one, where they must reduce to plain single-process behaviour.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "glpdepth/dist/ddp.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/dist/sync_batchnorm.h"
#include "glpdepth/util/error.h"

namespace glpdepth::dist {
namespace {

TEST(DistGroup, BackendNames) {
  EXPECT_EQ(parse_backend("gloo"), Backend::kGloo);
  EXPECT_EQ(parse_backend("NCCL"), Backend::kNccl);
  EXPECT_EQ(parse_backend("auto"), Backend::kAuto);
  EXPECT_EQ(parse_backend(""), Backend::kAuto);  // config.json files before "auto"
  try {
    parse_backend("mpi");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown distributed backend 'mpi' (auto, gloo, nccl)"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(default_backend(torch::Device("cuda:1")), Backend::kNccl);
  EXPECT_EQ(default_backend(torch::kCPU), Backend::kGloo);
  EXPECT_EQ(backend_name(Backend::kNccl), "nccl");
}

TEST(DistGroup, GroupOfOneIsTheIdentity) {
  DistEnv env;  // world of one
  std::shared_ptr<Group> group = Group::create(env);
  EXPECT_EQ(group->size(), 1);
  EXPECT_EQ(group->rank(), 0);
  EXPECT_TRUE(group->is_main());
  torch::Tensor t = torch::arange(5, torch::kFloat32);
  group->allreduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::arange(5, torch::kFloat32)));
  group->broadcast(t, 0);
  group->allreduce_sum_async(t)->wait();
  group->barrier();
  EXPECT_EQ(group->allreduce_sum(std::vector<double>{1.5, -2}), (std::vector<double>{1.5, -2}));
  EXPECT_EQ(group->broadcast_string("abc"), "abc");
  EXPECT_THROW(group->broadcast(t, 1), Error);
}

TEST(DistGroup, BadPlacementIsAnError) {
  DistEnv env;
  env.world_size = 2;
  env.rank = 2;
  EXPECT_THROW(Group::create(env), Error);
}

#if !defined(GLPDEPTH_HAVE_GLOO)
TEST(DistGroup, WithoutGlooOnlyOneProcessWorks) {
  DistEnv env;
  env.world_size = 2;
  try {
    Group::create(env);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gloo"), std::string::npos);
  }
}
#endif

TEST(DistDdp, GroupOfOneLeavesGradientsAlone) {
  torch::nn::Linear linear(3, 2);
  auto group = Group::single();
  GradientReducer reducer(group, linear->parameters());
  linear->forward(torch::ones({4, 3})).sum().backward();
  torch::Tensor before = linear->weight.grad().clone();
  reducer.finish();
  EXPECT_TRUE(torch::equal(linear->weight.grad(), before));
  EXPECT_TRUE(torch::equal(before, torch::full({2, 3}, 4.0f)));
  allreduce_gradients(*group, linear->parameters());
  EXPECT_TRUE(torch::equal(linear->weight.grad(), before));
}

// Copies every parameter and buffer of `from` into the same-named tensor of `to`.
void copy_state(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto params = to.named_parameters();
  auto buffers = to.named_buffers();
  for (const auto& item : from.named_parameters()) params[item.key()].copy_(item.value());
  for (const auto& item : from.named_buffers()) buffers[item.key()].copy_(item.value());
}

TEST(SyncBatchNorm, SameStateDictKeysAsBatchNorm2d) {
  SyncBatchNorm2d sync(6);
  torch::nn::BatchNorm2d plain(6);
  EXPECT_EQ(sync->named_parameters().keys(), plain->named_parameters().keys());
  EXPECT_EQ(sync->named_buffers().keys(), plain->named_buffers().keys());
  for (const auto& item : plain->named_buffers()) {
    EXPECT_TRUE(torch::equal(item.value(), sync->named_buffers()[item.key()])) << item.key();
  }
  EXPECT_TRUE(torch::equal(sync->weight, plain->weight));
  EXPECT_TRUE(torch::equal(sync->bias, plain->bias));
  SyncBatchNorm2d no_affine(torch::nn::BatchNormOptions(4).affine(false));
  torch::nn::BatchNorm2d plain_no_affine(torch::nn::BatchNormOptions(4).affine(false));
  EXPECT_EQ(no_affine->named_parameters().keys(), plain_no_affine->named_parameters().keys());
}

// In one process SyncBatchNorm2d's own autograd Function must agree with LibTorch's batch_norm
// and its derivative.
void expect_matches_batchnorm(torch::nn::BatchNormOptions options) {
  torch::manual_seed(3);
  torch::nn::BatchNorm2d plain(options);
  SyncBatchNorm2d sync(options, Group::single());
  if (options.affine()) {
    torch::NoGradGuard no_grad;
    plain->weight.uniform_(0.5, 1.5);
    plain->bias.uniform_(-0.5, 0.5);
  }
  copy_state(*plain, *sync);
  torch::Tensor x = torch::randn({4, options.num_features(), 5, 3}) * 3 + 2;
  torch::Tensor g = torch::randn({4, options.num_features(), 5, 3});
  for (int step = 0; step < 2; ++step) {
    torch::Tensor xp = x.clone().requires_grad_(true), xs = x.clone().requires_grad_(true);
    torch::Tensor yp = plain->forward(xp);
    // Force the distributed code path in one process: the functional form with the same
    // momentum bookkeeping as the module.
    {
      torch::NoGradGuard no_grad;
      sync->num_batches_tracked.add_(1);
    }
    double factor =
        options.momentum() ? *options.momentum() : 1.0 / sync->num_batches_tracked.item<double>();
    auto group = Group::single();
    torch::Tensor ys = sync_batch_norm(*group, xs, sync->weight, sync->bias, sync->running_mean,
                                       sync->running_var, factor, options.eps());
    EXPECT_TRUE(torch::allclose(ys, yp, 1e-5, 1e-5));
    (yp * g).sum().backward();
    (ys * g).sum().backward();
    EXPECT_TRUE(torch::allclose(xs.grad(), xp.grad(), 1e-4, 1e-5));
    if (options.affine()) {
      EXPECT_TRUE(torch::allclose(sync->weight.grad(), plain->weight.grad(), 1e-4, 1e-4));
      EXPECT_TRUE(torch::allclose(sync->bias.grad(), plain->bias.grad(), 1e-4, 1e-4));
    }
    EXPECT_TRUE(torch::allclose(sync->running_mean, plain->running_mean, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(sync->running_var, plain->running_var, 1e-5, 1e-6));
    EXPECT_TRUE(torch::equal(sync->num_batches_tracked, plain->num_batches_tracked));
    x = x * 0.5 - 1;
  }
  plain->eval();
  sync->eval();
  EXPECT_TRUE(torch::allclose(sync->forward(x), plain->forward(x), 1e-5, 1e-5));
}

TEST(SyncBatchNorm, FunctionMatchesBatchNorm2dInOneProcess) {
  expect_matches_batchnorm(torch::nn::BatchNormOptions(3));
  expect_matches_batchnorm(torch::nn::BatchNormOptions(2).momentum(0.3).eps(1e-3));
  expect_matches_batchnorm(torch::nn::BatchNormOptions(2).momentum(c10::nullopt));
  expect_matches_batchnorm(torch::nn::BatchNormOptions(3).affine(false));
}

TEST(SyncBatchNorm, ModuleWithoutGroupIsBatchNorm2d) {
  torch::manual_seed(4);
  torch::nn::BatchNorm2d plain(3);
  SyncBatchNorm2d sync(3);
  torch::Tensor x = torch::randn({2, 3, 4, 4});
  EXPECT_TRUE(torch::allclose(sync->forward(x), plain->forward(x), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(sync->running_var, plain->running_var, 1e-6, 1e-6));
  EXPECT_EQ(sync->num_batches_tracked.item<int64_t>(), 1);
}

TEST(SyncBatchNorm, GroupIsSetThroughTheModel) {
  auto root = std::make_shared<torch::nn::Module>();
  auto seq = root->register_module(
      "seq", torch::nn::Sequential(torch::nn::Conv2d(3, 4, 1), SyncBatchNorm2d(4)));
  auto list = root->register_module("list", torch::nn::ModuleList(SyncBatchNorm2d(4)));
  auto group = Group::single();
  EXPECT_EQ(set_sync_batchnorm_group(*root, group), 2);
  EXPECT_EQ((*seq)[1]->as<SyncBatchNorm2dImpl>()->group(), group);
  EXPECT_EQ((*list)[0]->as<SyncBatchNorm2dImpl>()->group(), group);
}

TEST(SyncBatchNorm, RejectsWrongShapes) {
  SyncBatchNorm2d sync(3);
  EXPECT_THROW(sync->forward(torch::zeros({2, 3, 4})), Error);
  EXPECT_THROW(sync->forward(torch::zeros({2, 4, 4, 4})), Error);
}

}  // namespace
}  // namespace glpdepth::dist
