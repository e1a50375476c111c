// Where a dataset lives and which lists describe it. As in the original, --data_path may be the
// folder that holds the dataset folder (kitti/, DrivingStereo/, nyu_depth_v2/) or the dataset
// folder itself; lists that do not exist yet are made (validation held out by sequence, as
// `glpdepth make-lists` does) and the caller is told where they went.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "glpdepth/data/dataset_kind.h"

namespace glpdepth {

struct DatasetLocation {
  std::filesystem::path root;  // the dataset folder: list paths are relative to it
  std::string note;            // set when --data_path was the parent, saying what was used
};

// data_path/<folder> (the dataset's row in dataset_kind.h) when that exists (any letter case) and data_path itself holds no lists/;
// otherwise data_path. Throws Error naming --data_path when it is not a folder.
DatasetLocation locate_dataset(DatasetKind dataset, const std::filesystem::path& data_path);

struct ListsChoice {
  std::filesystem::path list;  // the list file of the split
  std::string note;            // set when the lists were made now: where they went
};

// The list of `split` (train | val | test) for the dataset at `root`: `explicit_list` when given
// (it must exist), else <root>/lists/<split>.txt. When that is missing, all three lists are made
// with make_lists into <root>/lists, or into `fallback_dir` when the dataset folder is read-only.
// val_fraction and seed are make_lists's.
ListsChoice find_or_make_list(DatasetKind dataset, const std::filesystem::path& root,
                              Split split, const std::filesystem::path& explicit_list,
                              const std::filesystem::path& fallback_dir,
                              double val_fraction = 0.1, uint64_t seed = 0);

}  // namespace glpdepth
