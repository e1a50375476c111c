// The figures a training run watches: the training loss (plateau schedules), the validation
// loss, or a validation metric. One table of names (with "loss" as an alias of val_loss) serves
// the flags, the JSON configuration and the messages.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace glpdepth {

enum class Figure {
  kTrainLoss, kValLoss, kD1, kD2, kD3, kAbsRel, kSqRel, kRmse, kRmseLog, kLog10, kSilog, kSilogKitti
};

const std::vector<std::pair<std::string, Figure>>& figure_names();
// UsageError listing the names for an unknown one.
Figure parse_figure(const std::string& name);
std::string to_string(Figure figure);
// d1, d2 and d3 grow as predictions improve; the losses and every error shrink.
bool higher_is_better(Figure figure);
// Whether the figure comes from a validation pass (everything but the training loss).
inline bool from_validation(Figure figure) { return figure != Figure::kTrainLoss; }

}  // namespace glpdepth
