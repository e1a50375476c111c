#include "glpdepth/infer/backend.h"

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {

Backend parse_backend(const std::string& name) {
  const std::string key = to_lower(name);
  if (key == "auto") return Backend::kAuto;
  if (key == "libtorch" || key == "torch") return Backend::kLibTorch;
  if (key == "openvino") return Backend::kOpenVino;
  throw UsageError(cat("--backend ", name, ": expected auto, libtorch or openvino"));
}

std::string to_string(Backend backend) {
  switch (backend) {
    case Backend::kAuto: return "auto";
    case Backend::kLibTorch: return "libtorch";
    case Backend::kOpenVino: return "openvino";
  }
  return "auto";
}

PerformanceHint parse_performance_hint(const std::string& name) {
  const std::string key = to_lower(name);
  if (key == "latency") return PerformanceHint::kLatency;
  if (key == "throughput") return PerformanceHint::kThroughput;
  throw UsageError(cat("--performance_hint ", name, ": expected latency or throughput"));
}

std::string to_string(PerformanceHint hint) {
  return hint == PerformanceHint::kThroughput ? "throughput" : "latency";
}

}  // namespace glpdepth
