// Peak memory of this process, as bench reports it: resident host memory, and what LibTorch's
// CUDA caching allocator has handed out on a device.
#pragma once
#include <torch/types.h>

namespace glpdepth {

// Peak resident memory of this process image (VmHWM), in MiB.
double peak_rss_mib();

// Peak bytes allocated by LibTorch on a CUDA device since the last reset, in MiB; 0 for the CPU
// and in builds without CUDA. "cuda" without an index is the current device.
double peak_device_mib(const torch::Device& device);
void reset_peak_device_memory(const torch::Device& device);

}  // namespace glpdepth
