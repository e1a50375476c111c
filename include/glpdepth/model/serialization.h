// The one home of the model header our files carry beside the weights: which network they belong
// to (encoder variant, max_depth, canonical focal). A training checkpoint holds it as its
// "model_options" entry next to the format version; an exported safetensors file as string
// metadata. Checkpoints (train/checkpoint.cpp), weight loading (model/loading.cpp) and `export`
// all read and write it through here, so every reader checks the same things: the format version,
// a known encoder, a positive finite max_depth, a finite focal >= 0.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/model/glpdepth.h"

namespace glpdepth {

// Marker key of our training checkpoints (a dict; its value is the format version).
inline constexpr const char* kCheckpointFormatKey = "glpdepth_checkpoint";
inline constexpr int64_t kCheckpointFormatVersion = 1;

// Whether `file` (a read PyTorch file) is one of our checkpoints: a dict with the marker key.
bool is_glpdepth_checkpoint(const PyValue& file);

// The checkpoint's "model_options" entry: {"encoder", "max_depth", "canonical_focal"}.
PyValue model_header_value(const GLPDepthOptions& options);

// Reads and checks the format version and the model header of a checkpoint. Throws Error naming
// `what` (the file) for another version, an unknown encoder, max_depth <= 0 or a focal < 0.
GLPDepthOptions read_checkpoint_header(const PyValue& checkpoint, const std::string& what);

// safetensors metadata of exported weights: {"format": "pt", "encoder", "source"} and, for
// camera-aware weights, "canonical_focal" (printed to round-trip exactly).
std::map<std::string, std::string> safetensors_header(const GLPDepthOptions& options,
                                                      const std::string& source);

// The canonical focal a safetensors file records: -1 when it records none (the weights are then
// metric unless the user says otherwise). Throws Error naming `what` for a value that is not a
// finite number >= 0.
double safetensors_canonical_focal(const std::map<std::string, std::string>& metadata,
                                   const std::string& what);

}  // namespace glpdepth
