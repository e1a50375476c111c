#include "glpdepth/eval/evaluator.h"

#include <torch/torch.h>

#include "glpdepth/eval/loss.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

torch::Tensor slice(const torch::Tensor& image, const Window& w) {
  return image.slice(-2, w.top, w.bottom).slice(-1, w.left, w.right);
}

class EvalPngSink final : public EvalSink {
 public:
  EvalPngSink(fs::path dir, double scale) : dir_(std::move(dir)), scale_(scale) {}
  void write(const std::string& name, const torch::Tensor& depth) override {
    write_depth_png16(dir_ / png_name(name), depth, scale_);
  }
  std::string describe() const override {
    return cat("eval PNGs (uint16, depth x ", scale_, "): ", dir_.string());
  }

 private:
  fs::path dir_;
  double scale_;
};

class VisualizeSink final : public EvalSink {
 public:
  VisualizeSink(fs::path dir, Colormap colormap, double min_depth, double max_depth,
                std::string suffix)
      : dir_(std::move(dir)), colormap_(colormap), min_(min_depth), max_(max_depth),
        suffix_(std::move(suffix)) {
    check(max_ > min_, "visualisation range: max (", max_, ") must exceed min (", min_, ")");
  }
  void write(const std::string& name, const torch::Tensor& depth) override {
    fs::path file = dir_ / png_name(name);
    file.replace_filename(file.stem().string() + suffix_ + ".png");
    write_image(file, colorize(depth, colormap_, min_, max_));
  }
  std::string describe() const override {
    return cat("visualisations (", to_string(colormap_), ", ", min_, " to ", max_,
               " m): ", dir_.string());
  }

 private:
  fs::path dir_;
  Colormap colormap_;
  double min_, max_;
  std::string suffix_;
};

// Per-image SiLog, the quantity training minimises (pixels with gt > 0).
void add_loss(EvaluateResult& result, const torch::Tensor& pred, const torch::Tensor& gt,
              double lambda) {
  if (!(gt > 0).any().item<bool>()) return;
  SiLogOptions options;
  options.lambda = lambda;
  result.loss_sum += silog_loss(pred.unsqueeze(0), gt.unsqueeze(0), options).item<double>();
  ++result.loss_images;
}

// Metrics of one image whose prediction covers `window` of the ground-truth frame (the whole
// frame unless the image was cut for the full-frame protocol).
void add_metrics(EvaluateResult& result, const EvalSettings& settings, const torch::Tensor& pred,
                 const torch::Tensor& gt, const std::optional<Window>& window,
                 const std::string& name) {
  if (!window) {
    evaluate_image(result.metrics, settings, pred, gt, name);
    return;
  }
  // The prediction in the full frame; pixels outside its window are not evaluated.
  torch::Tensor full = torch::zeros_like(gt);
  slice(full, *window).copy_(pred);
  EvalFrame frame = prepare_eval_frame(settings, full, gt);
  torch::Tensor inside = torch::zeros_like(frame.mask);
  slice(inside, *window).fill_(true);
  result.metrics.add(frame.pred, frame.gt, torch::logical_and(frame.mask, inside), name);
}

}  // namespace

std::string EvalData::window_description() const {
  if (!windowed) return "none";
  const WindowSpec& spec = input_window ? *input_window : dataset->defaults().window;
  return cat(spec.width, "x", spec.height);
}

EvalData open_eval_data(DatasetOptions options, const EvalSettings& settings, WindowChoice choice) {
  EvalData data;
  const WindowDecision window = decide_window(options, choice);
  data.windowed = window.apply;
  data.note = window.why_not;
  options.window = false;
  data.dataset = make_dataset(options);
  if (!data.windowed) return data;
  const bool full_frame =
      settings.dataset == DatasetKind::kKitti && settings.protocol == KittiProtocol::kFullFrame;
  if (full_frame) {
    data.input_window = window.spec;  // the ground truth keeps its full frame
  } else {
    options.window = std::nullopt;  // the loader crops image and ground truth alike
    data.dataset = make_dataset(options);
  }
  return data;
}

std::shared_ptr<EvalSink> eval_png_sink(fs::path dir, double scale) {
  return std::make_shared<EvalPngSink>(std::move(dir), scale);
}

std::shared_ptr<EvalSink> visualize_sink(fs::path dir, Colormap colormap, double min_depth,
                                         double max_depth, std::string suffix) {
  return std::make_shared<VisualizeSink>(std::move(dir), colormap, min_depth, max_depth,
                                         std::move(suffix));
}

std::vector<double> EvaluateResult::state() const {
  std::vector<double> out = metrics.state();
  out.push_back(loss_sum);
  out.push_back(static_cast<double>(loss_images));
  out.push_back(static_cast<double>(images));
  return out;
}

EvaluateResult EvaluateResult::from_state(const std::vector<double>& state) {
  check(state.size() == MetricAccumulator::kStateSize + 3, "evaluation state: expected ",
        MetricAccumulator::kStateSize + 3, " numbers, got ", state.size());
  EvaluateResult result;
  result.metrics = MetricAccumulator::from_state(
      std::vector<double>(state.begin(), state.begin() + MetricAccumulator::kStateSize));
  result.loss_sum = state[MetricAccumulator::kStateSize];
  result.loss_images = static_cast<int64_t>(state[MetricAccumulator::kStateSize + 1]);
  result.images = static_cast<int64_t>(state[MetricAccumulator::kStateSize + 2]);
  return result;
}

EvaluateResult evaluate(DepthPredictor& predictor, Loader& loader, const EvaluatorOptions& options) {
  EvaluatorOptions resolved = options;
  if (resolved.parallel_calls == 0) resolved.parallel_calls = predictor.parallel_calls();
  return evaluate(
      [&predictor](const torch::Tensor& images, const torch::Tensor& intrinsics) {
        return predictor.predict(images, intrinsics);
      },
      loader, resolved);
}

namespace {

// The evaluation as a pipeline sink: metrics and the per-image loss where the dataset has depth,
// then the evaluation's own sinks (eval PNGs, visualisations), then progress.
class MetricsSink final : public DepthSink {
 public:
  MetricsSink(EvaluateResult& result, const EvaluatorOptions& options, bool has_depth,
              int64_t batches)
      : result_(result), options_(options), has_depth_(has_depth), batches_(batches) {}

  void write(const Frames& frames) override {
    ++done_;
    for (int64_t i = 0; i < frames.size(); ++i) {
      const torch::Tensor pred = frames.prediction[i][0];
      const std::string& name = frames.batch.names[static_cast<size_t>(i)];
      if (has_depth_) {
        const torch::Tensor gt = frames.batch.depth[i][0];
        const std::optional<Window>& window = frames.network_window;
        add_metrics(result_, options_.settings, pred, gt, window, name);
        add_loss(result_, pred, window ? slice(gt, *window) : gt, options_.silog_lambda);
      }
      for (const auto& sink : options_.sinks) sink->write(name, pred);
    }
    result_.images += frames.size();
    if (options_.on_batch) options_.on_batch(done_, batches_, result_.images);
  }

 private:
  EvaluateResult& result_;
  const EvaluatorOptions& options_;
  const bool has_depth_;
  const int64_t batches_;
  int64_t done_ = 0;
};

}  // namespace

EvaluateResult evaluate(const DepthFunction& predict, Loader& loader, const EvaluatorOptions& options) {
  EvaluateResult result;
  result.metrics.set_keep_per_image(options.keep_per_image);
  MetricsSink metrics(result, options, loader.dataset().has_depth(), loader.num_batches());
  std::unique_ptr<FrameSource> source = loader_frames(loader, options.input_window);
  PipelineOptions pipeline;
  pipeline.parallel_calls = std::max<int64_t>(1, options.parallel_calls);
  const PipelineStats stats = run_pipeline(*source, predict, {&metrics}, pipeline);
  result.seconds = stats.seconds;
  result.model_seconds = stats.model_seconds;
  return result;
}

std::string png_name(const std::string& sample_name) {
  fs::path name(sample_name);
  name.replace_extension(".png");
  return name.filename().string();
}

}  // namespace glpdepth
