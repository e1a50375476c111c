// Flags that several commands share, each declared once here and bound straight into the
// library's option structs. A flag means the same in every command that has it, with one
// default and one help text (tests/cli/flags_cli_test.cpp checks it); where commands need
// different values the default is 0 or "" and the help says what each command takes.
#pragma once
#include <string>
#include <vector>

#include "cli.h"
#include "glpdepth/data/window.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/util/output_path.h"
#include "glpdepth/util/precision.h"

namespace glpdepth::cli {

// --dataset --data_path --window --window_h --window_w --workers --skip_bad_samples
struct DatasetFlags {
  DatasetKind& dataset;
  std::string& data_path;
  WindowChoice& window;
  int& window_h;
  int& window_w;
  int& workers;
  bool& skip_bad_samples;
};
void add_dataset_flags(CLI::App& app, const DatasetFlags& flags);
// The parts, for commands that have only some of them.
void add_dataset_name_flag(CLI::App& app, DatasetKind& dataset);
// A dataset name (any alias, any case) parsed with parse_dataset, handed to `set`.
void add_dataset_option(CLI::App& app, const std::string& snake_name,
                        std::function<void(DatasetKind)> set, const std::string& help,
                        const std::string& group, const std::string& default_name);
void add_data_path_flag(CLI::App& app, std::string& data_path);
void add_workers_flag(CLI::App& app, int& workers);

// --encoder --max_depth --canonical_focal
void add_model_flags(CLI::App& app, ModelChoice& model);

// --ckpt (the original's --ckpt_dir) --random_weights
void add_weights_flags(CLI::App& app, std::string& ckpt, bool& random_weights);

// --kitti_crop --protocol --min_depth_eval --max_depth_eval --no_nyu_crop, and the original's
// --do_kb_crop (checked by check_do_kb_crop after parsing).
void add_eval_flags(CLI::App& app, EvalSettings& settings, int& do_kb_crop);
// The original's --do_kb_crop: 1 is GLPDepth's kb-crop evaluation (our default); 0 did nothing
// in the original either, so it is refused with what to use instead.
void check_do_kb_crop(int do_kb_crop);

// --amp --channels_last (training: train, bench --mode train reads --precision)
void add_precision_flags(CLI::App& app, Precision& precision, bool& channels_last);
// --channels_last
void add_channels_last_flag(CLI::App& app, bool& channels_last);

// --backend --precision (its old name --amp stays as an alias) --channels_last: how test,
// predict and bench run the network.
void add_inference_flags(CLI::App& app, PredictorOptions& options);

// --batch_size; `zero_means` says what 0 (the default) is in this command: "the recipe's".
void add_batch_size_flag(CLI::App& app, int64_t& batch_size, const std::string& zero_means);
// --seed
void add_seed_flag(CLI::App& app, uint64_t& seed);
// --exp_name (its default is the command's: train's runs are "train", test's "test")
void add_exp_name_flag(CLI::App& app, std::string& exp_name);
// --flip_test
void add_flip_test_flag(CLI::App& app, bool& flip_test);
// --intrinsics; `otherwise` says where this command finds them without it.
void add_intrinsics_flag(CLI::App& app, std::string& intrinsics, const std::string& otherwise);
// --val_fraction
void add_val_fraction_flag(CLI::App& app, double& val_fraction);

// --colormap --vis_min --vis_max
struct VisualizationFlags {
  Colormap colormap = Colormap::kTurbo;
  double vis_min = 0, vis_max = 0;
};
void add_visualization_flags(CLI::App& app, VisualizationFlags& flags);

// --output, with what it is in this command (its help: "folder of the depth maps (default
// ./predictions)") and the names the original (or an older glpdepth) used for it here, e.g.
// {"--log_dir"} for train, {"--result_dir"} for test, {"--out"} for synth.
void add_output_flag(CLI::App& app, std::string& output, const std::string& what,
                     const std::vector<std::string>& aliases);

// --overwrite: the policy of claim_output_folder / claim_output_file (util/output_path.h).
void add_overwrite_flag(CLI::App& app, bool& overwrite);
ExistingOutput existing_output(bool overwrite);
// Claims `dir` (or `file`) for a command's results and says on stderr when an earlier run's
// results made it pick another name.
std::filesystem::path claim_folder(const std::filesystem::path& dir, bool overwrite,
                                   const std::string& command);
std::filesystem::path claim_file(const std::filesystem::path& file, bool overwrite,
                                 const std::string& command);

// The --output of a command, or its default when not given.
std::string output_or(const std::string& output, const std::string& fallback);

}  // namespace glpdepth::cli
