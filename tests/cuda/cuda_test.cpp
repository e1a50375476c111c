// CUDA behaviour: run wherever a GPU is visible, skipped (with the reason) everywhere else.
// scripts/gpu-check.sh runs this suite on a GPU machine and reports it in docs/GPU.md.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "common/synth_set.h"
#include "common/temp_dir.h"
#include "glpdepth/data/synth.h"
#include "glpdepth/dist/env.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/dist/launch.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/model/mit.h"
#include "glpdepth/train/loss_scaler.h"
#include "glpdepth/train/optim.h"
#include "glpdepth/train/run_dir.h"
#include "glpdepth/train/step.h"
#include "glpdepth/train/trainer.h"

using namespace glpdepth;
namespace fs = std::filesystem;

namespace {

#define REQUIRE_CUDA()                                                                     \
  do {                                                                                     \
    if (!torch::cuda::is_available())                                                      \
      GTEST_SKIP() << "no CUDA device visible (CPU-only LibTorch or no GPU): CUDA test "   \
                      "skipped";                                                           \
  } while (0)

// ||a - b|| / ||b|| over all elements, in double.
double relative_l2(const torch::Tensor& a, const torch::Tensor& b) {
  auto a64 = a.to(torch::kCPU, torch::kFloat64), b64 = b.to(torch::kCPU, torch::kFloat64);
  return (a64 - b64).norm().item<double>() / std::max(1e-30, b64.norm().item<double>());
}

// Disables TF32 convolutions and matmuls while alive (PyTorch's cuDNN default allows TF32).
struct StrictFloat32 {
  StrictFloat32()
      : cudnn_(at::globalContext().allowTF32CuDNN()),
        cublas_(at::globalContext().allowTF32CuBLAS()) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  ~StrictFloat32() {
    at::globalContext().setAllowTF32CuDNN(cudnn_);
    at::globalContext().setAllowTF32CuBLAS(cublas_);
  }
  bool cudnn_, cublas_;
};

DepthPredictor b0_predictor(torch::Device device, bool channels_last = false) {
  torch::manual_seed(11);
  PredictorOptions options;
  options.model.encoder = MitEncoder::kB0;
  options.device = device;
  options.channels_last = channels_last;
  return DepthPredictor::random_weights(options);
}

torch::Tensor test_images() {
  torch::manual_seed(12);
  return torch::rand({2, 3, 96, 160});
}

}  // namespace

TEST(Cuda, ModelOutputMatchesTheCpu) {
  REQUIRE_CUDA();
  const torch::Tensor images = test_images();
  torch::Tensor cpu = b0_predictor(torch::kCPU).predict(images);
  torch::Tensor strict, defaults;
  {
    StrictFloat32 strict_float;
    strict = b0_predictor(torch::kCUDA).predict(images);
  }
  defaults = b0_predictor(torch::kCUDA).predict(images);
  const double strict_error = relative_l2(strict, cpu), default_error = relative_l2(defaults, cpu);
  RecordProperty("relative_l2_strict_fp32", std::to_string(strict_error));
  RecordProperty("relative_l2_default_tf32", std::to_string(default_error));
  std::cout << "CPU/CUDA relative L2: strict fp32 " << strict_error << ", default (TF32 cuDNN) "
            << default_error << "\n";
  EXPECT_LT(strict_error, 1e-5);
  EXPECT_LT(default_error, 5e-3);
}

TEST(Cuda, ChannelsLastGivesTheSameDepth) {
  REQUIRE_CUDA();
  StrictFloat32 strict_float;
  const torch::Tensor images = test_images();
  torch::Tensor plain = b0_predictor(torch::kCUDA).predict(images);
  torch::Tensor last = b0_predictor(torch::kCUDA, true).predict(images);
  const double error = relative_l2(last, plain);
  std::cout << "channels-last vs contiguous relative L2: " << error << "\n";
  EXPECT_LT(error, 1e-5);
}

// SDPA (flash / memory-efficient kernels on CUDA) against the plain formula on the same weights,
// for the depth and for the gradients of a training step.
TEST(Cuda, SdpaAttentionMatchesTheFormula) {
  REQUIRE_CUDA();
  if (!sdpa_available()) GTEST_SKIP() << "this LibTorch has no scaled_dot_product_attention";
  StrictFloat32 strict_float;
  const torch::Tensor images = test_images().to(torch::kCUDA);
  auto run = [&](AttentionKernel kernel) {
    set_attention_kernel(kernel);
    torch::manual_seed(14);
    GLPDepthOptions options;
    options.encoder = MitEncoder::kB0;
    options.drop_path_rate = 0;  // no randomness: eval mode, autograd still on
    GLPDepth model(options);
    model->to(torch::kCUDA);
    model->eval();
    torch::Tensor depth = model->forward(images);
    depth.mean().backward();
    torch::Tensor grad = model->encoder->parameters()[0].grad().clone();
    set_attention_kernel(AttentionKernel::kAuto);
    return std::make_pair(depth.detach(), grad);
  };
  auto [formula_depth, formula_grad] = run(AttentionKernel::kFormula);
  auto [sdpa_depth, sdpa_grad] = run(AttentionKernel::kSdpa);
  const double depth_error = relative_l2(sdpa_depth, formula_depth);
  const double grad_error = relative_l2(sdpa_grad, formula_grad);
  std::cout << "SDPA vs formula on CUDA, relative L2: depth " << depth_error << ", gradient "
            << grad_error << "\n";
  EXPECT_LT(depth_error, 1e-5);
  EXPECT_LT(grad_error, 1e-4);
}

namespace {

// A few steps of b0 on one fixed batch whose depth follows the image: returns the losses.
std::vector<double> train_steps(Precision precision, int steps, int64_t* scaler_skips = nullptr) {
  torch::manual_seed(13);
  GLPDepthOptions model_options;
  model_options.encoder = MitEncoder::kB0;
  GLPDepth model(model_options);
  model->to(torch::kCUDA);
  model->train();
  OptimOptions optim;
  optim.lr = 3e-4;
  auto optimizer = make_optimizer(model->parameters(), optim);
  TrainStepOptions options;
  options.device = torch::kCUDA;
  options.precision = precision;
  options.clip_grad = 1.0;
  TrainStep step(model, *optimizer, options);
  Batch batch;
  batch.image = torch::rand({4, 3, 64, 128});
  batch.depth = 2.0 + 40.0 * batch.image.mean(1, true);  // learnable from the pixels
  batch.intrinsics = torch::zeros({4, 4});
  batch.indices = {0, 1, 2, 3};
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    StepOutcome outcome = step.run(batch);
    losses.push_back(outcome.loss);
    if (scaler_skips && outcome.scaler_skipped) ++*scaler_skips;
  }
  return losses;
}

}  // namespace

TEST(Cuda, Bf16TrainingStaysFiniteAndLowersTheLoss) {
  REQUIRE_CUDA();
  std::vector<double> losses = train_steps(Precision::kBFloat16, 30);
  for (double loss : losses) ASSERT_TRUE(std::isfinite(loss));
  EXPECT_LT(losses.back(), 0.8 * losses.front()) << losses.front() << " -> " << losses.back();
}

TEST(Cuda, Fp16TrainingWithTheLossScalerStaysFiniteAndLowersTheLoss) {
  REQUIRE_CUDA();
  int64_t skips = 0;
  std::vector<double> losses = train_steps(Precision::kFloat16, 30, &skips);
  for (double loss : losses) ASSERT_TRUE(std::isfinite(loss));
  std::cout << "fp16: " << skips << " of 30 steps skipped by the loss scaler\n";
  EXPECT_LT(skips, 15);
  EXPECT_LT(losses.back(), 0.8 * losses.front()) << losses.front() << " -> " << losses.back();
}

TEST(Cuda, LossScalerSkipsInfiniteCudaGradients) {
  REQUIRE_CUDA();
  LossScalerOptions options;
  options.init_scale = 1024;
  LossScaler scaler(options);
  torch::Tensor w = torch::ones({3}, torch::TensorOptions().device(torch::kCUDA).requires_grad(true));
  torch::optim::SGD optimizer({w}, torch::optim::SGDOptions(0.1));
  w.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity(), 2.0f},
                                   torch::TensorOptions().device(torch::kCUDA));
  EXPECT_FALSE(scaler.unscale({w}));
  EXPECT_FALSE(scaler.step(optimizer));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.scale(), 512.0);
  EXPECT_TRUE(torch::equal(w.cpu(), torch::ones({3})));
}

TEST(Cuda, RngStateRoundTripsAndResumeContinuesTheRun) {
  REQUIRE_CUDA();
  // The generator states themselves.
  SeedCounter seeds(3);
  torch::manual_seed(21);
  RngState state = capture_rng_state(seeds);
  ASSERT_FALSE(state.torch_cuda.empty());
  torch::Tensor first = torch::rand({8}, torch::kCUDA).cpu();
  restore_rng_state(state, seeds);
  EXPECT_TRUE(torch::equal(torch::rand({8}, torch::kCUDA).cpu(), first));

  // A run interrupted and resumed on CUDA continues with the same random streams (drop path
  // draws on the GPU): the losses agree to float tolerance (cuDNN may reorder sums, so not
  // bit-for-bit; a lost RNG state would differ by far more).
  glpdepth::testing::TempDir dir;
  glpdepth::testing::SynthSet set;
  set.count = 8;
  glpdepth::testing::write_synth_set(dir.path() / "data", set);
  TrainConfig config;
  config.data.dataset = DatasetKind::kKitti;
  config.data.data_path = (dir.path() / "data").string();
  config.model.model.encoder = MitEncoder::kB0;
  config.loop.epochs = 2;
  config.loop.batch_size = 2;
  config.data.workers = 1;
  config.data.window = WindowChoice::kOff;
  config.augment.crop_h = 32;
  config.augment.crop_w = 64;
  config.validation.val_freq = 0;
  config.runtime.device = torch::kCUDA;
  config.log.log_dir = (dir.path() / "logs").string();
  config.runtime.seed = 7;
  std::ostringstream log;
  config.log.exp_name = "straight";
  TrainResult straight = train(config, log);
  config.log.exp_name = "halves";
  config.loop.stop_after_steps = 5;
  TrainResult part1 = train(config, log);
  ASSERT_TRUE(part1.interrupted);
  config.loop.stop_after_steps = 0;
  config.checkpoint.resume = part1.last_checkpoint.string();
  TrainResult part2 = train(config, log);
  std::vector<double> joined = part1.step_losses;
  joined.insert(joined.end(), part2.step_losses.begin(), part2.step_losses.end());
  ASSERT_EQ(joined.size(), straight.step_losses.size());
  for (size_t i = 0; i < joined.size(); ++i)
    EXPECT_NEAR(joined[i], straight.step_losses[i], 1e-3 * std::abs(straight.step_losses[i]))
        << "step " << i + 1;
}

namespace {

std::shared_ptr<dist::Group> group_of_one(dist::Backend backend) {
  dist::DistEnv env;
  env.master_port = dist::free_tcp_port();
  dist::GroupOptions options;
  options.backend = backend;
  options.c10d_for_one = true;
  options.timeout = std::chrono::seconds(60);
  return dist::Group::create(env, options);
}

}  // namespace

TEST(Cuda, NcclGroupOfOneRunsCollectives) {
  REQUIRE_CUDA();
  if (!dist::backend_available(dist::Backend::kNccl))
    GTEST_SKIP() << "this build has no NCCL process group";
  auto group = group_of_one(dist::Backend::kNccl);
  EXPECT_EQ(group->backend(), dist::Backend::kNccl);
  torch::Tensor t = torch::arange(5, torch::TensorOptions().dtype(torch::kFloat32).device(group->device()));
  group->allreduce_sum(t);
  EXPECT_TRUE(torch::equal(t.cpu(), torch::arange(5, torch::kFloat32)));
  group->broadcast(t, 0);
  group->barrier();
  EXPECT_EQ(group->allreduce_sum(std::vector<double>{1.5, 2.5}), (std::vector<double>{1.5, 2.5}));
}

TEST(Cuda, GlooAllReducesCudaTensors) {
  REQUIRE_CUDA();
  if (!dist::backend_available(dist::Backend::kGloo))
    GTEST_SKIP() << "this build has no Gloo process group";
  auto group = group_of_one(dist::Backend::kGloo);
  torch::Tensor t = torch::full({4}, 2.0f, torch::TensorOptions().device(torch::kCUDA));
  group->allreduce_sum(t);
  EXPECT_TRUE(torch::equal(t.cpu(), torch::full({4}, 2.0f)));
}
