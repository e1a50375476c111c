// Evaluation of a predictor over a dataset: the one loop behind `glpdepth test` and the
// validation of `glpdepth train`. Metrics are per image (never per batch, spec B10), sums and
// counts reduce exactly across ranks, and outputs go to sinks (eval PNGs, visualisations).
//
// Windows and protocols: KITTI and DrivingStereo frames are evaluated inside a fixed window
// (KITTI kb-crop 352x1216, DrivingStereo 384x864). open_eval_data decides once whether the window
// applies (WindowChoice) and how: for the KITTI full-frame protocol the ground truth keeps its
// full size, the window is cut out of the image only (EvalData::input_window) and the prediction
// is placed back into the full frame, where only pixels under it are evaluated.
#pragma once
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/data/window.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/metrics.h"
#include "glpdepth/infer/pipeline.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/colormap.h"

namespace glpdepth {

// A dataset opened for evaluation, with the window decision made.
struct EvalData {
  std::shared_ptr<Dataset> dataset;
  // Set when the window is cut out of the images only (KITTI full-frame protocol).
  std::optional<WindowSpec> input_window;
  bool windowed = false;  // the dataset window applies (in the loader or as input_window)
  std::string note;       // why --window auto turned the window off; empty otherwise
  // "1216x352" or "none", for reports.
  std::string window_description() const;
};

// Opens `options` (its `window` field is ignored) with the window applied as `choice` says.
EvalData open_eval_data(DatasetOptions options, const EvalSettings& settings, WindowChoice choice);

// Receives each image's prediction [H, W] (metres, float32, CPU) with its sample name.
class EvalSink {
 public:
  virtual ~EvalSink() = default;
  virtual void write(const std::string& name, const torch::Tensor& depth) = 0;
  // Where the outputs go, for the report.
  virtual std::string describe() const = 0;
};

// 16-bit PNGs of depth x scale (the eval-pngs input), <dir>/<name>.png.
std::shared_ptr<EvalSink> eval_png_sink(std::filesystem::path dir, double scale);
// Colour maps over a fixed range [min_depth, max_depth] (never per image, spec B15),
// <dir>/<name><suffix>.png.
std::shared_ptr<EvalSink> visualize_sink(std::filesystem::path dir, Colormap colormap,
                                         double min_depth, double max_depth,
                                         std::string suffix = "");

struct EvaluatorOptions {
  EvalSettings settings;
  // From EvalData: cut this window from each image for the network (full-frame protocol).
  std::optional<WindowSpec> input_window;
  double silog_lambda = 0.5;  // per-image SiLog, the validation loss
  bool keep_per_image = true;  // per-image records for per_image.csv
  std::vector<std::shared_ptr<EvalSink>> sinks;
  // Network calls at once (PipelineOptions::parallel_calls): 0 is the predictor's
  // parallel_calls(), 1 for a DepthFunction.
  int64_t parallel_calls = 0;
  // After each batch: (batches done, batches in all, images so far).
  std::function<void(int64_t, int64_t, int64_t)> on_batch;
};

struct EvaluateResult {
  MetricAccumulator metrics;
  double loss_sum = 0.0;     // sum over images of the per-image SiLog loss
  int64_t loss_images = 0;   // images with a valid pixel (those contribute to the loss)
  int64_t images = 0;        // images that went through the model
  double seconds = 0.0;      // whole loop
  double model_seconds = 0.0;  // inside DepthPredictor::predict
  double mean_loss() const { return loss_images > 0 ? loss_sum / loss_images : 0.0; }
  // Sums and counts as one vector that adds elementwise across ranks; from_state of the
  // summed vectors is exactly the result over the union of the ranks' images (per-image
  // records and times stay local).
  std::vector<double> state() const;
  static EvaluateResult from_state(const std::vector<double>& state);
};

// Runs every batch of `loader` (one epoch) through `predict` on the pipeline (infer/pipeline.h:
// loading, the network and the metrics overlap) and evaluates it when the dataset has depth
// (otherwise only the sinks run). Empty batches (distributed padding) are skipped. Sinks and
// on_batch run on the pipeline's sink thread, in batch order.
EvaluateResult evaluate(const DepthFunction& predict, Loader& loader, const EvaluatorOptions& options);
// The same with a predictor's predict().
EvaluateResult evaluate(DepthPredictor& predictor, Loader& loader, const EvaluatorOptions& options);

// The output file name for a sample name: the extension replaced by ".png".
std::string png_name(const std::string& sample_name);

}  // namespace glpdepth
