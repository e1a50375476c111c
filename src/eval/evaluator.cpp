#include "glpdepth/eval/evaluator.h"

#include <torch/torch.h>

#include <chrono>

#include "glpdepth/eval/loss.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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
      settings.dataset == EvalDataset::kitti && settings.protocol == KittiProtocol::full_frame;
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
  return evaluate(
      [&predictor](const torch::Tensor& images, const torch::Tensor& intrinsics) {
        return predictor.predict(images, intrinsics);
      },
      loader, options);
}

EvaluateResult evaluate(const DepthFunction& predict, Loader& loader, const EvaluatorOptions& options) {
  const auto start = Clock::now();
  const bool has_depth = loader.dataset().has_depth();
  EvaluateResult result;
  result.metrics.set_keep_per_image(options.keep_per_image);
  const int64_t total = loader.num_batches();
  int64_t done = 0;
  for (Batch& batch : loader) {
    ++done;
    if (!batch.empty()) {
      torch::Tensor images = batch.image;
      std::optional<Window> window;
      if (options.input_window) {
        window = window_rect(*options.input_window, static_cast<int>(images.size(2)),
                             static_cast<int>(images.size(3)), batch.names.front());
        images = slice(images, *window);
      }
      const auto model_start = Clock::now();
      const torch::Tensor depth = predict(images, batch.intrinsics);
      result.model_seconds += seconds_since(model_start);
      for (int64_t i = 0; i < batch.size(); ++i) {
        const torch::Tensor pred = depth[i][0];
        const std::string& name = batch.names[i];
        if (has_depth) {
          const torch::Tensor gt = batch.depth[i][0];
          add_metrics(result, options.settings, pred, gt, window, name);
          if (window) {
            add_loss(result, pred, slice(gt, *window), options.silog_lambda);
          } else {
            add_loss(result, pred, gt, options.silog_lambda);
          }
        }
        for (const auto& sink : options.sinks) sink->write(name, pred);
      }
      result.images += batch.size();
    }
    if (options.on_batch) options.on_batch(done, total, result.images);
  }
  result.seconds = seconds_since(start);
  return result;
}

std::string png_name(const std::string& sample_name) {
  fs::path name(sample_name);
  name.replace_extension(".png");
  return name.filename().string();
}

}  // namespace glpdepth
