#include "glpdepth/model/loading.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "glpdepth/io/safetensors.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

MitEncoder variant_of(const StateDict& state, const std::string& what) {
  std::vector<std::string> keys;
  keys.reserve(state.size());
  for (const auto& entry : state) keys.push_back(entry.first);
  torch::Tensor first = find_tensor(state, "encoder.patch_embed1.proj.weight");
  check(first.defined() && first.dim() == 4, what,
        ": no encoder.patch_embed1.proj.weight tensor: not GLPDepth weights");
  try {
    return infer_encoder_variant(keys, first.size(0));
  } catch (const Error& e) {
    throw Error(cat(what, ": ", e.what()));
  }
}

}  // namespace

GLPDepth load_model(const std::filesystem::path& path, std::optional<MitEncoder> encoder,
                    double max_depth, double fallback_max_depth, ModelSource* source) {
  const std::string what = path.string();
  ModelSource found;
  std::optional<MitEncoder> stated;  // what our checkpoint's header says
  StateDict state;
  if (looks_like_safetensors(path)) {
    found.description = "safetensors";
    std::map<std::string, std::string> metadata;
    state = read_safetensors(path, &metadata);
    // `glpdepth export --format safetensors` records the camera-aware mode here.
    const double focal = safetensors_canonical_focal(metadata, what);
    found.records_canonical_focal = focal >= 0;
    found.canonical_focal = std::max(focal, 0.0);
  } else {
    PyValue value = read_pytorch_file(path);
    if (is_glpdepth_checkpoint(value)) {
      found.description = "glpdepth checkpoint";
      const GLPDepthOptions header = read_checkpoint_header(value, what);
      stated = header.encoder;
      found.max_depth = header.max_depth;
      found.canonical_focal = header.canonical_focal;
      found.records_canonical_focal = true;
      state = state_dict_from_value(value.at("model"), what);
    } else {
      found.description = "PyTorch state_dict";
      state = state_dict_from_value(value, what);
    }
  }
  state = normalize_state_dict(std::move(state));
  const MitEncoder inferred = variant_of(state, what);
  if (stated && *stated != inferred)
    throw Error(cat(what, ": checkpoint says encoder ", *stated, " but its weights are ", inferred));
  found.encoder = inferred;
  if (encoder && *encoder != inferred)
    throw UsageError(cat("--encoder ", *encoder, " does not match ", what, ", which holds MiT-",
                         inferred, " weights"));

  GLPDepthOptions options;
  options.encoder = inferred;
  options.max_depth = max_depth > 0 ? max_depth : (found.max_depth > 0 ? found.max_depth : fallback_max_depth);
  options.canonical_focal = found.canonical_focal;
  GLPDepth model(options);
  load_weights(*model, state, LoadMode::kStrict, what);
  if (source) *source = found;
  return model;
}

}  // namespace glpdepth
