// Copying a state_dict into a torch::nn::Module by exact parameter/buffer name, with the name
// fix-ups real checkpoints need: DataParallel's "module." prefix and Hugging Face GLPN names.
#pragma once
#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "glpdepth/io/pytorch_file.h"

namespace glpdepth {

enum class LoadMode {
  // Every parameter and buffer of the module must be in the file and every file entry must be
  // used; shapes must agree. Anything else throws Error listing the names.
  kStrict,
  // A pretrained encoder file (SegFormer's mit_b*.pth): its keys are bare encoder names
  // ("block1.0.attn.q.weight") and load into the module's "encoder." sub-tree. Entries that
  // match nothing (the ImageNet "head.*") are reported, not loaded. Shapes must still agree.
  kEncoderOnly,
};

struct LoadReport {
  std::vector<std::string> loaded;      // module names that received a value
  std::vector<std::string> missing;     // module names (in scope) the file did not have
  std::vector<std::string> unexpected;  // file names that matched nothing (ignored)
  std::string summary() const;          // "loaded N, missing M (...), unexpected K (...)"
};

// Removes a leading "module." from every key that has one.
StateDict strip_module_prefix(StateDict state);

// True when the keys look like Hugging Face GLPN names ("glpn.encoder...", "head.head...").
bool is_hf_glpn_state_dict(const StateDict& state);

// Renames Hugging Face GLPN keys to the reference names (spec §1.7) and merges each
// attention.self.key/value pair back into one attn.kv tensor (key rows first). Keys that are
// not HF names are kept. Throws Error when a key has no matching value (or vice versa).
StateDict hf_glpn_to_reference(const StateDict& state);

// Reference names (without "module.") to Hugging Face GLPN names, splitting attn.kv; used by
// the tests and to make HF-style files.
StateDict reference_to_hf_glpn(const StateDict& state);

// strip_module_prefix, then hf_glpn_to_reference when the keys are HF names.
StateDict normalize_state_dict(StateDict state);

// Copies `state` (normalised first) into `module`, converting each tensor to the dtype and
// device of the destination. `what` (usually the file name) starts every error message.
LoadReport load_weights(torch::nn::Module& module, const StateDict& state, LoadMode mode,
                        const std::string& what = "state_dict");

// read_state_dict + load_weights.
LoadReport load_weights_file(torch::nn::Module& module, const std::filesystem::path& path,
                             LoadMode mode);

// The module's parameters and buffers in PyTorch's state_dict order (each module's own
// parameters, then its own buffers, then its children, depth first). Tensors are detached and
// share memory with the module.
StateDict module_state_dict(const torch::nn::Module& module);

}  // namespace glpdepth
