// Phases 3 and 4: the network and its optimisation (run_setup.h).
#include "run_setup.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/data/location.h"
#include "glpdepth/dist/env.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/dist/sync_batchnorm.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/setup.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/inference.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/log.h"
#include "glpdepth/train/phases.h"
#include "glpdepth/train/run_dir.h"
#include "glpdepth/train/step.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/progress.h"
#include "glpdepth/version.h"

namespace glpdepth::training {

namespace {

// The encoder variant when --encoder is not given: the --pretrained file's, else b4.
MitEncoder choose_encoder(const TrainConfig& c, const StateDict* pretrained) {
  if (c.model.model.encoder) return *c.model.model.encoder;
  if (!pretrained) return MitEncoder::kB4;
  std::vector<std::string> keys;
  torch::Tensor first;
  for (const auto& [name, tensor] : normalize_state_dict(*pretrained)) {
    keys.push_back(name);
    if (name == "encoder.patch_embed1.proj.weight" || name == "patch_embed1.proj.weight")
      first = tensor;
  }
  check(first.defined(), "--pretrained ", c.model.pretrained,
        ": no patch_embed1.proj.weight: not MiT or GLPDepth weights");
  return infer_encoder_variant(keys, first.size(0));
}

// True when the weights file holds a whole GLPDepth (decoder too), false for a bare encoder
// (SegFormer's mit_b*.pth).
bool is_full_model(const StateDict& state) {
  for (const auto& entry : normalize_state_dict(state))
    if (entry.first.rfind("decoder.", 0) == 0 || entry.first.rfind("last_layer_depth.", 0) == 0)
      return true;
  return false;
}

}  // namespace

GLPDepth build_model(RunContext& ctx, double max_depth) {
  const TrainConfig& c = ctx.config;
  torch::manual_seed(c.runtime.seed);
  const bool random_init = c.model.pretrained.empty() || c.model.pretrained == "none";
  std::optional<StateDict> weights;
  if (!random_init) weights = read_state_dict(c.model.pretrained);
  GLPDepthOptions options;
  options.encoder = choose_encoder(c, weights ? &*weights : nullptr);
  options.max_depth = max_depth;
  options.drop_path_rate = c.model.drop_path_rate;
  options.sync_batchnorm = c.dist.sync_bn && ctx.distributed();
  options.canonical_focal = c.model.model.canonical_focal;
  GLPDepth model(options);
  if (weights) {
    const bool full = is_full_model(*weights);
    LoadReport report = load_weights(*model, *weights, full ? LoadMode::kStrict : LoadMode::kEncoderOnly,
                                     c.model.pretrained);
    ctx.log() << "train: loaded " << (full ? "GLPDepth weights" : "encoder weights") << " from "
              << c.model.pretrained << ": " << report.summary() << "\n";
  } else if (c.model.pretrained.empty()) {
    ctx.log() << "warning: no --pretrained: the MiT-" << options.encoder
              << " encoder starts from random weights. The original fine-tunes ImageNet weights "
                 "(--pretrained mit_" << options.encoder << ".pth); give --pretrained none to "
                 "train from scratch on purpose.\n";
  }
  model->to(ctx.device);
  if (c.runtime.channels_last) to_channels_last(*model);
  if (ctx.distributed() && c.dist.sync_bn) dist::set_sync_batchnorm_group(*model, ctx.group);
  return model;
}


Optimisation build_optimisation(RunContext& ctx, GLPDepth& model, const TrainData& data) {
  const TrainConfig& c = ctx.config;
  Optimisation o;
  o.optimizer = make_optimizer(model->parameters(), c.optim);
  o.schedule = make_schedule(c.schedule, c.optim.lr, data.iters_per_epoch, c.loop.epochs);
  o.schedule->apply(*o.optimizer);
  const bool metric = o.schedule->unit() == StepUnit::kMetric;
  o.plateau_on_train_loss = metric && c.validation.plateau_monitor == Figure::kTrainLoss;
  o.plateau_on_validation = metric && !o.plateau_on_train_loss;
  if (o.plateau_on_validation) {
    check(data.val_loader != nullptr, "--plateau_monitor ", to_string(c.validation.plateau_monitor),
          " needs a validation set");
  }
  TrainStepOptions step;
  step.device = ctx.device;
  step.precision = c.runtime.precision;
  step.channels_last = c.runtime.channels_last;
  step.clip_grad = c.loop.clip_grad;
  step.loss.lambda = c.loop.silog_lambda;
  step.max_nonfinite = c.loop.max_nonfinite;
  o.step = std::make_unique<TrainStep>(model, *o.optimizer, step, ctx.group);
  return o;
}

}  // namespace glpdepth::training
