#include "glpdepth/model/serialization.h"

#include <cmath>
#include <cstdio>

#include "glpdepth/model/mit.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

void check_focal(double focal, const std::string& what, const std::string& field) {
  check(std::isfinite(focal) && focal >= 0, what, ": ", field, " must be a number >= 0, got ",
        focal);
}

}  // namespace

bool is_glpdepth_checkpoint(const PyValue& file) {
  return file.is_dict() && file.find(kCheckpointFormatKey) != nullptr;
}

PyValue model_header_value(const GLPDepthOptions& options) {
  return PyValue::dict()
      .set("encoder", to_string(options.encoder))
      .set("max_depth", options.max_depth)
      .set("canonical_focal", options.canonical_focal);
}

GLPDepthOptions read_checkpoint_header(const PyValue& checkpoint, const std::string& what) {
  check(is_glpdepth_checkpoint(checkpoint), what, ": not a glpdepth checkpoint (no \"",
        kCheckpointFormatKey, "\" entry)");
  const int64_t version = checkpoint.at(kCheckpointFormatKey).as_int();
  check(version == kCheckpointFormatVersion, what, ": checkpoint format version ", version,
        " is not supported (this build reads version ", kCheckpointFormatVersion, ")");
  const PyValue& header = checkpoint.at("model_options");
  GLPDepthOptions options;
  const std::string encoder = header.at("encoder").as_string();
  try {
    options.encoder = parse_encoder(encoder);
  } catch (const Error&) {
    throw Error(cat(what, ": model_options.encoder '", encoder, "' is not a MiT variant (b0..b5)"));
  }
  options.max_depth = header.at("max_depth").as_float();
  check(std::isfinite(options.max_depth) && options.max_depth > 0, what,
        ": model_options.max_depth must be a number > 0, got ", options.max_depth);
  // Absent in files from before camera-aware training: those were metric.
  options.canonical_focal = 0;
  if (const PyValue* focal = header.find("canonical_focal")) {
    options.canonical_focal = focal->as_float();
    check_focal(options.canonical_focal, what, "model_options.canonical_focal");
  }
  return options;
}

std::map<std::string, std::string> safetensors_header(const GLPDepthOptions& options,
                                                      const std::string& source) {
  std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"encoder", to_string(options.encoder)}, {"source", source}};
  if (options.canonical_focal > 0) {
    char focal[32];
    std::snprintf(focal, sizeof focal, "%.17g", options.canonical_focal);
    metadata["canonical_focal"] = focal;
  }
  return metadata;
}

double safetensors_canonical_focal(const std::map<std::string, std::string>& metadata,
                                   const std::string& what) {
  const auto found = metadata.find("canonical_focal");
  if (found == metadata.end()) return -1;
  double focal = -1;
  try {
    size_t used = 0;
    focal = std::stod(found->second, &used);
    if (used != found->second.size()) focal = -1;
  } catch (const std::exception&) {
    focal = -1;
  }
  check(focal >= 0 && std::isfinite(focal), what,
        ": metadata canonical_focal must be a number >= 0, got '", found->second, "'");
  return focal;
}

}  // namespace glpdepth
