// Numeric precision and memory layout choices, decided once by the CLI and passed down.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

namespace glpdepth {

// kAuto is for inference only: resolve_precision turns it into a concrete one before use.
enum class Precision { kFloat32, kBFloat16, kFloat16, kAuto };

// "none"/"fp32", "bf16", "fp16"; throws Error naming --amp otherwise (kAuto is not a training
// precision: inference commands parse "auto" with their --precision flag).
Precision parse_precision(const std::string& name);
// "none", "bf16", "fp16", "auto" (the spelling --amp and config.json use).
std::string to_string(Precision precision);
// "fp32", "bf16", "fp16", "auto": the spelling of --precision, for logs and result files.
std::string precision_name(Precision precision);

// True when this CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16): there bf16
// inference pays; elsewhere it is emulated and slower than float32.
bool cpu_has_native_bf16();

// Whether this LibTorch's CPU autocast runs GLPDepth in bf16: 2.0 on (1.13's CPU LayerNorm
// refuses bf16 inputs with float32 weights).
bool cpu_autocast_available();

// The precision inference runs in: kAuto becomes bf16 on CPUs with native bf16 and on CUDA
// devices of compute capability 8.0+ (Ampere on), float32 elsewhere; others are returned as
// they are.
Precision resolve_precision(Precision requested, const torch::Device& device);

// Enables autocast for `device` with the given precision for the guard's lifetime (no-op for
// float32). CUDA takes bf16 and fp16, the CPU bf16 (LibTorch's CPU autocast); fp16 on the CPU
// and kAuto are UsageErrors.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool previous_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat16;
};

// Converts every 4-D parameter and buffer of `module` to channels-last memory format in place.
void to_channels_last(torch::nn::Module& module);

// Waits for queued work on the device (CUDA); no-op on CPU.
void synchronize(const torch::Device& device);

}  // namespace glpdepth
