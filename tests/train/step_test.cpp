// TrainStep on the CPU (tests/cuda covers reduced precision on a GPU): one step equals the step
// written out here by hand (forward, SiLog, backward, plain SGD), clipping scales the update to
// the clip norm and reports the norm before it, and non-finite losses skip the step until the
// guard's limit, which stops the run with an Error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "glpdepth/eval/loss.h"
#include "glpdepth/train/step.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

GLPDepth small_model() {
  torch::manual_seed(21);
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  options.drop_path_rate = 0;  // deterministic forward: the two copies must agree
  return GLPDepth(options);
}

Batch small_batch() {
  torch::manual_seed(22);
  Batch batch;
  batch.image = torch::rand({2, 3, 64, 96});
  batch.depth = torch::rand({2, 1, 64, 96}) * 30 + 2;
  batch.depth.index_put_({0, 0, torch::indexing::Slice(0, 8)}, 0);  // invalid pixels
  batch.intrinsics = torch::zeros({2, 4});
  batch.names = {"a", "b"};
  batch.indices = {0, 1};
  return batch;
}

torch::Tensor flat_parameters(const GLPDepth& model) {
  std::vector<torch::Tensor> parts;
  for (const auto& p : model->parameters()) parts.push_back(p.detach().flatten());
  return torch::cat(parts);
}

TEST(TrainStep, OneStepEqualsTheStepWrittenOutByHand) {
  torch::set_num_threads(1);
  const Batch batch = small_batch();
  GLPDepth model = small_model(), reference = small_model();
  model->train();
  reference->train();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01));
  TrainStep step(model, optimizer, TrainStepOptions{});
  const StepOutcome outcome = step.run(batch);

  // By hand: forward, SiLog over the valid pixels, backward, p -= lr * grad.
  const torch::Tensor loss = silog_loss(reference->forward(batch.image), batch.depth, SiLogOptions{});
  loss.backward();
  double squared = 0;
  {
    torch::NoGradGuard no_grad;
    for (auto& p : reference->parameters()) {
      if (!p.grad().defined()) continue;
      squared += p.grad().pow(2).sum().item<double>();
      p.sub_(0.01 * p.grad());
    }
  }
  EXPECT_TRUE(outcome.stepped);
  EXPECT_NEAR(outcome.loss, loss.item<double>(), 1e-6);
  EXPECT_NEAR(outcome.grad_norm, std::sqrt(squared), 1e-4 * std::sqrt(squared));
  EXPECT_TRUE(torch::allclose(flat_parameters(model), flat_parameters(reference), 1e-6, 1e-7));
  EXPECT_FALSE(torch::equal(flat_parameters(model), flat_parameters(small_model())));  // it moved
}

TEST(TrainStep, ClippingScalesTheUpdateToTheClipNorm) {
  torch::set_num_threads(1);
  const Batch batch = small_batch();
  GLPDepth model = small_model();
  model->train();
  const torch::Tensor before = flat_parameters(model).clone();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1.0));
  TrainStepOptions options;
  options.clip_grad = 1e-3;
  TrainStep step(model, optimizer, options);
  const StepOutcome outcome = step.run(batch);
  ASSERT_TRUE(outcome.stepped);
  EXPECT_GT(outcome.grad_norm, 1e-3);  // the norm before clipping is reported
  // lr 1: the update is the clipped gradient, of norm clip_grad.
  EXPECT_NEAR((flat_parameters(model) - before).norm().item<double>(), 1e-3, 1e-5);
}

TEST(TrainStep, NonFiniteLossesSkipTheStepUntilTheGuardStopsTheRun) {
  torch::set_num_threads(1);
  Batch batch = small_batch();
  batch.image[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  GLPDepth model = small_model();
  model->train();
  const torch::Tensor before = flat_parameters(model).clone();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01));
  TrainStepOptions options;
  options.max_nonfinite = 2;
  TrainStep step(model, optimizer, options);
  const StepOutcome first = step.run(batch);
  EXPECT_FALSE(first.stepped);
  EXPECT_FALSE(std::isfinite(first.loss));
  EXPECT_TRUE(torch::equal(flat_parameters(model), before));  // the weights are untouched
  EXPECT_EQ(step.guard().skipped(), 1);
  EXPECT_THROW(
      {
        for (int i = 0; i < 3; ++i) step.run(batch);
      },
      Error);
}

}  // namespace
}  // namespace glpdepth
