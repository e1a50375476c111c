// The training run in named phases, each in its own file (src/train/run_setup.h lists them):
// train() reads as the outline.
//   run_context.cpp  join the process group (torchrun, Slurm, glpdepth launch)
//   train_data.cpp   the data: dataset, lists, loaders, validation set
//   model_setup.cpp  the model (pretrained or random) and its optimisation
//   run_state.cpp    the run folder, new or resumed, and the state to start from
//   train_loop.cpp   the epochs: steps, logs (run_logs.h), validation, checkpoints
#include "glpdepth/train/trainer.h"

#include <torch/torch.h>

#include "run_setup.h"

namespace glpdepth {

TrainResult train(const TrainConfig& config, std::ostream& log, const TrainHooks& hooks) {
  validate(config);
  std::unique_ptr<training::RunContext> ctx = training::join_group(config, log, hooks);
  training::TrainData data = training::build_data(*ctx);
  GLPDepth model = training::build_model(*ctx, data.max_depth);
  training::Optimisation optimisation = training::build_optimisation(*ctx, model, data);
  training::RunState state = training::open_or_resume(*ctx, model, optimisation);
  return training::run_epochs(*ctx, data, model, optimisation, state);
}

TrainResult train(const TrainConfig& config, std::ostream& log, const std::atomic<bool>* stop) {
  TrainHooks hooks;
  hooks.stop = stop;
  return train(config, log, hooks);
}

}  // namespace glpdepth
