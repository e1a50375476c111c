#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "glpdepth/train/clip.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

std::vector<torch::Tensor> params_with_grads(std::vector<std::vector<float>> grads) {
  std::vector<torch::Tensor> params;
  for (auto& g : grads) {
    torch::Tensor p = torch::zeros({static_cast<int64_t>(g.size())}).requires_grad_(true);
    p.mutable_grad() = torch::tensor(g);
    params.push_back(p);
  }
  return params;
}

TEST(ClipGradNorm, GlobalNormAndScaling) {
  // ||(3,4)|| = 5, ||(12)|| = 12, global = 13.
  auto params = params_with_grads({{3, 4}, {12}});
  params.push_back(torch::zeros({2}).requires_grad_(true));  // no grad: ignored
  EXPECT_NEAR(clip_grad_norm(params, 1.0), 13.0, 1e-6);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(params[0].grad()[0].item<float>(), 3 * coef, 1e-7);
  EXPECT_NEAR(params[1].grad()[0].item<float>(), 12 * coef, 1e-7);
  EXPECT_NEAR(clip_grad_norm(params, 0.0), 1.0, 1e-5);  // measures only

  auto loose = params_with_grads({{3, 4}, {12}});
  EXPECT_NEAR(clip_grad_norm(loose, 100.0), 13.0, 1e-6);
  EXPECT_EQ(loose[1].grad()[0].item<float>(), 12.0f);
  EXPECT_EQ(clip_grad_norm({}, 1.0), 0.0);
}

TEST(ClipGradNorm, AgreesWithLibTorch) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> a, b;
  for (auto shape : {std::vector<int64_t>{4, 5}, {7}, {2, 3, 3}}) {
    torch::Tensor g = torch::randn(shape) * 3;
    a.push_back(torch::zeros(shape).requires_grad_(true));
    b.push_back(torch::zeros(shape).requires_grad_(true));
    a.back().mutable_grad() = g.clone();
    b.back().mutable_grad() = g.clone();
  }
  const double ours = clip_grad_norm(a, 0.7);
  const double theirs = torch::nn::utils::clip_grad_norm_(b, 0.7);
  EXPECT_NEAR(ours, theirs, 1e-5 * theirs);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i].grad(), b[i].grad()));
}

TEST(ClipGradNorm, NonFiniteGradientGivesNonFiniteNorm) {
  auto params = params_with_grads({{1, INFINITY}});
  EXPECT_TRUE(std::isinf(clip_grad_norm(params, 1.0)));
  auto nan = params_with_grads({{1, NAN}});
  EXPECT_TRUE(std::isnan(clip_grad_norm(nan, 1.0)));
}

TEST(NonFiniteGuard, SkipsZeroesCountsAndThrowsAfterARun) {
  auto params = params_with_grads({{1, 2}, {3}});
  NonFiniteGuard guard(3);
  EXPECT_TRUE(guard.allow_step(0.5, 2.0, params));
  EXPECT_EQ(params[0].grad()[1].item<float>(), 2.0f);  // untouched
  EXPECT_FALSE(guard.allow_step(NAN, 2.0, params));
  EXPECT_TRUE(torch::all(params[0].grad() == 0).item<bool>());
  EXPECT_TRUE(torch::all(params[1].grad() == 0).item<bool>());
  EXPECT_FALSE(guard.allow_step(0.5, INFINITY, params));
  EXPECT_EQ(guard.consecutive(), 2);
  EXPECT_TRUE(guard.allow_step(0.4, 1.0, params));  // a good step resets the run
  EXPECT_EQ(guard.consecutive(), 0);
  EXPECT_EQ(guard.skipped(), 2);
  EXPECT_FALSE(guard.allow_step(NAN, NAN, params));
  EXPECT_FALSE(guard.allow_step(-INFINITY, 1.0, params));
  try {
    guard.allow_step(NAN, 1.0, params);
    FAIL() << "expected glpdepth::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 steps in a row"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(guard.skipped(), 5);
  EXPECT_THROW(NonFiniteGuard(0), Error);
}

}  // namespace
}  // namespace glpdepth
