#include "glpdepth/eval/metrics.h"

#include <cmath>
#include <limits>

#include "glpdepth/util/error.h"

namespace glpdepth {

const std::array<const char*, DepthMetrics::kCount>& DepthMetrics::names() {
  static const std::array<const char*, kCount> names = {
      "d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "silog_kitti"};
  return names;
}

std::array<double, DepthMetrics::kCount> DepthMetrics::values() const {
  return {d1, d2, d3, abs_rel, sq_rel, rmse, rmse_log, log10, silog, silog_kitti};
}

DepthMetrics DepthMetrics::from_values(const std::array<double, kCount>& v) {
  DepthMetrics m;
  m.d1 = v[0];
  m.d2 = v[1];
  m.d3 = v[2];
  m.abs_rel = v[3];
  m.sq_rel = v[4];
  m.rmse = v[5];
  m.rmse_log = v[6];
  m.log10 = v[7];
  m.silog = v[8];
  m.silog_kitti = v[9];
  return m;
}

double DepthMetrics::get(const std::string& name) const {
  auto all = values();
  for (int i = 0; i < kCount; ++i) {
    if (name == names()[i]) return all[i];
  }
  throw Error(cat("unknown metric '", name, "'"));
}

std::array<double, PixelSums::kCount> PixelSums::values() const {
  return {count, d1, d2, d3, abs_rel, sq_rel, sq_err, log_diff, log_diff_sq, abs_log_diff};
}

PixelSums PixelSums::from_values(const std::array<double, kCount>& v) {
  PixelSums s;
  s.count = v[0];
  s.d1 = v[1];
  s.d2 = v[2];
  s.d3 = v[3];
  s.abs_rel = v[4];
  s.sq_rel = v[5];
  s.sq_err = v[6];
  s.log_diff = v[7];
  s.log_diff_sq = v[8];
  s.abs_log_diff = v[9];
  return s;
}

PixelSums& PixelSums::operator+=(const PixelSums& other) {
  auto a = values();
  auto b = other.values();
  for (int i = 0; i < kCount; ++i) a[i] += b[i];
  *this = from_values(a);
  return *this;
}

DepthMetrics PixelSums::metrics() const {
  check(count > 0, "metrics of an empty pixel set");
  const double n = count;
  DepthMetrics m;
  m.d1 = d1 / n;
  m.d2 = d2 / n;
  m.d3 = d3 / n;
  m.abs_rel = abs_rel / n;
  m.sq_rel = sq_rel / n;
  m.rmse = std::sqrt(sq_err / n);
  const double mean_e = log_diff / n;
  const double mean_e2 = log_diff_sq / n;
  m.rmse_log = std::sqrt(mean_e2);
  m.log10 = abs_log_diff / n / std::log(10.0);
  // Rounding can push the variance a hair below zero (B17): clamp before the root.
  m.silog = std::sqrt(std::max(0.0, mean_e2 - 0.5 * mean_e * mean_e));
  m.silog_kitti = 100.0 * std::sqrt(std::max(0.0, mean_e2 - mean_e * mean_e));
  return m;
}

PixelSums pixel_sums(const float* pred, const float* gt, const uint8_t* mask, int64_t count) {
  const double t1 = 1.25, t2 = 1.25 * 1.25, t3 = 1.25 * 1.25 * 1.25;
  PixelSums s;
  for (int64_t i = 0; i < count; ++i) {
    if (mask && !mask[i]) continue;
    const double p = pred[i];
    const double g = gt[i];
    const double pc = std::max(p, kMetricPredFloor);
    const double ratio = std::max(pc / g, g / pc);
    const double diff = p - g;
    const double e = std::log(pc) - std::log(g);
    s.count += 1;
    s.d1 += ratio < t1;
    s.d2 += ratio < t2;
    s.d3 += ratio < t3;
    s.abs_rel += std::abs(diff) / g;
    s.sq_rel += diff * diff / g;
    s.sq_err += diff * diff;
    s.log_diff += e;
    s.log_diff_sq += e * e;
    s.abs_log_diff += std::abs(e);
  }
  return s;
}

namespace {

torch::Tensor flat_cpu(const torch::Tensor& t, torch::ScalarType type) {
  return t.detach().to(torch::kCPU, type).contiguous().reshape({-1});
}

}  // namespace

PixelSums pixel_sums(const torch::Tensor& pred, const torch::Tensor& gt,
                     const torch::Tensor& mask) {
  check(pred.defined() && gt.defined(), "metrics: prediction or ground truth is undefined");
  check(pred.numel() == gt.numel(), "metrics: prediction has ", pred.numel(),
        " elements but ground truth ", gt.numel(), " (shapes ", pred.sizes(), " vs ", gt.sizes(),
        ")");
  torch::Tensor p = flat_cpu(pred, torch::kFloat32);
  torch::Tensor g = flat_cpu(gt, torch::kFloat32);
  torch::Tensor m;
  if (mask.defined()) {
    check(mask.numel() == gt.numel(), "metrics: mask has ", mask.numel(),
          " elements but ground truth ", gt.numel());
    m = flat_cpu(mask.to(torch::kBool), torch::kUInt8);
  }
  return pixel_sums(p.data_ptr<float>(), g.data_ptr<float>(),
                    m.defined() ? m.data_ptr<uint8_t>() : nullptr, p.numel());
}

torch::Tensor sanitize_prediction(const torch::Tensor& pred, double min_depth_eval,
                                  double max_depth_eval) {
  torch::Tensor p = pred.detach().to(torch::kCPU, torch::kFloat32).clone();
  p.masked_fill_(torch::isinf(p), max_depth_eval);
  p.masked_fill_(torch::isnan(p), min_depth_eval);
  return p;
}

std::optional<DepthMetrics> MetricAccumulator::add(const torch::Tensor& pred,
                                                   const torch::Tensor& gt,
                                                   const torch::Tensor& mask,
                                                   const std::string& name) {
  return add_sums(pixel_sums(pred, gt, mask), name);
}

std::optional<DepthMetrics> MetricAccumulator::add(const float* pred, const float* gt,
                                                   const uint8_t* mask, int64_t count,
                                                   const std::string& name) {
  return add_sums(pixel_sums(pred, gt, mask, count), name);
}

std::optional<DepthMetrics> MetricAccumulator::add_sums(const PixelSums& sums,
                                                        const std::string& name) {
  std::optional<DepthMetrics> result;
  if (sums.count > 0) {
    result = sums.metrics();
    auto v = result->values();
    for (int i = 0; i < DepthMetrics::kCount; ++i) metric_sums_[i] += v[i];
    pooled_ += sums;
    ++images_;
  } else {
    ++skipped_;
  }
  if (keep_per_image_) {
    per_image_.push_back({name, static_cast<int64_t>(sums.count), result});
  }
  return result;
}

void MetricAccumulator::merge(const MetricAccumulator& other) {
  images_ += other.images_;
  skipped_ += other.skipped_;
  for (int i = 0; i < DepthMetrics::kCount; ++i) metric_sums_[i] += other.metric_sums_[i];
  pooled_ += other.pooled_;
  per_image_.insert(per_image_.end(), other.per_image_.begin(), other.per_image_.end());
}

std::vector<double> MetricAccumulator::state() const {
  std::vector<double> s;
  s.reserve(kStateSize);
  s.push_back(static_cast<double>(images_));
  s.push_back(static_cast<double>(skipped_));
  s.insert(s.end(), metric_sums_.begin(), metric_sums_.end());
  auto pooled = pooled_.values();
  s.insert(s.end(), pooled.begin(), pooled.end());
  return s;
}

MetricAccumulator MetricAccumulator::from_state(const std::vector<double>& state) {
  check(static_cast<int>(state.size()) == kStateSize, "metric state has ", state.size(),
        " values, expected ", kStateSize);
  MetricAccumulator a;
  a.images_ = std::llround(state[0]);
  a.skipped_ = std::llround(state[1]);
  for (int i = 0; i < DepthMetrics::kCount; ++i) a.metric_sums_[i] = state[2 + i];
  std::array<double, PixelSums::kCount> pooled{};
  for (int i = 0; i < PixelSums::kCount; ++i) pooled[i] = state[2 + DepthMetrics::kCount + i];
  a.pooled_ = PixelSums::from_values(pooled);
  return a;
}

torch::Tensor MetricAccumulator::state_tensor() const {
  auto s = state();
  return torch::tensor(s, torch::dtype(torch::kFloat64));
}

MetricAccumulator MetricAccumulator::from_state_tensor(const torch::Tensor& state) {
  torch::Tensor t = state.detach().to(torch::kCPU, torch::kFloat64).contiguous().reshape({-1});
  const double* d = t.data_ptr<double>();
  return from_state(std::vector<double>(d, d + t.numel()));
}

DepthMetrics MetricAccumulator::mean() const {
  if (images_ == 0) return {};
  std::array<double, DepthMetrics::kCount> v{};
  for (int i = 0; i < DepthMetrics::kCount; ++i) v[i] = metric_sums_[i] / images_;
  return DepthMetrics::from_values(v);
}

DepthMetrics MetricAccumulator::pooled() const {
  if (pooled_.count <= 0) return {};
  return pooled_.metrics();
}

}  // namespace glpdepth
