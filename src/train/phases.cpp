#include "glpdepth/train/phases.h"

#include <iomanip>
#include <sstream>

#include "glpdepth/util/error.h"

namespace glpdepth {

BestMetric::BestMetric(std::string name) : name_(std::move(name)) {
  if (name_ == "val_loss" || name_ == "loss") return;
  try {
    DepthMetrics{}.get(name_);
  } catch (const Error&) {
    throw UsageError(cat("--best_metric ", name_, ": expected val_loss or a metric (d1, d2, d3, "
                         "abs_rel, sq_rel, rmse, rmse_log, log10, silog, silog_kitti)"));
  }
}

bool BestMetric::higher_is_better() const { return name_ == "d1" || name_ == "d2" || name_ == "d3"; }

double BestMetric::value_of(const EvaluateResult& result) const {
  if (name_ == "val_loss" || name_ == "loss") return result.mean_loss();
  return result.metrics.mean().get(name_);
}

bool BestMetric::improves(double value, bool has_best, double best) const {
  if (!has_best) return true;
  return higher_is_better() ? value > best : value < best;
}

bool CheckpointCadence::step_checkpoint_due(int64_t global_step, double seconds_since_last) const {
  if (options_.save_every_steps > 0 && global_step % options_.save_every_steps == 0) return true;
  return options_.save_every_minutes > 0 && seconds_since_last >= 60.0 * options_.save_every_minutes;
}

bool CheckpointCadence::keep_epoch_file(int64_t epoch, bool validated) const {
  return (options_.save_model && validated) ||
         (options_.save_freq > 0 && epoch % options_.save_freq == 0);
}

std::string CheckpointCadence::epoch_file(int64_t epoch) {
  std::ostringstream name;
  name << "epoch_" << std::setw(2) << std::setfill('0') << epoch << ".ckpt";
  return name.str();
}

}  // namespace glpdepth
