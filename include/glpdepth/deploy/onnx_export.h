// Writing a GLPDepth as an ONNX model (opset 17) that ONNX Runtime, OpenCV dnn and TensorRT run
// without glpdepth: the whole network (MiT encoder, decoder, head, sigmoid x max_depth) for
// inputs whose height and width are multiples of 32. See docs/DEPLOY.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "glpdepth/model/glpdepth.h"

namespace glpdepth {

// The one opset the exporter writes: the first with LayerNormalization.
inline constexpr int64_t kOnnxOpset = 17;

// A fixed input shape [batch, 3, height, width], for engines that want static shapes.
struct OnnxInputShape {
  int64_t batch = 1;
  int64_t height = 0;
  int64_t width = 0;
};

// Parses "BxHxW" (e.g. "1x352x1216"). Throws UsageError naming --onnx_shape when the text is not
// three positive integers joined by 'x' or when H or W is not a multiple of 32 (the graph does
// not pad; the reason is in docs/DEPLOY.md).
OnnxInputShape parse_onnx_input_shape(const std::string& text);

struct OnnxExportOptions {
  int64_t opset = kOnnxOpset;  // only kOnnxOpset is written; others are an Error
  // Empty: dynamic batch, height and width (one file for every multiple of 32).
  std::optional<OnnxInputShape> fixed_shape;
  // Weights stored as float16 (half the file) and cast to float32 inside the graph: the model
  // still computes in float32, on weights rounded to float16.
  bool fp16_weights = false;
  // Extra metadata_props (e.g. "source"); they cannot replace the exporter's own keys.
  std::map<std::string, std::string> metadata;
};

// False when this glpdepth was built without Debian's libonnx-dev / libprotobuf-dev; then
// write_onnx_model throws Error saying so.
bool onnx_export_available();

struct OnnxExportSummary {
  int64_t nodes = 0;
  int64_t initializers = 0;
  int64_t bytes = 0;  // size of the written file
};

// Writes `model` (its weights as they are now, BatchNorms in inference form) to `path`
// atomically: a failure leaves no file and keeps any previous one. Metadata records the encoder
// variant, max_depth, canonical_focal, the input convention, the size rule and the glpdepth
// version. Throws UsageError naming --onnx_shape for an invalid fixed shape, Error otherwise.
OnnxExportSummary write_onnx_model(GLPDepth& model, const std::filesystem::path& path,
                                   const OnnxExportOptions& options = {});

// The same model as serialised ONNX bytes in memory (what write_onnx_model would write), for
// runtimes that read a model from a buffer (the OpenVINO backend of DepthPredictor).
std::string onnx_model_bytes(GLPDepth& model, const OnnxExportOptions& options = {});

}  // namespace glpdepth
