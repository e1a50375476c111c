// `glpdepth train` as a library call: the whole training of spec §5 with the bugs of §9 fixed.
#pragma once
#include <atomic>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "glpdepth/data/augment.h"
#include "glpdepth/train/schedule.h"

namespace glpdepth {

struct TrainConfig {
  // Data.
  std::string dataset = "kitti";
  std::string data_path;
  std::string train_list;  // default <data_path>/lists/train.txt
  std::string val_list;    // default <data_path>/lists/val.txt
  double max_depth = 0;       // 0 = the dataset's (80 driving, 10 NYU)
  double max_depth_eval = 0;  // 0 = max_depth
  double min_depth_eval = 1e-3;
  int crop_h = 0, crop_w = 0;  // 0 = the dataset's training crop
  int window_h = 0, window_w = 0;  // dataset window (KITTI kb-crop, DS 384x864); 0 = the dataset's
  // auto: the dataset window when the frames hold it, else whole frames (small synthetic sets);
  // on: always (an error for smaller frames); off: whole frames. no_window = true means off.
  std::string window = "auto";
  bool no_window = false;
  int workers = 4;
  bool skip_bad_samples = false;
  AugmentOptions augment;

  // Model.
  std::string encoder = "b4";
  std::string pretrained;  // mit_b*.pth (encoder only) or full GLPDepth weights
  double drop_path_rate = 0.1;
  double canonical_focal = 0;  // > 0: camera-aware mode (docs/CAMERAS.md); needs intrinsics

  // Optimisation.
  std::string recipe;  // glp | plateau | plateau-l2 | cyclic: presets, flags below override
  int epochs = 25;
  int batch_size = 12;
  double lr = 1e-4;
  std::string optimizer = "adam";
  double weight_decay = 0;
  double momentum = 0.9;
  bool nesterov = false;
  std::string schedule = "poly";
  ScheduleOptions schedule_options;
  std::string plateau_monitor = "train_loss";  // train_loss | val_loss | a metric name
  double clip_grad = 0;       // max global L2 norm, 0 = off
  int max_nonfinite = 5;      // consecutive non-finite steps before stopping
  double silog_lambda = 0.5;
  int64_t max_steps_per_epoch = 0;  // > 0: cut epochs short (smoke tests)
  int64_t stop_after_steps = 0;     // > 0: behave as if interrupted after this global step

  // Validation and checkpoints.
  int val_freq = 1;
  int val_batch_size = 1;
  std::string kitti_crop = "none";
  std::string protocol = "kb-crop";
  std::string best_metric = "abs_rel";
  int save_freq = 0;          // > 0: keep epoch_XX.ckpt every N epochs
  bool save_model = false;    // keep epoch_XX.ckpt at every validation (the seed's flag)
  bool save_result = false;   // 16-bit PNGs of validation predictions
  std::string resume;         // checkpoint path or "auto" (last.ckpt of the run folder)

  // Logs.
  std::string log_dir = "./logs";
  std::string exp_name = "test";
  int log_every = 50;         // train.csv row every N steps
  uint64_t seed = 0;

  // Device and precision.
  std::string device = "cpu";
  std::string amp = "none";
  bool channels_last = false;

  // Distributed (see docs/DISTRIBUTED.md).
  std::string dist_backend;  // "" = nccl on CUDA, gloo on CPU
  int dist_port = 29500;
  double dist_timeout = 300;  // seconds
  bool sync_bn = false;
  bool verify_replicas = false;  // check after every step that all ranks hold the same weights
};

void to_json(nlohmann::json& json, const TrainConfig& config);
void from_json(const nlohmann::json& json, TrainConfig& config);

struct TrainResult {
  std::filesystem::path run_dir;
  int64_t epochs_done = 0;
  int64_t global_step = 0;
  int64_t skipped_steps = 0;
  bool interrupted = false;      // stopped by a signal; last.ckpt holds the position
  std::vector<double> step_losses;  // every attempted step of this process, in order
  std::vector<double> val_abs_rel;  // per validation
  std::filesystem::path last_checkpoint, best_checkpoint;
};

// Runs the training. `stop` (may be null) is polled after every step: when it becomes true the
// step is finished, last.ckpt is written and the call returns with interrupted = true.
// Progress goes to `log` (the console); files go to the run folder.
TrainResult train(const TrainConfig& config, std::ostream& log,
                  const std::atomic<bool>* stop = nullptr);

}  // namespace glpdepth
