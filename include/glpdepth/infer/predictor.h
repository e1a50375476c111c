// Metric depth from images: one object owns the weights, the device, the precision and memory
// layout, the flip test and the camera-aware rescale. `glpdepth test`, `predict`, `bench` and
// the validation of `train` all run their forward passes through it.
//
//   glpdepth::PredictorOptions options;
//   options.device = torch::kCUDA;
//   auto predictor = glpdepth::DepthPredictor::open("best.ckpt", options);
//   torch::Tensor depth = predictor.predict(glpdepth::read_image("frame.png"));  // [H, W] metres
//
// Threads: predict() may run on several threads at once (the weights are only read). Opening
// and the wrapping constructor are not thread-safe with respect to predict().
#pragma once
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "glpdepth/data/loader.h"
#include "glpdepth/infer/backend.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/io/image.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/util/precision.h"

namespace glpdepth {

struct PredictorOptions {
  torch::Device device = torch::kCPU;
  // Who runs the network: kAuto is OpenVINO on the CPU where this build has it (for files and
  // random weights; a model in memory stays on LibTorch), else LibTorch. backend() says which.
  Backend backend = Backend::kAuto;
  // fp32; bf16 (LibTorch autocast on CPU or CUDA, OpenVINO's precision hint); fp16 (CUDA
  // autocast); kAuto: bf16 where the hardware computes it natively (resolve_precision).
  // precision() says which ran.
  Precision precision = Precision::kFloat32;
  bool channels_last = false;  // LibTorch only
  // kThroughput lets OpenVINO run parallel_calls() images at once (the pipeline does when the
  // predictor offers it); one call alone then takes longer. LibTorch ignores it.
  PerformanceHint hint = PerformanceHint::kLatency;
  // Average with the prediction of the mirrored image (both in one forward of 2B images).
  bool flip_test = false;
  // encoder: must name the file's when not empty. max_depth > 0 replaces the head scale the
  // file records. canonical_focal > 0 makes plain weights files camera-aware; for files that
  // record the mode it may only confirm it.
  ModelChoice model;
  // Head scale for files that record none (PyTorch state_dicts, safetensors).
  double fallback_max_depth = 80.0;
};

class OpenVinoNetwork;

class DepthPredictor {
 public:
  // Reads any weights file load_model reads (our checkpoints, official GLPDepth .ckpt, SegFormer/
  // HF state_dicts, safetensors) and moves the model to the device. Throws Error naming the file
  // (missing, not GLPDepth weights), UsageError when an option contradicts the file (encoder,
  // canonical focal) or is invalid.
  static DepthPredictor open(const std::filesystem::path& weights,
                             const PredictorOptions& options = {});
  // Freshly initialised weights of options.encoder (b4 when empty): only for benchmarks and for
  // users who ask for random weights explicitly.
  static DepthPredictor random_weights(const PredictorOptions& options = {});
  // Runs an existing model (training validation shares the weights being trained); encoder,
  // max_depth and canonical_focal of `options` are ignored: the model's own apply. kAuto means
  // LibTorch here (the weights may still change); kOpenVino runs a snapshot of them.
  DepthPredictor(GLPDepth model, const PredictorOptions& options);

  // One RGB image (uint8 HxWx3, any size) -> metric depth [H, W], float32 on the CPU. Camera-
  // aware models need `intrinsics` with a focal length (Error otherwise).
  torch::Tensor predict(const Image8& image, const std::optional<Intrinsics>& intrinsics = {});
  // images [B,3,H,W] float RGB in [0,1] (any size, any device); intrinsics [B,4] (fx, fy, cx, cy)
  // or undefined -> [B,1,H,W] metres, float32 on the CPU. Sizes that are not multiples of 32 are
  // padded inside the model and cropped back.
  torch::Tensor predict(const torch::Tensor& images, const torch::Tensor& intrinsics = {});
  // A loader batch (its images and intrinsics).
  torch::Tensor predict(const Batch& batch);

  // Throws Error when this model is camera-aware and `have_intrinsics` is false, naming `where`
  // (e.g. "predict") and how to give them: callers check before any work is done.
  void require_intrinsics(bool have_intrinsics, const std::string& where) const;

  bool camera_aware() const { return model_->options().canonical_focal > 0; }
  const GLPDepthOptions& model_options() const { return model_->options(); }
  // What the weights file was ("glpdepth checkpoint", "PyTorch state_dict", "safetensors",
  // "random weights", "model in memory").
  const ModelSource& source() const { return source_; }
  const PredictorOptions& options() const { return options_; }
  // The backend and precision that run (kAuto resolved), for logs and metrics.json.
  Backend backend() const { return backend_; }
  Precision precision() const { return precision_; }
  // "libtorch fp32", "openvino bf16 (OpenVINO 2026.4.1-...)": one line for logs.
  std::string describe_runtime() const;
  // How many predict() calls at once make best use of the machine: more than 1 only for OpenVINO
  // with PerformanceHint::kThroughput (its streams); run_pipeline runs that many.
  int parallel_calls() const;
  GLPDepth& model() { return model_; }

 private:
  DepthPredictor(GLPDepth model, const PredictorOptions& options, ModelSource source,
                 Backend auto_choice);
  GLPDepth model_;
  PredictorOptions options_;
  ModelSource source_;
  Backend backend_ = Backend::kLibTorch;
  Precision precision_ = Precision::kFloat32;
  std::shared_ptr<OpenVinoNetwork> openvino_;
};

}  // namespace glpdepth
