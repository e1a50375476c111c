// One validation pass of a training run: the model's depth over the validation loader, evaluated
// as `glpdepth test` evaluates (evaluate() on the pipeline), summed exactly over the ranks, and
// judged against the best so far. Every rank calls it.
#pragma once
#include "glpdepth/data/loader.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/train/phases.h"

namespace glpdepth {
namespace dist {
class Group;
}

struct ValidationOutcome {
  EvaluateResult result;  // over every image of every rank (seconds: this rank's own)
  double value = 0;       // the best metric's value (BestMetric)
  bool improved = false;  // beats the best so far
};

// `has_best` false: any value is an improvement (the first validation).
ValidationOutcome run_validation(const DepthFunction& predict, Loader& loader,
                                 const EvaluatorOptions& options, dist::Group& group,
                                 const BestMetric& best, bool has_best, double best_value);

}  // namespace glpdepth
