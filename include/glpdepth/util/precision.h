// Numeric precision and memory layout choices, decided once by the CLI and passed down.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

namespace glpdepth {

enum class Precision { kFloat32, kBFloat16, kFloat16 };

// "none"/"fp32", "bf16", "fp16"; throws Error naming --amp otherwise.
Precision parse_precision(const std::string& name);
std::string to_string(Precision precision);

// Enables autocast for `device` with the given precision for the guard's lifetime (no-op for
// float32). Autocast is offered on CUDA only; on CPU a reduced precision is an Error.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool previous_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat16;
};

// Converts every 4-D parameter and buffer of `module` to channels-last memory format in place.
void to_channels_last(torch::nn::Module& module);

// Waits for queued work on the device (CUDA); no-op on CPU.
void synchronize(const torch::Device& device);

}  // namespace glpdepth
