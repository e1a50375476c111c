// `glpdepth train` as a library call: the whole training of spec §5 with the bugs of §9 fixed,
// in named phases (src/train/trainer.cpp): join the group, build the data, build the model,
// build the optimisation, open or resume the run, then epochs of steps, validations and
// checkpoints.
#pragma once
#include <atomic>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "glpdepth/train/config.h"

namespace glpdepth {

struct TrainResult {
  std::filesystem::path run_dir;
  int64_t epochs_done = 0;
  int64_t global_step = 0;
  int64_t skipped_steps = 0;
  bool interrupted = false;      // stopped by a request; last.ckpt holds the position
  std::vector<double> step_losses;  // every attempted step of this process, in order
  std::vector<double> val_abs_rel;  // per validation
  std::vector<double> val_loss;     // per validation
  int64_t batches_loaded = 0;       // training batches decoded by this process (prefetch too)
  std::filesystem::path last_checkpoint, best_checkpoint;
};

// What the caller (the CLI, a test, an embedding program) hands the training besides its
// configuration.
struct TrainHooks {
  // Polled after every step: when true, the step is finished, last.ckpt written and train()
  // returns with interrupted = true.
  const std::atomic<bool>* stop = nullptr;
  // Progress as a redrawn bar (a terminal) or as plain lines (logs, pipes).
  bool terminal = false;
  // Recorded in config.json (e.g. the command line that started the run).
  std::string command_line;
  // Called on rank 0 after each checkpoint (last.ckpt, best.ckpt, epoch_XX.ckpt) is complete
  // on disk, e.g. to copy it elsewhere. An exception it throws stops the run.
  std::function<void(const std::filesystem::path& checkpoint)> on_checkpoint;
};

// Runs the training. Messages and progress go to `log` (the console); files go to the run
// folder. Throws UsageError for invalid configurations, Error for everything that fails later.
TrainResult train(const TrainConfig& config, std::ostream& log, const TrainHooks& hooks = {});
TrainResult train(const TrainConfig& config, std::ostream& log, const std::atomic<bool>* stop);

}  // namespace glpdepth
