#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "glpdepth/eval/loss.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

// Plain-loop SiLog in double over flat arrays; pixels with gt <= 0 are skipped.
double reference_silog(const std::vector<double>& pred, const std::vector<double>& gt,
                       double lambda, double min_pred = 1e-6) {
  double sum = 0, sum2 = 0;
  int n = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    if (!(gt[i] > 0)) continue;
    const double d = std::log(gt[i]) - std::log(std::max(pred[i], min_pred));
    sum += d;
    sum2 += d * d;
    ++n;
  }
  if (n == 0) return 0.0;
  const double mean = sum / n;
  return std::sqrt(std::max(0.0, sum2 / n - lambda * mean * mean));
}

std::vector<double> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kDouble).contiguous().reshape(-1);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

struct Batch {
  torch::Tensor pred, gt;
};

Batch random_batch(int64_t b, int64_t h, int64_t w, torch::Dtype dtype) {
  torch::manual_seed(7);
  Batch batch;
  batch.pred = (torch::rand({b, 1, h, w}, torch::kDouble) * 10 + 0.5).to(dtype);
  batch.gt = torch::rand({b, 1, h, w}, torch::kDouble) * 10 + 0.5;
  // About a third invalid, including a whole image row.
  batch.gt.masked_fill_(torch::rand({b, 1, h, w}, torch::kDouble) < 0.33, 0.0);
  batch.gt.index_put_({0, 0, 0}, 0.0);
  batch.gt = batch.gt.to(dtype);
  return batch;
}

TEST(SiLogLoss, MatchesPlainLoopsAndPoolsTheWholeBatch) {
  for (double lambda : {0.5, 0.85, 0.0}) {
    Batch b = random_batch(3, 5, 7, torch::kDouble);
    const double loss = silog_loss(b.pred, b.gt, {lambda}).item<double>();
    EXPECT_NEAR(loss, reference_silog(to_vector(b.pred), to_vector(b.gt), lambda), 1e-12);
  }
  // Pooled, not a mean of per-image losses: the two differ on this batch.
  Batch b = random_batch(2, 4, 4, torch::kDouble);
  const double pooled = silog_loss(b.pred, b.gt).item<double>();
  const double per_image = 0.5 * (silog_loss(b.pred[0], b.gt[0]).item<double>() +
                                  silog_loss(b.pred[1], b.gt[1]).item<double>());
  EXPECT_GT(std::abs(pooled - per_image), 1e-6);
}

TEST(SiLogLoss, Float32IsCloseToDouble) {
  Batch b = random_batch(2, 8, 8, torch::kFloat);
  const double loss = silog_loss(b.pred, b.gt).item<double>();
  EXPECT_NEAR(loss, reference_silog(to_vector(b.pred), to_vector(b.gt), 0.5), 1e-5);
}

TEST(SiLogLoss, GradientMatchesAnalyticAndFiniteDifferences) {
  Batch b = random_batch(2, 3, 4, torch::kDouble);
  torch::Tensor pred = b.pred.clone().requires_grad_(true);
  torch::Tensor loss = silog_loss(pred, b.gt);
  loss.backward();
  const std::vector<double> grad = to_vector(pred.grad());
  std::vector<double> p = to_vector(b.pred), g = to_vector(b.gt);

  // Analytic: dL/dp_i = -(d_i - lambda * mean(d)) / (n * L * p_i) on valid pixels, else 0.
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (g[i] > 0) sum += std::log(g[i]) - std::log(p[i]), ++n;
  }
  const double mean = sum / n, L = reference_silog(p, g, 0.5);
  for (size_t i = 0; i < p.size(); ++i) {
    double expected = 0;
    if (g[i] > 0) expected = -((std::log(g[i]) - std::log(p[i])) - 0.5 * mean) / (n * L * p[i]);
    EXPECT_NEAR(grad[i], expected, 1e-10) << i;
    // Central differences on the plain-loop reference.
    const double h = 1e-6;
    std::vector<double> plus = p, minus = p;
    plus[i] += h;
    minus[i] -= h;
    const double fd = (reference_silog(plus, g, 0.5) - reference_silog(minus, g, 0.5)) / (2 * h);
    EXPECT_NEAR(grad[i], fd, 1e-7) << i;
  }
}

TEST(SiLogLoss, EmptyMaskGivesZeroLossAndZeroGradient) {
  torch::Tensor pred = torch::rand({2, 1, 4, 5}).add_(0.1).requires_grad_(true);
  torch::Tensor gt = torch::zeros({2, 1, 4, 5});
  torch::Tensor loss = silog_loss(pred, gt);
  EXPECT_TRUE(loss.requires_grad());
  EXPECT_EQ(loss.item<float>(), 0.0f);
  loss.backward();
  ASSERT_TRUE(pred.grad().defined());
  EXPECT_TRUE(torch::all(pred.grad() == 0).item<bool>());
  // Negative GT counts as invalid too.
  EXPECT_EQ(silog_loss(pred.detach(), -torch::ones({2, 1, 4, 5})).item<float>(), 0.0f);
}

TEST(SiLogLoss, ZeroPredictionsAreClampedAndStayFinite) {
  Batch b = random_batch(2, 3, 3, torch::kDouble);
  torch::Tensor p0 = b.pred.clone();
  p0.index_put_({0, 0, 1}, 0.0);  // a row of exact zeros where some GT is valid
  torch::Tensor pred = p0.clone().requires_grad_(true);
  torch::Tensor loss = silog_loss(pred, b.gt);
  loss.backward();
  const double value = loss.item<double>();
  EXPECT_TRUE(std::isfinite(value));
  EXPECT_NEAR(value, reference_silog(to_vector(p0), to_vector(b.gt), 0.5), 1e-12);
  EXPECT_TRUE(torch::isfinite(pred.grad()).all().item<bool>());
  // Below the clamp the gradient is cut.
  EXPECT_TRUE(torch::all(pred.grad().index({0, 0, 1}) == 0).item<bool>());
  // All-zero prediction: finite too.
  torch::Tensor zeros = torch::zeros_like(b.pred).requires_grad_(true);
  torch::Tensor l0 = silog_loss(zeros, b.gt);
  l0.backward();
  EXPECT_TRUE(std::isfinite(l0.item<double>()));
  EXPECT_TRUE(torch::isfinite(zeros.grad()).all().item<bool>());
}

TEST(SiLogLoss, PerfectAndConstantRatioPredictionsHaveFiniteGradient) {
  Batch b = random_batch(2, 4, 4, torch::kFloat);
  torch::Tensor safe_gt = torch::where(b.gt > 0, b.gt, torch::ones_like(b.gt));
  for (double lambda : {0.5, 1.0}) {
    // Perfect: radicand 0. lambda 1 with a constant ratio: radicand is 0 up to rounding, so it
    // may come out as a tiny negative.
    torch::Tensor pred = (lambda == 1.0 ? safe_gt * 1.7 : safe_gt.clone()).requires_grad_(true);
    torch::Tensor loss = silog_loss(pred, b.gt, {lambda});
    loss.backward();
    EXPECT_NEAR(loss.item<double>(), 0.0, 1e-3);
    EXPECT_FALSE(std::isnan(loss.item<double>()));
    EXPECT_TRUE(torch::isfinite(pred.grad()).all().item<bool>()) << lambda;
  }
}

TEST(SiLogLoss, BatchOfOneSqueezesOnlyTheChannel) {
  Batch b = random_batch(1, 4, 6, torch::kDouble);
  const double expected = reference_silog(to_vector(b.pred), to_vector(b.gt), 0.5);
  EXPECT_NEAR(silog_loss(b.pred, b.gt).item<double>(), expected, 1e-12);
  EXPECT_NEAR(silog_loss(b.pred, b.gt.squeeze(1)).item<double>(), expected, 1e-12);
  EXPECT_NEAR(silog_loss(b.pred.squeeze(1), b.gt).item<double>(), expected, 1e-12);
  EXPECT_THROW(silog_loss(b.pred, torch::ones({1, 4, 5})), Error);
  EXPECT_THROW(silog_loss(torch::ones({2, 1, 4, 6}), b.gt), Error);
}

TEST(SiLogLoss, HalfPrecisionIsComputedInFloat) {
  Batch b = random_batch(2, 4, 4, torch::kFloat);
  const double loss = silog_loss(b.pred.to(torch::kHalf), b.gt.to(torch::kHalf)).item<double>();
  const double expected =
      reference_silog(to_vector(b.pred.to(torch::kHalf)), to_vector(b.gt.to(torch::kHalf)), 0.5);
  EXPECT_NEAR(loss, expected, 1e-5);
}

}  // namespace
}  // namespace glpdepth
