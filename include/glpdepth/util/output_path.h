// The one output rule of every command that writes results (predict, test, eval-pngs, export;
// train has its run folders, train/run_dir.h): an earlier run's results are never overwritten
// or mixed with a new run's. A folder or file that already exists (a folder counts when it holds
// anything) is left alone and the new results go to <name>_2, <name>_3, ... (files: <stem>_2<ext>),
// unless the user asks to overwrite. Stated for users in README.md ("Outputs").
#pragma once
#include <filesystem>
#include <string>

namespace glpdepth {

enum class ExistingOutput {
  kNewName,    // keep the earlier results, write beside them under the next free name
  kOverwrite,  // write into the existing folder / replace the existing file
};

struct ClaimedOutput {
  std::filesystem::path path;  // where the results go
  bool renamed = false;        // path is not the one asked for: an earlier run's results are there
};

// Picks and creates the output folder `dir`. Throws Error naming `flag` (e.g. "--output") and
// the reason when the folder cannot be made (read-only, a file in the way, ...).
ClaimedOutput claim_output_folder(const std::filesystem::path& dir, ExistingOutput existing,
                                  const std::string& flag);

// Creates the folder `dir` (and its parents) unless it exists; throws Error naming `flag` and
// the reason when it cannot be made or written into.
void make_output_folder(const std::filesystem::path& dir, const std::string& flag);

// Throws Error naming `flag` and the reason when the folder `dir` could not be made or written
// into (a file in the way, a folder without write permission), creating nothing: a command
// checks its output before the work whose results go there (train's --output).
void check_output_folder_possible(const std::filesystem::path& dir, const std::string& flag);

// Picks the output file `file` (its folder is created). Throws Error naming `flag` as above.
ClaimedOutput claim_output_file(const std::filesystem::path& file, ExistingOutput existing,
                                const std::string& flag);

}  // namespace glpdepth
