// `glpdepth export`: writes a model's weights as a PyTorch state_dict (torch.load-able, keys as
// the reference GLPDepth expects) or as safetensors, or the whole network as an ONNX model
// (docs/DEPLOY.md).
#include <torch/torch.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>

#include "cli.h"
#include "glpdepth/deploy/onnx_export.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/safetensors.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/util/error.h"

namespace glpdepth::cli {
namespace {

struct ExportOptions {
  std::string ckpt;
  std::string encoder;
  std::string format = "pytorch";
  bool module_prefix = false;
  std::string output;
  int64_t seed = 0;
  std::string onnx_shape;  // BxHxW; empty = dynamic
  bool onnx_fp16_weights = false;
};

void export_onnx(const ExportOptions& o, GLPDepth& model, const ModelSource& source) {
  OnnxExportOptions options;
  if (!o.onnx_shape.empty()) options.fixed_shape = parse_onnx_input_shape(o.onnx_shape);
  options.fp16_weights = o.onnx_fp16_weights;
  options.metadata["source"] = source.description;
  const OnnxExportSummary summary = write_onnx_model(model, o.output, options);
  const std::string input =
      options.fixed_shape ? cat("[", options.fixed_shape->batch, ",3,", options.fixed_shape->height,
                                ",", options.fixed_shape->width, "]")
                          : "[batch,3,height,width] (height, width multiples of 32)";
  std::cerr << "wrote MiT-" << source.encoder << " GLPDepth (" << source.description << ") to "
            << o.output << ": ONNX opset " << options.opset << ", " << summary.nodes << " nodes, "
            << (o.onnx_fp16_weights ? "float16" : "float32") << " weights, "
            << cat(std::fixed, std::setprecision(1), summary.bytes / 1e6) << " MB; input image " << input
            << ", RGB 0..1\n";
}

void run_export(const ExportOptions& o, const CommonOptions& common) {
  apply_threads(common);
  if (o.format != "pytorch" && o.format != "safetensors" && o.format != "onnx") {
    throw UsageError(cat("--format must be pytorch, safetensors or onnx, not '", o.format, "'"));
  }
  if (o.output.empty()) throw UsageError("--output is required");
  if (o.format != "onnx" && (!o.onnx_shape.empty() || o.onnx_fp16_weights))
    throw UsageError(cat(o.onnx_shape.empty() ? "--onnx_fp16_weights" : "--onnx_shape",
                         " only applies to --format onnx"));
  // Before the model is read, so that a bad shape costs nothing.
  if (!o.onnx_shape.empty()) parse_onnx_input_shape(o.onnx_shape);
  if (o.ckpt.empty() && o.encoder.empty()) {
    throw UsageError("give --ckpt FILE, or --encoder bN to export freshly initialised weights");
  }
  // Fresh weights are reproducible: initialisation draws from the seeded generator.
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  ModelSource source;
  GLPDepth model = load_model_for_inference(o.ckpt, o.encoder, 0.0, 80.0, &source);
  if (o.format == "onnx") return export_onnx(o, model, source);
  StateDict state = module_state_dict(*model);
  const std::string prefix = o.module_prefix ? "module." : "";
  if (o.format == "pytorch") {
    write_state_dict(o.output, state, prefix);
  } else {
    StateDict prefixed;
    prefixed.reserve(state.size());
    for (auto& [name, tensor] : state) prefixed.emplace_back(prefix + name, tensor);
    std::map<std::string, std::string> metadata = {
        {"format", "pt"}, {"encoder", source.encoder}, {"source", source.description}};
    if (source.canonical_focal > 0) {
      char focal[32];
      std::snprintf(focal, sizeof focal, "%.17g", source.canonical_focal);
      metadata["canonical_focal"] = focal;
    }
    write_safetensors(o.output, prefixed, metadata);
  }
  if (source.canonical_focal > 0 && o.format == "pytorch")
    std::cerr << "note: camera-aware weights (canonical focal " << source.canonical_focal
              << " px); a state_dict cannot record that: load them with --canonical_focal "
              << source.canonical_focal << " (safetensors exports record it)\n";
  std::cerr << "wrote " << state.size() << " tensors (MiT-" << source.encoder << ", "
            << source.description << ") to " << o.output << "\n";
}

}  // namespace

GLPDEPTH_COMMAND({"export", "Write weights for PyTorch (torch.load) or safetensors, or an ONNX model", 700,
                  [](CLI::App& command, CommonOptions& common) {
                    auto options = std::make_shared<ExportOptions>();
                    add_option(command, "ckpt", options->ckpt,
                               "weights to export: our checkpoint, a PyTorch state_dict "
                               "(official .ckpt, HF GLPN) or safetensors");
                    add_option(command, "encoder", options->encoder,
                               "MiT variant b0..b5: checked against --ckpt, or the variant of "
                               "fresh weights when --ckpt is not given");
                    add_option(command, "format", options->format,
                               "pytorch | safetensors | onnx (the whole network, opset 17)")
                        ->check(CLI::IsMember({"pytorch", "safetensors", "onnx"}));
                    add_flag(command, "module_prefix", options->module_prefix,
                             "prefix every key with 'module.' (DataParallel layout, as the "
                             "official checkpoints)");
                    add_option(command, "output", options->output, "file to write")->required();
                    add_option(command, "seed", options->seed,
                               "random seed for fresh weights");
                    add_option(command, "onnx_shape", options->onnx_shape,
                               "onnx: fixed input shape BxHxW (H, W multiples of 32) instead of "
                               "dynamic batch, height and width");
                    add_flag(command, "onnx_fp16_weights", options->onnx_fp16_weights,
                             "onnx: store weights as float16 (half the file; the graph casts "
                             "them to float32 and computes in float32)");
                    command.callback([options, &common] { run_export(*options, common); });
                  }});

}  // namespace glpdepth::cli
