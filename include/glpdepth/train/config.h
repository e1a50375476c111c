// The configuration of a training run, made of the library's own typed option structs. Defaults
// live here and in those structs, nowhere else; the CLI binds its flags straight into them.
// JSON is written and read symmetrically (train_config_to_json / train_config_from_json): a run
// folder's config.json given back with `--config` reproduces the run.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "glpdepth/train/figure.h"
#include "glpdepth/data/augment.h"
#include "glpdepth/data/dataset_kind.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/data/window.h"
#include "glpdepth/eval/crops.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/train/optim.h"
#include "glpdepth/train/schedule.h"
#include "glpdepth/util/names.h"
#include "glpdepth/util/precision.h"

namespace glpdepth {

// What to train on.
struct TrainDataOptions {
  DatasetKind dataset = DatasetKind::kKitti;
  std::string data_path;          // the dataset folder, or the folder holding it (kitti/, ...)
  std::string train_list;         // default: <dataset root>/lists/train.txt (made when missing)
  std::string val_list;           // default: <dataset root>/lists/val.txt
  WindowChoice window = WindowChoice::kAuto;  // KITTI kb-crop, DrivingStereo 384x864
  int window_h = 0, window_w = 0;             // 0: the dataset's
  int workers = 4;                // loader threads
  bool skip_bad_samples = false;  // count unreadable samples instead of stopping
};

// The network to train.
struct TrainModelOptions {
  ModelChoice model;        // encoder ("" = b4 or the --pretrained file's), max_depth, focal
  std::string pretrained;   // mit_b*.pth (encoder only) or full GLPDepth weights; "none" = random
  double drop_path_rate = 0.1;
};

// Sets of defaults for optimiser, schedule, clipping and batch size (docs/TRAINING.md). kAuto:
// the dataset's (default_recipe), or none when a config file already holds the settings.
enum class Recipe { kAuto, kGlp, kPlateau, kPlateauL2, kCyclic, kDemo };
const NameTable<Recipe>& recipe_names();  // auto, glp, plateau, plateau-l2, cyclic, demo
Recipe parse_recipe(const std::string& name);  // any case; UsageError listing the names
std::string to_string(Recipe recipe);

// The step loop.
struct LoopOptions {
  Recipe recipe = Recipe::kAuto;  // the recipe applied (before the flags)
  int epochs = 25;
  int64_t batch_size = 12;
  double clip_grad = 0;     // max global L2 norm, 0 = off
  int max_nonfinite = 5;    // consecutive non-finite steps before stopping
  double silog_lambda = 0.5;
  int64_t max_steps_per_epoch = 0;  // > 0: cut epochs short (smoke tests)
  int64_t stop_after_steps = 0;     // > 0: behave as if interrupted after this global step
};

struct ValidationOptions {
  int val_freq = 1;         // validate every N epochs, 0 = never
  int val_batch_size = 1;
  // Crops, protocol, depth range; max_depth_eval 0 = the dataset's (80 m driving, 10 m NYU).
  EvalSettings eval = [] {
    EvalSettings settings;
    settings.max_depth_eval = 0;
    return settings;
  }();
  Figure best_metric = Figure::kAbsRel;         // picks best.ckpt: val_loss or a metric
  Figure plateau_monitor = Figure::kTrainLoss;  // what a plateau schedule watches
};

struct CheckpointOptions {
  int save_freq = 0;        // > 0: keep epoch_XX.ckpt every N epochs
  bool save_model = false;  // keep epoch_XX.ckpt at every validation (the seed's flag)
  bool save_result = false; // 16-bit PNGs of validation predictions
  int64_t save_every_steps = 0;    // > 0: last.ckpt every N steps
  double save_every_minutes = 0;   // > 0: last.ckpt after this many minutes
  std::string resume;       // checkpoint path or "auto" (last.ckpt of the run folder)
};

struct LogOptions {
  std::string log_dir = "./logs";  // runs go to <log_dir>/<dataset>/<exp_name>
  std::string exp_name = "train";  // the original's "test" named training runs as tests
  int log_every = 50;              // train.csv / TensorBoard row every N steps
};

struct RuntimeOptions {
  torch::Device device = torch::kCPU;  // JSON: "cpu", "cuda", "cuda:N"
  Precision precision = Precision::kFloat32;
  bool channels_last = false;
  uint64_t seed = 0;
  // Intra-op threads. Reductions split their work by thread, so the count changes the last bits
  // of every loss: config.json records the count that ran (never 0), and a replay uses it on
  // any machine. 0 = one per available core (resolved by the caller).
  int threads = 0;
};

struct DistOptions {
  dist::Backend backend = dist::Backend::kAuto;  // auto: nccl on CUDA, gloo on CPU
  int port = 29500;         // rendezvous port when launched by Slurm
  double timeout = 300;     // seconds before a lost rank fails the others
  bool sync_bn = false;
  bool verify_replicas = false;  // check after every step that all ranks hold the same weights
};

struct TrainConfig {
  TrainDataOptions data;
  AugmentOptions augment;
  TrainModelOptions model;
  OptimOptions optim;
  ScheduleOptions schedule;
  LoopOptions loop;
  ValidationOptions validation;
  CheckpointOptions checkpoint;
  LogOptions log;
  RuntimeOptions runtime;
  DistOptions dist;
};

// The recipe a dataset trains with when none is chosen: the DrivingStereo fork's last one
// (cyclic: SGD + CyclicLR triangular2 + clipping, batch 32) for drivingstereo, GLPDepth's own
// (glp: Adam + one-cycle poly, batch 12) for the others (docs/TRAINING.md).
Recipe default_recipe(DatasetKind dataset);

// Sets what `recipe` decides (optimiser, schedule, clipping, batch size) and records it in
// loop.recipe; kAuto changes nothing.
void apply_recipe(TrainConfig& config, Recipe recipe);

// Options a schedule does not read, which a user may expect to matter: e.g. --lr under the
// cyclic and poly schedules. One human sentence each, naming what governs instead.
std::vector<std::string> unused_by_schedule(const TrainConfig& config,
                                            const std::vector<std::string>& given_flags);

// Throws UsageError naming the flag for values out of range (epochs < 1, batch < 1, ...).
void validate(const TrainConfig& config);

// Symmetric JSON: every field, enums as their names.
nlohmann::json train_config_to_json(const TrainConfig& config);
// Missing keys keep `base`'s values; unknown keys are an Error naming them (a typo in a
// hand-written config must not be ignored silently).
TrainConfig train_config_from_json(const nlohmann::json& json, TrainConfig base = {});

}  // namespace glpdepth
