#include "glpdepth/util/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#ifdef GLPDEPTH_HAVE_CUDA
#include <torch/cuda.h>
#endif

#include "glpdepth/util/error.h"

namespace glpdepth {

Precision parse_precision(const std::string& name) {
  if (name == "none" || name == "fp32" || name == "float32") return Precision::kFloat32;
  if (name == "bf16" || name == "bfloat16") return Precision::kBFloat16;
  if (name == "fp16" || name == "float16" || name == "half") return Precision::kFloat16;
  throw UsageError(cat("--amp ", name, ": expected none, bf16 or fp16"));
}

std::string to_string(Precision precision) {
  switch (precision) {
    case Precision::kFloat32: return "none";
    case Precision::kBFloat16: return "bf16";
    case Precision::kFloat16: return "fp16";
  }
  return "none";
}

namespace {
// The autocast API moved from per-backend setters (1.x) to device-type ones (2.4).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled() { return at::autocast::is_autocast_enabled(at::kCUDA); }
void set_autocast(bool enabled) { at::autocast::set_autocast_enabled(at::kCUDA, enabled); }
torch::ScalarType autocast_dtype() { return at::autocast::get_autocast_dtype(at::kCUDA); }
void set_autocast_dtype(torch::ScalarType type) { at::autocast::set_autocast_dtype(at::kCUDA, type); }
#else
bool autocast_enabled() { return at::autocast::is_enabled(); }
void set_autocast(bool enabled) { at::autocast::set_enabled(enabled); }
torch::ScalarType autocast_dtype() { return at::autocast::get_autocast_gpu_dtype(); }
void set_autocast_dtype(torch::ScalarType type) { at::autocast::set_autocast_gpu_dtype(type); }
#endif
}  // namespace

AutocastGuard::AutocastGuard(const torch::Device& device, Precision precision) {
  if (precision == Precision::kFloat32) return;
  if (!device.is_cuda())
    throw UsageError(cat("--amp ", to_string(precision), ": mixed precision needs --device cuda"));
  previous_enabled_ = autocast_enabled();
  previous_dtype_ = autocast_dtype();
  set_autocast_dtype(precision == Precision::kBFloat16 ? torch::kBFloat16 : torch::kFloat16);
  set_autocast(true);
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  set_autocast(previous_enabled_);
  set_autocast_dtype(previous_dtype_);
  at::autocast::clear_cache();
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : module.parameters())
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(torch::MemoryFormat::ChannelsLast));
  for (auto& buffer : module.buffers())
    if (buffer.dim() == 4) buffer.set_data(buffer.contiguous(torch::MemoryFormat::ChannelsLast));
}

void synchronize(const torch::Device& device) {
#ifdef GLPDEPTH_HAVE_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
#else
  (void)device;
#endif
}

}  // namespace glpdepth
