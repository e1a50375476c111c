// One call sets up an evaluation, the same for `glpdepth test` and for training's validation:
// the settings resolved for the dataset (its evaluation conventions and depth range), the window
// decision (open_eval_data), the evaluator's options and the loader. Callers add their sinks and
// progress callback and run evaluate().
#pragma once
#include <memory>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/eval/evaluator.h"

namespace glpdepth {

struct EvaluationRequest {
  DatasetOptions data;  // dataset, root, split or list, window size, intrinsics, max_depth
  // settings.dataset follows data.dataset; max_depth_eval <= 0 means the dataset's (80 m, NYU 10).
  EvalSettings settings;
  WindowChoice window = WindowChoice::kAuto;
  LoaderOptions loader;
  double silog_lambda = 0.5;   // the per-image validation loss
  bool keep_per_image = true;  // per_image.csv needs them; validation does not
};

struct Evaluation {
  EvalData data;             // the opened dataset, the window decision and why
  EvaluatorOptions options;  // resolved settings, input window, loss; sinks and on_batch empty
  std::unique_ptr<Loader> loader;
  double png_scale = 256.0;  // eval PNG value per metre: the dataset's (256, NYU 1000)
};

Evaluation open_evaluation(const EvaluationRequest& request);

// The evaluation conventions of a dataset, with max_depth_eval <= 0 replaced by the dataset's.
EvalSettings resolve_eval_settings(EvalSettings settings, DatasetKind dataset);

}  // namespace glpdepth
