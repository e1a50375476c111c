#include "glpdepth/train/figure.h"

#include "glpdepth/util/names.h"

namespace glpdepth {

const std::vector<std::pair<std::string, Figure>>& figure_names() {
  static const std::vector<std::pair<std::string, Figure>> names = {
      {"train_loss", Figure::kTrainLoss}, {"val_loss", Figure::kValLoss}, {"loss", Figure::kValLoss},
      {"d1", Figure::kD1},                {"d2", Figure::kD2},            {"d3", Figure::kD3},
      {"abs_rel", Figure::kAbsRel},       {"sq_rel", Figure::kSqRel},     {"rmse", Figure::kRmse},
      {"rmse_log", Figure::kRmseLog},     {"log10", Figure::kLog10},      {"silog", Figure::kSilog},
      {"silog_kitti", Figure::kSilogKitti}};
  return names;
}

Figure parse_figure(const std::string& name) { return parse_name(figure_names(), name, "figure"); }

std::string to_string(Figure figure) { return name_of(figure_names(), figure); }

bool higher_is_better(Figure figure) {
  return figure == Figure::kD1 || figure == Figure::kD2 || figure == Figure::kD3;
}

}  // namespace glpdepth
