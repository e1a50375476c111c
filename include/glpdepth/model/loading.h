// Building a GLPDepth from a weights file: our training checkpoints (which carry the encoder
// variant and max_depth), PyTorch state_dicts (official GLPDepth .ckpt, exports, HF GLPN files)
// and safetensors files (encoder variant inferred from the tensor names and shapes).
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/model/serialization.h"

namespace glpdepth {

// What a user asks of the model (the --encoder, --max_depth and --canonical_focal flags of every
// command), checked against or applied to a weights file.
struct ModelChoice {
  std::optional<MitEncoder> encoder;  // none: the weights file's own, else b4
  double max_depth = 0;        // head output range in metres; 0 = the file's, else the dataset's
  double canonical_focal = 0;  // camera-aware mode (docs/CAMERAS.md); 0 = as the file says
};

struct ModelSource {
  std::string description;   // "glpdepth checkpoint", "PyTorch state_dict", "safetensors"
  MitEncoder encoder = MitEncoder::kB4;  // variant the weights belong to
  double max_depth = 0.0;    // stored in our checkpoints; 0 when the file does not say
  double canonical_focal = 0.0;  // camera-aware mode of the checkpoint, 0 = off
  // Whether the file states the mode (our checkpoints; safetensors exports of camera-aware
  // weights): then canonical_focal is the file's word, not a default.
  bool records_canonical_focal = false;
};

// Reads weights and builds the model they belong to, loaded strictly. The model is camera-aware
// (options().canonical_focal) when the file is our checkpoint of a camera-aware run.
// `encoder` (if given) must agree with the file; `max_depth` > 0 overrides the file's value,
// otherwise the file's, otherwise `fallback_max_depth`.
GLPDepth load_model(const std::filesystem::path& path, std::optional<MitEncoder> encoder,
                    double max_depth, double fallback_max_depth = 80.0,
                    ModelSource* source = nullptr);


}  // namespace glpdepth
