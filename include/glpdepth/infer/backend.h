// Which engine runs the network's forward pass for DepthPredictor. Everything around it (image
// conversion, padding to multiples of 32, the flip test, the camera-aware rescale) is the same
// code for every backend, so they differ only in the arithmetic of the network itself.
#pragma once
#include <string>

namespace glpdepth {

enum class Backend {
  kAuto,      // OpenVINO on the CPU where this build has it, else LibTorch
  kLibTorch,  // the library's own modules (CPU and CUDA; the only one that trains)
  kOpenVino,  // Intel's OpenVINO runtime on the CPU, fed our own ONNX export in memory
};

// What a backend arranges its threads for (OpenVINO's performance hint). LibTorch runs every call
// on all its threads either way.
enum class PerformanceHint {
  kLatency,     // each call as fast as it can be: one stream over all threads (one image, bench)
  kThroughput,  // images per second: several calls at once on separate streams of a few
                // threads each, so a busy or slow thread holds up one image, not all (folders,
                // videos, evaluation); DepthPredictor::parallel_calls() says how many
};

// "auto", "libtorch" (or "torch"), "openvino" (any case); throws UsageError naming --backend.
Backend parse_backend(const std::string& name);
std::string to_string(Backend backend);
// "latency", "throughput" (any case); throws UsageError naming --performance_hint.
PerformanceHint parse_performance_hint(const std::string& name);
std::string to_string(PerformanceHint hint);

// Whether this build links the OpenVINO runtime (CMake found the `openvino` wheel's
// OpenVINOConfig.cmake) and ONNX export (the model reaches OpenVINO as ONNX bytes).
bool openvino_available();
// "2026.4.1-..." of the linked runtime, or "" without it.
std::string openvino_version();

}  // namespace glpdepth
