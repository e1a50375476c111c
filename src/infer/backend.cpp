#include "glpdepth/infer/backend.h"

#include <cctype>

#include "glpdepth/util/error.h"

namespace glpdepth {

Backend parse_backend(const std::string& name) {
  std::string key = name;
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
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

}  // namespace glpdepth
