// The phases of a training run (train/trainer.cpp reads as their outline): where the run
// happens, its data, its model and optimisation, and its run folder. Private to the library.
#pragma once
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/phases.h"
#include "glpdepth/train/schedule.h"
#include "glpdepth/train/step.h"
#include "glpdepth/train/trainer.h"

namespace glpdepth::training {
namespace fs = std::filesystem;

// Where the run happens: the resolved configuration, the device, the process group and the
// console (rank 0 writes to it; the other ranks to a sink).
struct RunContext {
  TrainConfig config;
  torch::Device device{torch::kCPU};
  std::shared_ptr<dist::Group> group = dist::Group::single();
  std::ostream* out = nullptr;
  std::ostringstream discarded;
  TrainHooks hooks;
  bool is_main() const { return group->is_main(); }
  bool distributed() const { return group->size() > 1; }
  std::ostream& log() { return *out; }
};

// Phase 1 (run_context.cpp): torchrun / Slurm / `glpdepth launch` tell this process its place.
std::unique_ptr<RunContext> join_group(const TrainConfig& config, std::ostream& log,
                                       const TrainHooks& hooks);

struct TrainData {
  fs::path root;  // the dataset folder
  std::shared_ptr<const Dataset> train_set;
  std::unique_ptr<Loader> train_loader;
  std::unique_ptr<Loader> val_loader;  // null: no validation
  std::shared_ptr<const Dataset> val_set;
  EvaluatorOptions eval;
  int64_t iters_per_epoch = 0;
  double max_depth = 0;
};

// Phase 2 (train_data.cpp): where the data is, its lists (made when missing), the loaders.
TrainData build_data(RunContext& ctx);

// Phase 3 (model_setup.cpp): the network, from --pretrained weights or (said aloud) from random
// weights.
GLPDepth build_model(RunContext& ctx, double max_depth);

struct Optimisation {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<LrSchedule> schedule;
  std::unique_ptr<TrainStep> step;
  bool plateau_on_train_loss = false;
  bool plateau_on_validation = false;
};

// Phase 4 (model_setup.cpp): optimiser, schedule and the step (loss scaling, all-reduce,
// clipping).
Optimisation build_optimisation(RunContext& ctx, GLPDepth& model, const TrainData& data);

struct RunState {
  fs::path run_dir;
  nlohmann::json config_json;
  TrainProgress progress;
  SeedCounter seeds{0};
};

// Phase 5 (run_state.cpp): the run folder (new, or the one to continue) and the state to start
// from.
RunState open_or_resume(RunContext& ctx, GLPDepth& model, Optimisation& o);

// Phase 6 (train_loop.cpp): the epochs. Steps, step checkpoints, validation, epoch checkpoints.
TrainResult run_epochs(RunContext& ctx, TrainData& data, GLPDepth& model, Optimisation& o,
                       RunState& state);

}  // namespace glpdepth::training
