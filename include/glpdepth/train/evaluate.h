// Running a model over an evaluation loader: the loop shared by `glpdepth test` and the
// validation of `glpdepth train`. Metrics are per image (never per batch, spec B10).
#pragma once
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <string>

#include "glpdepth/data/loader.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/metrics.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/util/precision.h"

namespace glpdepth {

struct EvaluateOptions {
  EvalSettings settings;
  bool flip_test = false;
  torch::Device device = torch::kCPU;
  Precision precision = Precision::kFloat32;
  bool channels_last = false;
  double silog_lambda = 0.5;
  // 16-bit prediction PNGs (the eval-pngs input) in this folder when not empty, x png_scale.
  std::filesystem::path eval_png_dir;
  double png_scale = 256.0;
  // Colour visualisations in this folder when not empty; the range is fixed (spec B15).
  std::filesystem::path visualize_dir;
  Colormap colormap = Colormap::turbo;
  double visualize_min = 0.0;
  double visualize_max = 80.0;
  // Called after each batch with (batches done, total batches, running loss).
  std::function<void(int64_t, int64_t, double)> on_batch;
};

struct EvaluateResult {
  MetricAccumulator metrics;
  double loss_sum = 0.0;     // sum over images of the per-image SiLog loss
  int64_t loss_images = 0;   // images with a valid pixel (those contribute to the loss)
  double seconds = 0.0;
  double mean_loss() const { return loss_images > 0 ? loss_sum / loss_images : 0.0; }
};

// Evaluates `model` (switched to eval mode) on every batch of `loader` (one epoch). The loader
// must carry depth. Empty batches (distributed padding) are skipped.
EvaluateResult evaluate_model(GLPDepth& model, Loader& loader, const EvaluateOptions& options);

// The output file name for a sample name: the extension replaced by ".png".
std::string png_name(const std::string& sample_name);

}  // namespace glpdepth
