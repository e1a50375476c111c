#include "glpdepth/train/validation.h"

#include <torch/torch.h>

#include "glpdepth/dist/group.h"

namespace glpdepth {

ValidationOutcome run_validation(const DepthFunction& predict, Loader& loader,
                                 const EvaluatorOptions& options, dist::Group& group,
                                 const BestMetric& best, bool has_best, double best_value) {
  ValidationOutcome outcome;
  outcome.result = evaluate(predict, loader, options);
  if (group.size() > 1) {  // exact: sums and counts over every image of every rank
    const double seconds = outcome.result.seconds;
    outcome.result = EvaluateResult::from_state(group.allreduce_sum(outcome.result.state()));
    outcome.result.seconds = seconds;
  }
  outcome.value = best.value_of(outcome.result);
  outcome.improved = best.improves(outcome.value, has_best, best_value);
  return outcome;
}

}  // namespace glpdepth
