#include "glpdepth/data/dataset_kind.h"

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {

const std::vector<DatasetDefaults>& dataset_table() {
  // Spec §4: crops and scales of the original; max_depth 80 m outdoors, 10 m indoors. Image
  // folders have no depth of their own; 256 is the PNG scale their ground truth gets by default.
  static const std::vector<DatasetDefaults> rows = {
      {DatasetKind::kKitti, "kitti", {}, "kitti", 80.f, 1e-3f, 80.f, 352, 704, 256.f,
       {WindowKind::kBottomCentre, 352, 1216, 0}},
      {DatasetKind::kDrivingStereo, "drivingstereo", {"ds", "driving_stereo"}, "DrivingStereo",
       80.f, 1e-3f, 80.f,
       352, 704, 256.f, {WindowKind::kBottomRightMargin, 384, 864, 9}},
      {DatasetKind::kNyuDepthV2, "nyudepthv2", {"nyu", "nyu_depth_v2", "nyudepth"}, "nyu_depth_v2",
       10.f, 1e-3f,
       10.f, 448, 576, 1000.f, {}},
      {DatasetKind::kFolder, "folder", {"imagepath", "images", "generic", "synth"}, "", 80.f, 1e-3f,
       80.f, 0, 0, 256.f, {}},
  };
  return rows;
}

const DatasetDefaults& dataset_defaults(DatasetKind kind) {
  for (const auto& row : dataset_table())
    if (row.kind == kind) return row;
  throw Error("dataset_defaults: a DatasetKind without a row");
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const auto& row : dataset_table()) names.push_back(row.name);
  return names;
}

DatasetKind parse_dataset(const std::string& name) {
  const std::string n = to_lower(name);
  std::vector<std::string> all_names;
  for (const auto& row : dataset_table()) {
    if (n == row.name) return row.kind;
    for (const auto& alias : row.aliases)
      if (n == alias) return row.kind;
    all_names.push_back(row.name);
    all_names.insert(all_names.end(), row.aliases.begin(), row.aliases.end());
  }
  const std::string guess = closest_match(n, all_names);
  std::string known;
  for (const auto& main_name : dataset_names()) known += (known.empty() ? "" : ", ") + main_name;
  throw UsageError(cat("unknown dataset '", name, "' (", known,
                       guess.empty() ? std::string() : "; did you mean " + guess + "?", ")"));
}

std::string to_string(DatasetKind kind) { return dataset_defaults(kind).name; }

const NameTable<Split>& split_names() {
  static const NameTable<Split> names = {
      {"train", Split::kTrain}, {"val", Split::kVal}, {"test", Split::kTest}};
  return names;
}

Split parse_split(const std::string& name) { return parse_name(split_names(), to_lower(name), "split"); }

std::string to_string(Split split) { return name_of(split_names(), split); }

}  // namespace glpdepth
