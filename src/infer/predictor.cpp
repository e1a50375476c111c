#include "glpdepth/infer/predictor.h"

#include <torch/torch.h>

#include <cmath>

#include "glpdepth/model/inference.h"
#include "glpdepth/util/error.h"
#include "openvino_network.h"

namespace glpdepth {

namespace {

void check_canonical_focal(double focal) {
  if (focal < 0 || !std::isfinite(focal))
    throw UsageError(cat("--canonical_focal: must be >= 0, got ", focal));
}

// The file states the mode (our checkpoints, safetensors exports): an option may only confirm
// it. Plain weights files cannot say it themselves, so the option makes them camera-aware.
void apply_canonical_focal(GLPDepth& model, ModelSource& source, double focal,
                           const std::string& file) {
  if (source.records_canonical_focal) {
    if (focal > 0 && focal != source.canonical_focal)
      throw UsageError(cat("--canonical_focal ", focal, ": ", file, " was trained ",
                           source.canonical_focal > 0
                               ? cat("with canonical focal ", source.canonical_focal, " px")
                               : std::string("without the camera-aware mode"),
                           "; leave the flag out"));
  } else if (focal > 0) {
    model->set_canonical_focal(focal);
    source.canonical_focal = focal;
  }
}

// kAuto becomes `auto_choice` where that can run here, else LibTorch; an explicit choice that
// cannot run is an error before any work.
Backend choose_backend(Backend requested, const torch::Device& device, Precision precision,
                       Backend auto_choice) {
  if (requested == Backend::kAuto)
    return auto_choice == Backend::kOpenVino && device.is_cpu() && openvino_available() &&
                   precision != Precision::kFloat16
               ? Backend::kOpenVino
               : Backend::kLibTorch;
  if (requested == Backend::kOpenVino) {
    if (!device.is_cpu())
      throw UsageError(cat("--backend openvino runs on the CPU; for --device ", device.str(),
                           " use --backend libtorch (or auto)"));
    if (precision == Precision::kFloat16)
      throw UsageError("--backend openvino: precision fp16 is not offered on the CPU (fp32 or bf16)");
  }
  return requested;
}

}  // namespace

DepthPredictor::DepthPredictor(GLPDepth model, const PredictorOptions& options, ModelSource source,
                               Backend auto_choice)
    : model_(std::move(model)), options_(options), source_(std::move(source)) {
  precision_ = resolve_precision(options_.precision, options_.device);
  backend_ = choose_backend(options_.backend, options_.device, precision_, auto_choice);
  // auto asks for the fast precision that runs: LibTorch 1.13 has no usable CPU autocast.
  if (options_.precision == Precision::kAuto && backend_ == Backend::kLibTorch &&
      options_.device.is_cpu() && !cpu_autocast_available())
    precision_ = Precision::kFloat32;
  // Autocast refuses what it cannot do (fp16 on the CPU) before any weights move.
  if (backend_ == Backend::kLibTorch) AutocastGuard probe(options_.device, precision_);
  model_->to(options_.device);
  if (options_.channels_last && backend_ == Backend::kLibTorch) to_channels_last(*model_);
  model_->eval();
  if (backend_ == Backend::kOpenVino) {
    OpenVinoOptions openvino;
    openvino.precision = precision_;
    openvino.hint = options_.hint;
    openvino_ = std::make_shared<OpenVinoNetwork>(model_, openvino);
  }
}

DepthPredictor::DepthPredictor(GLPDepth model, const PredictorOptions& options)
    : DepthPredictor(model, options,
                     ModelSource{"model in memory", model->options().encoder,
                                 model->options().max_depth, model->options().canonical_focal,
                                 true},
                     Backend::kLibTorch) {}

DepthPredictor DepthPredictor::open(const std::filesystem::path& weights,
                                    const PredictorOptions& options) {
  check_canonical_focal(options.model.canonical_focal);
  ModelSource source;
  GLPDepth model = load_model(weights, options.model.encoder, options.model.max_depth,
                              options.fallback_max_depth, &source);
  apply_canonical_focal(model, source, options.model.canonical_focal, weights.string());
  return DepthPredictor(model, options, source, Backend::kOpenVino);
}

DepthPredictor DepthPredictor::random_weights(const PredictorOptions& options) {
  check_canonical_focal(options.model.canonical_focal);
  GLPDepthOptions model_options;
  model_options.encoder = options.model.encoder.value_or(MitEncoder::kB4);
  model_options.max_depth =
      options.model.max_depth > 0 ? options.model.max_depth : options.fallback_max_depth;
  model_options.canonical_focal = options.model.canonical_focal;
  GLPDepth model(model_options);
  ModelSource source{"random weights", model_options.encoder, model_options.max_depth,
                     model_options.canonical_focal, true};
  return DepthPredictor(model, options, source, Backend::kOpenVino);
}

torch::Tensor DepthPredictor::predict(const torch::Tensor& images, const torch::Tensor& intrinsics) {
  check(images.dim() == 4 && images.size(1) == 3, "predict: images must be [B,3,H,W], got ",
        images.sizes());
  torch::InferenceMode inference;
  if (backend_ == Backend::kOpenVino) {
    const DepthNetwork network = [this](const torch::Tensor& input) {
      return run_on_any_size(input, [this](const torch::Tensor& padded) {
        return openvino_->forward(padded);
      });
    };
    return predict_depth(network, model_->options().canonical_focal,
                         images.to(torch::kCPU, torch::kFloat32), options_.flip_test, intrinsics)
        .contiguous();
  }
  if (model_->is_training()) model_->eval();
  AutocastGuard autocast(options_.device, precision_);
  torch::Tensor input = images.to(options_.device, torch::kFloat32, /*non_blocking=*/true);
  if (options_.channels_last) input = input.contiguous(torch::MemoryFormat::ChannelsLast);
  return predict_depth(model_, input, options_.flip_test, intrinsics)
      .to(torch::kCPU, torch::kFloat32)
      .contiguous();
}

std::string DepthPredictor::describe_runtime() const {
  std::string text = cat(to_string(backend_), " ", precision_name(precision_), " on ",
                         options_.device.str());
  if (backend_ == Backend::kOpenVino)
    text += cat(" (OpenVINO ", openvino_version(), ", ", to_string(options_.hint),
                parallel_calls() > 1 ? cat(": ", parallel_calls(), " images at once") : "", ")");
  return text;
}

int DepthPredictor::parallel_calls() const {
  return backend_ == Backend::kOpenVino ? openvino_->parallel_requests() : 1;
}

torch::Tensor DepthPredictor::predict(const Batch& batch) {
  return predict(batch.image, batch.intrinsics);
}

torch::Tensor DepthPredictor::predict(const Image8& image,
                                      const std::optional<Intrinsics>& intrinsics) {
  check(image.channels == 3 && image.width > 0 && image.height > 0,
        "predict: expected an RGB image (3 channels), got ", image.width, "x", image.height, "x",
        image.channels);
  // The loaders' own conversion, so that a single image gives what `glpdepth predict` gives.
  Sample sample;
  sample.rgb = image;
  sample.name = "image";
  sample.source = "image";
  if (intrinsics) sample.intrinsics = *intrinsics;
  return predict(collate({sample}))[0][0];
}

void DepthPredictor::require_intrinsics(bool have_intrinsics, const std::string& where) const {
  if (!camera_aware() || have_intrinsics) return;
  throw UsageError(cat(where, ": camera-aware model (canonical focal ",
                       model_->options().canonical_focal,
                       " px) needs the camera: --intrinsics fx,fy,cx,cy or --calib FILE"));
}

}  // namespace glpdepth
