#include "glpdepth/util/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#ifdef GLPDEPTH_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
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
    case Precision::kAuto: return "auto";
  }
  return "none";
}

std::string precision_name(Precision precision) {
  return precision == Precision::kFloat32 ? "fp32" : to_string(precision);
}

bool cpu_has_native_bf16() {
  // The kernel's view of the CPU flags: also right under virtualisation, where a hypervisor may
  // hide features that CPUID's family tables would suggest.
  static const bool has = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream flags(line.substr(line.find(':') + 1));
      std::string flag;
      while (flags >> flag)
        if (flag == "amx_bf16" || flag == "avx512_bf16") return true;
      return false;
    }
    return false;
  }();
  return has;
}

bool cpu_autocast_available() { return TORCH_VERSION_MAJOR >= 2; }

Precision resolve_precision(Precision requested, const torch::Device& device) {
  if (requested != Precision::kAuto) return requested;
  if (device.is_cpu()) return cpu_has_native_bf16() ? Precision::kBFloat16 : Precision::kFloat32;
#ifdef GLPDEPTH_HAVE_CUDA
  if (device.is_cuda()) {
    const auto* properties =
        at::cuda::getDeviceProperties(device.has_index() ? device.index() : at::cuda::current_device());
    return properties->major >= 8 ? Precision::kBFloat16 : Precision::kFloat32;
  }
#endif
  return Precision::kFloat32;
}

namespace {
// The autocast API moved from per-backend setters (1.x) to device-type ones (2.4).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
at::DeviceType autocast_type(bool cuda) { return cuda ? at::kCUDA : at::kCPU; }
bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(autocast_type(cuda)); }
void set_autocast(bool cuda, bool enabled) {
  at::autocast::set_autocast_enabled(autocast_type(cuda), enabled);
}
torch::ScalarType autocast_dtype(bool cuda) {
  return at::autocast::get_autocast_dtype(autocast_type(cuda));
}
void set_autocast_dtype(bool cuda, torch::ScalarType type) {
  at::autocast::set_autocast_dtype(autocast_type(cuda), type);
}
#else
bool autocast_enabled(bool cuda) {
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast(bool cuda, bool enabled) {
  cuda ? at::autocast::set_enabled(enabled) : at::autocast::set_cpu_enabled(enabled);
}
torch::ScalarType autocast_dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(bool cuda, torch::ScalarType type) {
  cuda ? at::autocast::set_autocast_gpu_dtype(type) : at::autocast::set_autocast_cpu_dtype(type);
}
#endif
}  // namespace

AutocastGuard::AutocastGuard(const torch::Device& device, Precision precision) {
  if (precision == Precision::kFloat32) return;
  if (precision == Precision::kAuto)
    throw UsageError("precision auto must be resolved (resolve_precision) before autocast");
  if (!device.is_cuda() && !device.is_cpu())
    throw UsageError(cat("--amp ", to_string(precision), ": mixed precision needs cpu or cuda"));
  if (device.is_cpu() && precision == Precision::kFloat16)
    throw UsageError("--amp fp16: float16 autocast needs --device cuda (on the CPU use bf16)");
  if (device.is_cpu() && !cpu_autocast_available())
    throw UsageError(cat("--amp bf16: LibTorch ", TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR,
                         "'s CPU autocast cannot run GLPDepth (LayerNorm refuses bf16 inputs); "
                         "use LibTorch 2.x, or for inference --backend openvino"));
  cuda_ = device.is_cuda();
  previous_enabled_ = autocast_enabled(cuda_);
  previous_dtype_ = autocast_dtype(cuda_);
  set_autocast_dtype(cuda_, precision == Precision::kBFloat16 ? torch::kBFloat16 : torch::kFloat16);
  set_autocast(cuda_, true);
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  set_autocast(cuda_, previous_enabled_);
  set_autocast_dtype(cuda_, previous_dtype_);
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
