// `glpdepth export`: writes a model's weights as a PyTorch state_dict (torch.load-able, keys as
// the reference GLPDepth expects) or as safetensors.
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "cli.h"
#include "flags.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/safetensors.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/util/error.h"

namespace glpdepth::cli {
namespace {

struct ExportCli {
  std::string ckpt;
  bool random_weights = false;
  ModelChoice model;
  std::string format = "pytorch";
  bool module_prefix = false;
  std::string output;
  uint64_t seed = 0;
};

void run_export(const ExportCli& o, const CommonOptions& common) {
  apply_threads(common);
  if (o.format != "pytorch" && o.format != "safetensors") {
    throw UsageError(cat("--format must be pytorch or safetensors, not '", o.format, "'"));
  }
  if (o.output.empty()) throw UsageError("--output is required");
  if (o.ckpt.empty() == !o.random_weights)
    throw UsageError("give --ckpt FILE, or --random_weights (with --encoder bN) to export "
                     "freshly initialised weights");
  // Fresh weights are reproducible: initialisation draws from the seeded generator.
  torch::manual_seed(o.seed);
  ModelSource source;
  GLPDepth model = load_model_for_inference(o.ckpt, o.model.encoder, o.model.max_depth, 80.0, &source);
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

void setup_export(CLI::App& command, CommonOptions& common) {
  auto o = std::make_shared<ExportCli>();
  add_weights_flags(command, o->ckpt, o->random_weights);
  add_model_flags(command, o->model);
  add_option(command, "format", o->format, "pytorch | safetensors", section::kOutput)
      ->check(CLI::IsMember({"pytorch", "safetensors"}));
  add_flag(command, "module_prefix", o->module_prefix,
           "prefix every key with 'module.' (DataParallel layout, as the official checkpoints)",
           section::kOutput);
  add_output_flag(command, o->output, {});
  add_seed_flag(command, o->seed);
  command.callback([o, &common] { run_export(*o, common); });
}

}  // namespace

GLPDEPTH_COMMAND({"export", "Write weights for PyTorch (torch.load) or safetensors", 700,
                  setup_export});

}  // namespace glpdepth::cli
