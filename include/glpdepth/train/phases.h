// The decisions of the training loop that deserve their own tests: which validation is the best
// so far, and when checkpoints are written.
#pragma once
#include <cstdint>
#include <string>

#include "glpdepth/eval/evaluator.h"
#include "glpdepth/train/config.h"

namespace glpdepth {

// A validation figure (val_loss or a metric) read off a validation result: the one that picks
// best.ckpt, or the one a plateau schedule watches.
class BestMetric {
 public:
  // Throws UsageError for the training loss (no validation figure).
  explicit BestMetric(Figure figure);
  Figure figure() const { return figure_; }
  bool higher_is_better() const { return glpdepth::higher_is_better(figure_); }
  double value_of(const EvaluateResult& result) const;
  // Whether `value` beats `best` (any value beats "none yet": has_best false).
  bool improves(double value, bool has_best, double best) const;

 private:
  Figure figure_;
};

// When `last.ckpt` and `epoch_XX.ckpt` are written (rank 0).
class CheckpointCadence {
 public:
  explicit CheckpointCadence(const CheckpointOptions& options) : options_(options) {}
  // After a step (not the last of its epoch): whether a step checkpoint is due, given the
  // global step and the seconds since the last checkpoint of any kind.
  bool step_checkpoint_due(int64_t global_step, double seconds_since_last) const;
  // After an epoch: whether epoch_XX.ckpt is kept (--save_model at a validation, --save_freq).
  bool keep_epoch_file(int64_t epoch, bool validated) const;
  // epoch_03.ckpt
  static std::string epoch_file(int64_t epoch);

 private:
  CheckpointOptions options_;
};

}  // namespace glpdepth
