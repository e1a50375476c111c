// Training checkpoints: one PyTorch zip file (torch.load reads it) holding everything needed to
// continue a run exactly: model weights (reference key names), optimiser state, schedule state,
// position (epoch, step, batch), RNG states, counters and the run's config.
//
// Layout (a dict):
//   glpdepth_checkpoint: 1            format marker and version
//   model_options: {encoder, max_depth, canonical_focal}
//   model:        OrderedDict of tensors (load_state_dict(strict=True) in the reference model)
//   optimizer:    bytes (LibTorch's own archive of the optimiser state)
//   schedule:     {name: number}
//   loss_scaler:  {name: number} (fp16 runs; absent in older files)
//   progress:     {epoch, batch_in_epoch, global_step, skipped_steps, consecutive_skipped,
//                  best_value, best_epoch}
//   rng:          {torch_cpu: uint8 tensor, seed, seed_count}
//   config:       the run's config as a JSON string
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <map>
#include <string>

#include "glpdepth/model/glpdepth.h"
#include "glpdepth/train/run_dir.h"

namespace glpdepth {

// Sums over the training steps since the last train.csv row.
struct LogWindowSums {
  double loss = 0.0, norm = 0.0;
  int64_t losses = 0, norms = 0, images = 0, scaler_skipped = 0;
};

struct TrainProgress {
  int64_t epoch = 1;            // 1-based epoch to run (or continue)
  int64_t batch_in_epoch = 0;   // batches of `epoch` already done
  int64_t global_step = 0;      // optimiser steps attempted so far
  int64_t skipped_steps = 0;    // non-finite steps skipped so far
  int64_t consecutive_skipped = 0;
  double best_value = 0.0;      // best validation value of best_metric so far
  int64_t best_epoch = 0;       // 0 = none yet
  double train_loss_sum = 0.0;  // running sums of the current epoch (plateau on training loss)
  int64_t train_loss_count = 0;
  // The train.csv row in progress (the steps since the last row), so that a resumed run logs
  // the row spanning the interruption over all of its steps, as the uninterrupted run does.
  LogWindowSums window;
};

struct CheckpointData {
  GLPDepthOptions model_options;  // as read: encoder, max_depth, canonical_focal
  TrainProgress progress;
  std::map<std::string, double> schedule;
  std::map<std::string, double> loss_scaler;  // LossScaler::state(); empty when none
  RngState rng;
  std::string config_json;
  std::string optimizer_bytes;  // torch::serialize archive of the optimiser
};

// Writes atomically: a crash mid-write leaves the previous file intact.
void save_checkpoint(const std::filesystem::path& path, GLPDepth& model,
                     torch::optim::Optimizer* optimizer, const CheckpointData& data);

// Reads a checkpoint written by save_checkpoint: restores the model weights (strict) and the
// optimiser state (when `optimizer` is given) and returns the rest. Throws Error naming the file.
CheckpointData load_checkpoint(const std::filesystem::path& path, GLPDepth& model,
                               torch::optim::Optimizer* optimizer);

// Reads only the model options and config of a checkpoint (to build the model first).
CheckpointData peek_checkpoint(const std::filesystem::path& path);

}  // namespace glpdepth
