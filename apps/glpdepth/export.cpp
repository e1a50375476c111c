// `glpdepth export`: writes a model's weights as a PyTorch state_dict (torch.load-able, keys as
// the reference GLPDepth expects) or as safetensors, or the whole network as an ONNX model
// (docs/DEPLOY.md).
#include <torch/torch.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>

#include "cli.h"
#include "flags.h"
#include "glpdepth/deploy/onnx_export.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/safetensors.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/util/error.h"

namespace glpdepth::cli {
namespace {

enum class ExportFormat { kPyTorch, kSafetensors, kOnnx };

struct ExportCli {
  std::string ckpt;
  bool random_weights = false;
  ModelChoice model;
  ExportFormat format = ExportFormat::kPyTorch;
  bool module_prefix = false;
  std::string output;
  uint64_t seed = 0;
  std::string onnx_shape;  // BxHxW; empty = dynamic
  bool onnx_fp16_weights = false;
  bool overwrite = false;
};

void export_onnx(const ExportCli& o, GLPDepth& model, const ModelSource& source) {
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
            << cat(std::fixed, std::setprecision(1), summary.bytes / 1e6) << " MB; input image "
            << input << ", RGB 0..1\n";
}

void export_weights(const ExportCli& o, GLPDepth& model, const ModelSource& source) {
  StateDict state = module_state_dict(*model);
  const std::string prefix = o.module_prefix ? "module." : "";
  if (o.format == ExportFormat::kPyTorch) {
    write_state_dict(o.output, state, prefix);
  } else {
    StateDict prefixed;
    prefixed.reserve(state.size());
    for (auto& [name, tensor] : state) prefixed.emplace_back(prefix + name, tensor);
    write_safetensors(o.output, prefixed, safetensors_header(model->options(), source.description));
  }
  if (source.canonical_focal > 0 && o.format == ExportFormat::kPyTorch)
    std::cerr << "note: camera-aware weights (canonical focal " << source.canonical_focal
              << " px); a state_dict cannot record that: load them with --canonical_focal "
              << source.canonical_focal << " (safetensors and ONNX exports record it)\n";
  std::cerr << "wrote " << state.size() << " tensors (MiT-" << source.encoder << ", "
            << source.description << ") to " << o.output << "\n";
}

void run_export(ExportCli o, const CommonOptions& common) {
  apply_threads(common);
  if (o.output.empty()) throw UsageError("--output: the file to write is required");
  if (o.format != ExportFormat::kOnnx && (!o.onnx_shape.empty() || o.onnx_fp16_weights))
    throw UsageError(cat(o.onnx_shape.empty() ? "--onnx_fp16_weights" : "--onnx_shape",
                         " only applies to --format onnx"));
  // Before the model is read, so that a bad shape costs nothing.
  if (!o.onnx_shape.empty()) parse_onnx_input_shape(o.onnx_shape);
  // Fresh weights are reproducible: initialisation draws from the seeded generator.
  o.output = claim_file(o.output, o.overwrite, "export").string();
  torch::manual_seed(o.seed);
  PredictorOptions options;
  options.model = o.model;
  DepthPredictor predictor = open_predictor(o.ckpt, o.random_weights, options, "export");
  ModelSource source = predictor.source();
  source.canonical_focal = predictor.model_options().canonical_focal;
  if (o.format == ExportFormat::kOnnx) return export_onnx(o, predictor.model(), source);
  export_weights(o, predictor.model(), source);
}

void setup_export(CLI::App& command, CommonOptions& common) {
  auto o = std::make_shared<ExportCli>();
  add_weights_flags(command, o->ckpt, o->random_weights);
  add_model_flags(command, o->model);
  add_enum_option(command, "format", o->format,
                  {{"pytorch", ExportFormat::kPyTorch}, {"safetensors", ExportFormat::kSafetensors},
                   {"onnx", ExportFormat::kOnnx}},
                  "pytorch | safetensors | onnx (the whole network, opset 17)", section::kOutput);
  add_flag(command, "module_prefix", o->module_prefix,
           "prefix every key with 'module.' (DataParallel layout, as the official checkpoints)",
           section::kOutput);
  add_output_flag(command, o->output, "file to write (required)", {});
  add_overwrite_flag(command, o->overwrite);
  add_seed_flag(command, o->seed);
  add_option(command, "onnx_shape", o->onnx_shape,
             "onnx: fixed input shape BxHxW (H, W multiples of 32) instead of dynamic batch, "
             "height and width",
             section::kOutput);
  add_flag(command, "onnx_fp16_weights", o->onnx_fp16_weights,
           "onnx: store weights as float16 (half the file; the graph casts them to float32 and "
           "computes in float32)",
           section::kOutput);
  command.callback([o, &common] { run_export(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"export", "Write weights for PyTorch (torch.load) or safetensors, or an ONNX model",
                  700, setup_export});

}  // namespace glpdepth::cli
