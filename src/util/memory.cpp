#include "glpdepth/util/memory.h"

#include <sys/resource.h>

#include <fstream>
#include <string>

#ifdef GLPDEPTH_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace glpdepth {

// VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so a bench started
// from a big parent (race.py holding a model) reported the parent's peak.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports KiB
}

#ifdef GLPDEPTH_HAVE_CUDA
namespace {
// The allocator wants a real index.
c10::DeviceIndex cuda_index(const torch::Device& device) {
  return device.has_index() ? device.index() : c10::cuda::current_device();
}
}  // namespace
#endif

double peak_device_mib(const torch::Device& device) {
#ifdef GLPDEPTH_HAVE_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
    return stats.allocated_bytes[0].peak / (1024.0 * 1024.0);
  }
#endif
  (void)device;
  return 0.0;
}

void reset_peak_device_memory(const torch::Device& device) {
#ifdef GLPDEPTH_HAVE_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(device));
#endif
  (void)device;
}

}  // namespace glpdepth
