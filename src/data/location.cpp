#include "glpdepth/data/location.h"

#include <unistd.h>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/lists.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

// A child folder whose name equals `name` ignoring case; empty when none.
fs::path child_folder(const fs::path& parent, const std::string& name) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    if (entry.is_directory(ec) && to_lower(entry.path().filename().string()) == to_lower(name))
      return entry.path();
  }
  return {};
}

bool writable_folder(const fs::path& folder) {
  std::error_code ec;
  fs::path probe = folder;
  while (!probe.empty() && !fs::exists(probe, ec)) probe = probe.parent_path();
  return !probe.empty() && ::access(probe.c_str(), W_OK) == 0;
}

}  // namespace

DatasetLocation locate_dataset(DatasetKind dataset, const fs::path& data_path) {
  std::error_code ec;
  if (data_path.empty()) throw UsageError("--data_path: the dataset folder is required");
  if (!fs::is_directory(data_path, ec))
    throw Error(cat("--data_path ", data_path.string(), ": not a folder"));
  DatasetLocation location{data_path, ""};
  const std::string& folder = dataset_defaults(dataset).folder;
  if (folder.empty() || fs::is_directory(data_path / "lists", ec)) return location;
  const fs::path child = child_folder(data_path, folder);
  if (child.empty()) return location;
  location.root = child;
  location.note = cat("--data_path ", data_path.string(), " holds ", child.filename().string(),
                      "/: using ", child.string(), " as the dataset folder");
  return location;
}

ListsChoice find_or_make_list(DatasetKind dataset, const fs::path& root,
                              Split split, const fs::path& explicit_list,
                              const fs::path& fallback_dir, double val_fraction, uint64_t seed) {
  std::error_code ec;
  if (!explicit_list.empty()) {
    check(fs::exists(explicit_list, ec), "list file ", explicit_list.string(), ": does not exist");
    return {explicit_list, ""};
  }
  const fs::path in_root = default_list_path(root, split);
  if (fs::exists(in_root, ec)) return {in_root, ""};
  const fs::path elsewhere = fallback_dir / "lists" / to_string(dataset);
  const std::string file = to_string(split) + ".txt";
  if (fs::exists(elsewhere / file, ec)) return {elsewhere / file, ""};

  MakeListsOptions options;
  options.dataset = dataset;
  options.data_path = root;
  options.val_fraction = val_fraction;
  options.seed = seed;
  options.out = writable_folder(root / "lists") ? root / "lists" : elsewhere;
  const ListsSummary summary = make_lists(options);
  const fs::path list = summary.out / file;
  return {list, cat("no lists in ", (root / "lists").string(), ": wrote ", summary.train,
                    " train, ", summary.val, " val (", summary.val_sequences.size(),
                    " sequences held out) and ", summary.test, " test lines to ",
                    summary.out.string(), " (as `glpdepth make-lists` does)")};
}

}  // namespace glpdepth
