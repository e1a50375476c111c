// `glpdepth make-lists`: scans a dataset root and writes <out>/{train,val,test}.txt in the list
// format the datasets read ("/<image> /<depth>", relative to the root). Validation is held out by
// whole sequences (drives / scenes), chosen with a seed, so the test split is never used for
// model selection (spec B12, B21).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "glpdepth/data/dataset_kind.h"

namespace glpdepth {

struct MakeListsOptions {
  DatasetKind dataset = DatasetKind::kKitti;  // kitti, drivingstereo or nyudepthv2
  std::filesystem::path data_path;  // the dataset root
  double val_fraction = 0.1;        // of the training sequences
  uint64_t seed = 0;
  std::filesystem::path out;        // default <data_path>/lists
};

struct ListsSummary {
  std::filesystem::path out;
  int64_t train = 0, val = 0, test = 0;        // lines written
  std::vector<std::string> val_sequences;      // held out
  int64_t train_sequences = 0;
  int64_t missing_pairs = 0;                   // images without depth (or depth without image)
  std::vector<std::string> notes;              // things the user should know
};

ListsSummary make_lists(const MakeListsOptions& options);

// Picks round(fraction * n) of `sequences` (at least 1 when fraction > 0 and n >= 2, never all of
// them) with a seeded shuffle; the result is sorted.
std::vector<std::string> choose_held_out(std::vector<std::string> sequences, double fraction,
                                         uint64_t seed);

}  // namespace glpdepth
