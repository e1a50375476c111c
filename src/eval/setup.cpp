#include "glpdepth/eval/setup.h"

namespace glpdepth {

EvalSettings resolve_eval_settings(EvalSettings settings, DatasetKind dataset) {
  settings.dataset = dataset;
  if (settings.max_depth_eval <= 0) settings.max_depth_eval = dataset_defaults(dataset).max_depth_eval;
  return settings;
}

Evaluation open_evaluation(const EvaluationRequest& request) {
  Evaluation evaluation;
  const EvalSettings settings = resolve_eval_settings(request.settings, request.data.dataset);
  evaluation.data = open_eval_data(request.data, settings, request.window);
  evaluation.options.settings = settings;
  evaluation.options.input_window = evaluation.data.input_window;
  evaluation.options.silog_lambda = request.silog_lambda;
  evaluation.options.keep_per_image = request.keep_per_image;
  evaluation.loader = std::make_unique<Loader>(evaluation.data.dataset, request.loader);
  const double scale = evaluation.data.dataset->defaults().depth_scale;
  evaluation.png_scale = scale > 0 ? scale : 256.0;
  return evaluation;
}

}  // namespace glpdepth
