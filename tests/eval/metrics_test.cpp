// Metrics against an independent computation: plain loops in double over explicit pixel lists,
// with SILog computed through a two-pass variance (a different route from the library's sums).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/metrics.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

struct Ref {
  double d1, d2, d3, abs_rel, sq_rel, rmse, rmse_log, log10, silog, silog_kitti;
};

// Reference metrics of paired values (already selected pixels). Zero predictions are clamped to
// 1e-6 inside logs and ratios, as the library promises (B17).
Ref reference(const std::vector<double>& p, const std::vector<double>& g) {
  const size_t n = p.size();
  double c1 = 0, c2 = 0, c3 = 0, ar = 0, sr = 0, se = 0, sl = 0, l10 = 0;
  std::vector<double> e(n);
  for (size_t i = 0; i < n; ++i) {
    double pc = p[i] < 1e-6 ? 1e-6 : p[i];
    double r = pc / g[i] > g[i] / pc ? pc / g[i] : g[i] / pc;
    if (r < 1.25) c1++;
    if (r < 1.5625) c2++;
    if (r < 1.953125) c3++;
    ar += std::fabs(p[i] - g[i]) / g[i];
    sr += (p[i] - g[i]) * (p[i] - g[i]) / g[i];
    se += (p[i] - g[i]) * (p[i] - g[i]);
    e[i] = std::log(pc) - std::log(g[i]);
    sl += e[i] * e[i];
    l10 += std::fabs(std::log10(pc) - std::log10(g[i]));
  }
  double mean = 0;
  for (double v : e) mean += v;
  mean /= n;
  double var = 0;
  for (double v : e) var += (v - mean) * (v - mean);
  var /= n;
  Ref r;
  r.d1 = c1 / n;
  r.d2 = c2 / n;
  r.d3 = c3 / n;
  r.abs_rel = ar / n;
  r.sq_rel = sr / n;
  r.rmse = std::sqrt(se / n);
  r.rmse_log = std::sqrt(sl / n);
  r.log10 = l10 / n;
  r.silog = std::sqrt(var + 0.5 * mean * mean);  // mean(e^2) - 0.5 mean^2 = var + 0.5 mean^2
  r.silog_kitti = 100.0 * std::sqrt(var);
  return r;
}

void expect_near(const DepthMetrics& m, const Ref& r, double tol = 1e-9) {
  EXPECT_NEAR(m.d1, r.d1, tol);
  EXPECT_NEAR(m.d2, r.d2, tol);
  EXPECT_NEAR(m.d3, r.d3, tol);
  EXPECT_NEAR(m.abs_rel, r.abs_rel, tol * (1 + r.abs_rel));
  EXPECT_NEAR(m.sq_rel, r.sq_rel, tol * (1 + r.sq_rel));
  EXPECT_NEAR(m.rmse, r.rmse, tol * (1 + r.rmse));
  EXPECT_NEAR(m.rmse_log, r.rmse_log, tol * (1 + r.rmse_log));
  EXPECT_NEAR(m.log10, r.log10, tol * (1 + r.log10));
  EXPECT_NEAR(m.silog, r.silog, 1e-7 * (1 + r.silog));
  EXPECT_NEAR(m.silog_kitti, r.silog_kitti, 1e-5 * (1 + r.silog_kitti));
}

TEST(Metrics, HandComputedConstantRatio) {
  // pred = 2 gt everywhere: ratio 2 fails all thresholds (1.25^3 = 1.953 < 2).
  std::vector<float> p(50, 2.0f), g(50, 1.0f);
  DepthMetrics m = pixel_sums(p.data(), g.data(), nullptr, 50).metrics();
  const double l2 = std::log(2.0);
  EXPECT_DOUBLE_EQ(m.d1, 0);
  EXPECT_DOUBLE_EQ(m.d3, 0);
  EXPECT_NEAR(m.abs_rel, 1, 1e-12);
  EXPECT_NEAR(m.sq_rel, 1, 1e-12);
  EXPECT_NEAR(m.rmse, 1, 1e-12);
  EXPECT_NEAR(m.rmse_log, l2, 1e-12);
  EXPECT_NEAR(m.log10, std::log10(2.0), 1e-12);
  EXPECT_NEAR(m.silog, l2 / std::sqrt(2.0), 1e-12);  // sqrt(l2^2 - 0.5 l2^2)
  // A pure scale error has zero variance; the one-pass variance leaves ~1e-16 of rounding,
  // which the square root and x100 lift to ~1e-6.
  EXPECT_NEAR(m.silog_kitti, 0, 1e-5);
}

TEST(Metrics, ThresholdsAreStrict) {
  // ratio exactly 1.25 is not < 1.25 (values exact in binary).
  std::vector<float> p = {1.25f, 1.0f}, g = {1.0f, 1.0f};
  DepthMetrics m = pixel_sums(p.data(), g.data(), nullptr, 2).metrics();
  EXPECT_DOUBLE_EQ(m.d1, 0.5);
  EXPECT_DOUBLE_EQ(m.d2, 1.0);
}

TEST(Metrics, ZeroPredictionStaysFinite) {
  std::vector<float> p = {0.0f, 1.0f}, g = {2.0f, 1.0f};
  DepthMetrics m = pixel_sums(p.data(), g.data(), nullptr, 2).metrics();
  for (double v : m.values()) EXPECT_TRUE(std::isfinite(v)) << v;
  Ref r = reference({0.0, 1.0}, {2.0, 1.0});
  expect_near(m, r);
}

TEST(Metrics, SanitizeReplacesInfAndNan) {
  const float inf = std::numeric_limits<float>::infinity();
  torch::Tensor p = torch::tensor({1.0f, inf, -inf, std::nanf("")});
  torch::Tensor s = sanitize_prediction(p, 0.5, 70.0);
  EXPECT_FLOAT_EQ(s[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(s[1].item<float>(), 70.0f);
  EXPECT_FLOAT_EQ(s[2].item<float>(), 70.0f);
  EXPECT_FLOAT_EQ(s[3].item<float>(), 0.5f);
  EXPECT_TRUE(std::isinf(p[1].item<float>()));  // input untouched
}

// Random images with invalid GT (0, beyond max), inf/NaN predictions and one image whose mask
// is empty; the accumulator's mean must equal the mean of reference per-image metrics.
TEST(Metrics, RandomImagesMeanOverImagesMatchesReference) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> depth(0.5f, 90.0f), noise(0.7f, 1.4f), u(0, 1);
  const int h = 13, w = 17, n_images = 6;
  const double lo = 1e-3, hi = 80.0;
  MetricAccumulator acc;
  std::vector<Ref> refs;
  for (int k = 0; k < n_images; ++k) {
    torch::Tensor gt = torch::empty({h, w});
    torch::Tensor pred = torch::empty({h, w});
    auto G = gt.accessor<float, 2>();
    auto P = pred.accessor<float, 2>();
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        float g = depth(rng);
        if (u(rng) < 0.3f) g = 0;  // invalid
        if (k == 3) g = 0;         // the empty image
        G[y][x] = g;
        float p = g > 0 ? g * noise(rng) : depth(rng);
        if (u(rng) < 0.02f) p = std::numeric_limits<float>::infinity();
        if (u(rng) < 0.02f) p = std::nanf("");
        P[y][x] = p;
      }
    }
    std::vector<double> ps, gs;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        double g = G[y][x];
        if (!(g > lo && g < hi)) continue;
        double p = P[y][x];
        // The prediction stays float32, so the replacement values are float32 too.
        if (std::isinf(p)) p = static_cast<float>(hi);
        if (std::isnan(p)) p = static_cast<float>(lo);
        ps.push_back(p);
        gs.push_back(g);
      }
    }
    if (!ps.empty()) refs.push_back(reference(ps, gs));
    EvalSettings s;
    s.dataset = DatasetKind::kDrivingStereo;
    s.min_depth_eval = lo;
    s.max_depth_eval = hi;
    auto m = evaluate_image(acc, s, pred.unsqueeze(0), gt, "img" + std::to_string(k));
    EXPECT_EQ(m.has_value(), !ps.empty());
    if (m) expect_near(*m, refs.back());
  }
  ASSERT_EQ(refs.size(), 5u);
  EXPECT_EQ(acc.images(), 5);
  EXPECT_EQ(acc.skipped(), 1);
  ASSERT_EQ(acc.per_image().size(), 6u);
  EXPECT_FALSE(acc.per_image()[3].metrics.has_value());
  EXPECT_EQ(acc.per_image()[3].pixels, 0);
  Ref mean{};
  for (const Ref& r : refs) {
    mean.d1 += r.d1 / 5;
    mean.d2 += r.d2 / 5;
    mean.d3 += r.d3 / 5;
    mean.abs_rel += r.abs_rel / 5;
    mean.sq_rel += r.sq_rel / 5;
    mean.rmse += r.rmse / 5;
    mean.rmse_log += r.rmse_log / 5;
    mean.log10 += r.log10 / 5;
    mean.silog += r.silog / 5;
    mean.silog_kitti += r.silog_kitti / 5;
  }
  DepthMetrics m = acc.mean();
  for (double v : m.values()) EXPECT_TRUE(std::isfinite(v));
  expect_near(m, mean);
}

TEST(Metrics, PooledEqualsReferenceOverAllPixels) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(1.0f, 50.0f), n(0.8f, 1.2f);
  MetricAccumulator acc;
  std::vector<double> all_p, all_g;
  for (int k = 0; k < 3; ++k) {
    const int count = 40 + 10 * k;
    std::vector<float> p(count), g(count);
    std::vector<uint8_t> mask(count);
    for (int i = 0; i < count; ++i) {
      g[i] = d(rng);
      p[i] = g[i] * n(rng);
      mask[i] = (i % 3) != 0;
      if (mask[i]) {
        all_p.push_back(p[i]);
        all_g.push_back(g[i]);
      }
    }
    acc.add(p.data(), g.data(), mask.data(), count);
  }
  expect_near(acc.pooled(), reference(all_p, all_g));
  EXPECT_EQ(acc.pixels(), static_cast<double>(all_p.size()));
}

TEST(Metrics, EmptyAccumulatorIsZeroNotNan) {
  MetricAccumulator acc;
  std::vector<float> p = {1, 2}, g = {1, 2};
  std::vector<uint8_t> mask = {0, 0};
  EXPECT_FALSE(acc.add(p.data(), g.data(), mask.data(), 2).has_value());
  for (double v : acc.mean().values()) EXPECT_EQ(v, 0.0);
  for (double v : acc.pooled().values()) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(acc.skipped(), 1);
}

// Splitting images over "ranks" and summing state vectors must reproduce the single accumulator.
TEST(Metrics, StateVectorsSumToTheUnion) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(1.0f, 20.0f), n(0.5f, 1.5f);
  MetricAccumulator all, rank0, rank1;
  for (int k = 0; k < 7; ++k) {
    torch::Tensor g = torch::empty({5, 6});
    for (int i = 0; i < 30; ++i) g.view({-1})[i] = d(rng);
    torch::Tensor p = g * torch::empty({5, 6}).uniform_(0.5, 1.5);
    torch::Tensor mask = k == 4 ? torch::zeros({5, 6}, torch::kBool) : g > 3.0;
    all.add(p, g, mask);
    (k % 2 ? rank1 : rank0).add(p, g, mask);
  }
  std::vector<double> s0 = rank0.state(), s1 = rank1.state();
  ASSERT_EQ(s0.size(), static_cast<size_t>(MetricAccumulator::kStateSize));
  for (size_t i = 0; i < s0.size(); ++i) s0[i] += s1[i];
  MetricAccumulator reduced = MetricAccumulator::from_state(s0);
  EXPECT_EQ(reduced.images(), all.images());
  EXPECT_EQ(reduced.skipped(), 1);
  auto a = reduced.mean().values(), b = all.mean().values();
  for (int i = 0; i < DepthMetrics::kCount; ++i) EXPECT_NEAR(a[i], b[i], 1e-12);
  a = reduced.pooled().values();
  b = all.pooled().values();
  for (int i = 0; i < DepthMetrics::kCount; ++i) EXPECT_NEAR(a[i], b[i], 1e-12);

  MetricAccumulator via_tensor =
      MetricAccumulator::from_state_tensor(rank0.state_tensor() + rank1.state_tensor());
  EXPECT_NEAR(via_tensor.mean().rmse, all.mean().rmse, 1e-12);

  rank0.merge(rank1);
  EXPECT_NEAR(rank0.mean().abs_rel, all.mean().abs_rel, 1e-12);
  EXPECT_EQ(rank0.per_image().size(), 7u);
  EXPECT_THROW(MetricAccumulator::from_state({1.0, 2.0}), Error);
}

TEST(Metrics, ShapeMismatchIsAnError) {
  MetricAccumulator acc;
  EXPECT_THROW(acc.add(torch::ones({2, 3}), torch::ones({3, 2, 2}), {}), Error);
}

TEST(Metrics, AcceptsCudaTensors) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::Tensor g = torch::rand({8, 9}) * 10 + 1;
  torch::Tensor p = g * 1.1;
  MetricAccumulator cpu, cuda;
  auto a = cpu.add(p, g, g > 2);
  auto b = cuda.add(p.cuda(), g.cuda(), (g > 2).cuda());
  ASSERT_TRUE(a && b);
  EXPECT_NEAR(a->rmse, b->rmse, 1e-12);
}

TEST(Metrics, GetByName) {
  DepthMetrics m;
  m.silog_kitti = 4.5;
  EXPECT_EQ(m.get("silog_kitti"), 4.5);
  EXPECT_THROW(m.get("silog_kiti"), Error);
}

}  // namespace
}  // namespace glpdepth
