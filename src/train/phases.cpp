#include "glpdepth/train/phases.h"

#include <iomanip>
#include <sstream>

#include "glpdepth/util/error.h"

namespace glpdepth {

BestMetric::BestMetric(Figure figure) : figure_(figure) {
  if (!from_validation(figure))
    throw UsageError(cat(to_string(figure), " is not a validation figure (val_loss or a metric)"));
}

double BestMetric::value_of(const EvaluateResult& result) const {
  if (figure_ == Figure::kValLoss) return result.mean_loss();
  return result.metrics.mean().get(to_string(figure_));
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
