// Depth-evaluation metrics: the nine of GLPDepth's utils/metrics.py plus the KITTI-benchmark
// SILog of eval_with_pngs.py, computed per image in double precision and averaged over images.
//
// Two SILogs exist in the reference code and they are not comparable (spec B18):
//   silog        sqrt(mean(e^2) - 0.5 * mean(e)^2)          (metrics.py: lambda 0.5, no x100)
//   silog_kitti  100 * sqrt(mean(e^2) - mean(e)^2)          (KITTI benchmark: lambda 1, x100)
// with e = ln(pred) - ln(gt) over the evaluated pixels.
#pragma once
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace glpdepth {

// Below this a prediction is clamped inside logarithms and ratios, so a zero prediction yields a
// large finite error instead of -inf / NaN (spec B17).
constexpr double kMetricPredFloor = 1e-6;

// One set of metric values. Field order = metrics.py's order, then silog_kitti.
struct DepthMetrics {
  double d1 = 0, d2 = 0, d3 = 0;
  double abs_rel = 0, sq_rel = 0, rmse = 0, rmse_log = 0, log10 = 0;
  double silog = 0;        // lambda 0.5, no x100 (metrics.py)
  double silog_kitti = 0;  // lambda 1, x100 (eval_with_pngs.py / KITTI benchmark)

  static constexpr int kCount = 10;
  // "d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "silog_kitti".
  static const std::array<const char*, kCount>& names();
  std::array<double, kCount> values() const;
  static DepthMetrics from_values(const std::array<double, kCount>& values);
  // Throws Error for an unknown name.
  double get(const std::string& name) const;
};

// Raw per-pixel sums of one image (or of many pooled together); every metric follows from them.
struct PixelSums {
  double count = 0;                   // evaluated pixels
  double d1 = 0, d2 = 0, d3 = 0;      // pixels with max(p/g, g/p) < 1.25^k
  double abs_rel = 0;                 // sum |p - g| / g
  double sq_rel = 0;                  // sum (p - g)^2 / g
  double sq_err = 0;                  // sum (p - g)^2
  double log_diff = 0;                // sum e,     e = ln p - ln g
  double log_diff_sq = 0;             // sum e^2
  double abs_log_diff = 0;            // sum |e|   (log10 metric = this / ln 10 / count)

  static constexpr int kCount = 10;
  std::array<double, kCount> values() const;
  static PixelSums from_values(const std::array<double, kCount>& values);
  PixelSums& operator+=(const PixelSums& other);
  // The metrics of these pixels; requires count > 0.
  DepthMetrics metrics() const;
};

// Sums over the pixels where mask is nonzero (mask may be null = every pixel). The prediction
// must already be free of inf/NaN (see sanitize_prediction); gt must be > 0 where masked.
PixelSums pixel_sums(const float* pred, const float* gt, const uint8_t* mask, int64_t count);
PixelSums pixel_sums(const torch::Tensor& pred, const torch::Tensor& gt, const torch::Tensor& mask);

// metrics.py's in-place fix-up: +-inf -> max_depth_eval, NaN -> min_depth_eval. Returns a float32
// CPU copy; the input is left untouched.
torch::Tensor sanitize_prediction(const torch::Tensor& pred, double min_depth_eval,
                                  double max_depth_eval);

// One evaluated (or skipped) image.
struct ImageResult {
  std::string name;
  int64_t pixels = 0;                   // evaluated pixels; 0 = skipped (empty mask)
  std::optional<DepthMetrics> metrics;  // empty when skipped
};

// Accumulates per-image metrics. The reported figure is the mean over images of the per-image
// metrics (GLPDepth's test.py convention); images whose mask is empty are skipped and counted,
// never averaged in as NaN. The accumulator also pools all pixels, so a pixel-weighted figure is
// available too (spec B10).
//
// Distributed use: state() is a fixed-size vector of doubles that adds elementwise, so
// all-reducing it with SUM across ranks and calling from_state() gives exactly the accumulator
// of the union of images. Per-image records stay local to each rank.
class MetricAccumulator {
 public:
  static constexpr int kStateSize = 2 + DepthMetrics::kCount + PixelSums::kCount;

  MetricAccumulator() = default;
  // Keep a record per image (for per_image.csv); on by default.
  void set_keep_per_image(bool keep) { keep_per_image_ = keep; }

  // pred, gt: the same shape with H*W elements ([H,W], [1,H,W] or [1,1,H,W]), any float dtype,
  // CPU or CUDA (moved to the CPU). mask: bool/uint8 of that shape, or undefined = all pixels.
  // pred is expected to be sanitised already. Returns the image's metrics, or nullopt when the
  // mask is empty (the image is then counted as skipped).
  std::optional<DepthMetrics> add(const torch::Tensor& pred, const torch::Tensor& gt,
                                  const torch::Tensor& mask, const std::string& name = "");
  // Raw arrays of `count` floats; mask may be null.
  std::optional<DepthMetrics> add(const float* pred, const float* gt, const uint8_t* mask,
                                  int64_t count, const std::string& name = "");
  // Adds an image from its pixel sums (count 0 = skipped).
  std::optional<DepthMetrics> add_sums(const PixelSums& sums, const std::string& name = "");

  // Merges another accumulator (its per-image records are appended).
  void merge(const MetricAccumulator& other);

  // [images, skipped, sum of per-image metrics (10), pooled pixel sums (10)].
  std::vector<double> state() const;
  static MetricAccumulator from_state(const std::vector<double>& state);
  torch::Tensor state_tensor() const;  // float64 [kStateSize], for all_reduce
  static MetricAccumulator from_state_tensor(const torch::Tensor& state);

  int64_t images() const { return images_; }    // evaluated (non-empty) images
  int64_t skipped() const { return skipped_; }  // images with an empty mask
  double pixels() const { return pooled_.count; }

  // Mean over evaluated images of the per-image metrics (all zeros if none).
  DepthMetrics mean() const;
  // Metrics over all evaluated pixels pooled together (all zeros if none).
  DepthMetrics pooled() const;
  const PixelSums& pooled_sums() const { return pooled_; }
  const std::vector<ImageResult>& per_image() const { return per_image_; }

 private:
  int64_t images_ = 0;
  int64_t skipped_ = 0;
  std::array<double, DepthMetrics::kCount> metric_sums_{};
  PixelSums pooled_;
  bool keep_per_image_ = true;
  std::vector<ImageResult> per_image_;
};

}  // namespace glpdepth
