// Phase 2: the training data and the validation set (run_setup.h).
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


DatasetOptions dataset_options(const RunContext& ctx, const fs::path& root, const fs::path& list,
                               Split split, double max_depth) {
  const TrainDataOptions& d = ctx.config.data;
  DatasetOptions options;
  options.dataset = d.dataset;
  options.data_path = root;
  options.split = split;
  options.list = list;
  options.max_depth = static_cast<float>(max_depth);
  options.window_h = d.window_h;
  options.window_w = d.window_w;
  return options;
}

// The training set, with the dataset window as --window decides.
std::shared_ptr<const Dataset> open_train_set(RunContext& ctx, DatasetOptions options) {
  const WindowDecision window = decide_window(options, ctx.config.data.window);
  if (!window.why_not.empty())
    ctx.log() << "train: " << window.why_not << "; training on whole frames (--window auto)\n";
  if (!window.apply) options.window = false;
  return make_dataset(options);
}

// Camera-aware training must fail before any work when the data cannot say its focal length.
void check_camera_known(const RunContext& ctx, const Dataset& train_set) {
  if (ctx.config.model.model.canonical_focal <= 0) return;
  const Sample first = train_set.get(0);
  check(first.intrinsics.known(), "--canonical_focal: ", first.source,
        " has no camera intrinsics (KITTI calib_cam_to_cam.txt, DrivingStereo "
        "calib/half-image-calib, or camera.json in the dataset root)");
}

std::unique_ptr<Loader> make_train_loader(const RunContext& ctx,
                                          std::shared_ptr<const Dataset> train_set) {
  const TrainConfig& c = ctx.config;
  AugmentOptions augment = c.augment;
  // A zoom by s looks like a camera s times closer to a metric model, but like a focal s times
  // longer to a camera-aware one (docs/CAMERAS.md).
  augment.scale_divides_depth = c.model.model.canonical_focal <= 0;
  auto augmenter = std::make_shared<Augmenter>(augment, train_set->defaults());
  LoaderOptions options;
  options.batch_size = c.loop.batch_size;
  options.workers = c.data.workers;
  options.shuffle = true;
  options.drop_last = true;
  options.seed = c.runtime.seed;
  options.pin_memory = ctx.device.is_cuda();
  options.skip_bad_samples = c.data.skip_bad_samples;
  options.rank = ctx.group->rank();
  options.world_size = ctx.group->size();
  auto loader = std::make_unique<Loader>(train_set, options, augmenter);
  check(loader->num_batches() > 0, "training list has ", train_set->size(),
        " samples, fewer than one batch of ", c.loop.batch_size);
  return loader;
}

// Validation: set up as `glpdepth test` sets up its evaluation (eval/setup.h), per rank.
void open_validation(RunContext& ctx, TrainData& data, const fs::path& val_list) {
  const TrainConfig& c = ctx.config;
  EvaluationRequest request;
  request.data = dataset_options(ctx, data.root, val_list, Split::kVal, data.max_depth);
  request.settings = c.validation.eval;
  request.window = c.data.window;
  request.silog_lambda = c.loop.silog_lambda;
  request.keep_per_image = false;
  LoaderOptions& options = request.loader;
  options.batch_size = c.validation.val_batch_size;
  options.workers = std::max(1, c.data.workers / 2);
  options.seed = c.runtime.seed;
  options.skip_bad_samples = c.data.skip_bad_samples;
  options.pin_memory = ctx.device.is_cuda();
  options.rank = ctx.group->rank();
  options.world_size = ctx.group->size();
  Evaluation evaluation = open_evaluation(request);
  data.val_set = evaluation.data.dataset;
  data.eval = evaluation.options;
  data.val_loader = std::move(evaluation.loader);
}

}  // namespace

TrainData build_data(RunContext& ctx) {
  const TrainConfig& c = ctx.config;
  TrainData data;
  const DatasetLocation location = locate_dataset(c.data.dataset, c.data.data_path);
  if (!location.note.empty()) ctx.log() << "train: " << location.note << "\n";
  data.root = location.root;
  const fs::path fallback = fs::path(c.log.log_dir);
  const ListsChoice train_list = find_or_make_list(c.data.dataset, data.root, Split::kTrain,
                                                   c.data.train_list, fallback, 0.1, c.runtime.seed);
  if (!train_list.note.empty()) ctx.log() << "train: " << train_list.note << "\n";
  const DatasetDefaults& defaults = dataset_defaults(c.data.dataset);
  data.max_depth = c.model.model.max_depth > 0 ? c.model.model.max_depth : defaults.max_depth;
  data.train_set = open_train_set(
      ctx, dataset_options(ctx, data.root, train_list.list, Split::kTrain, data.max_depth));
  check_camera_known(ctx, *data.train_set);
  data.train_loader = make_train_loader(ctx, data.train_set);
  data.iters_per_epoch = data.train_loader->num_batches();
  if (c.loop.max_steps_per_epoch > 0)
    data.iters_per_epoch = std::min<int64_t>(data.iters_per_epoch, c.loop.max_steps_per_epoch);

  if (c.validation.val_freq > 0) {
    const fs::path val_list = c.data.val_list.empty()
                                  ? train_list.list.parent_path() / "val.txt"
                                  : fs::path(c.data.val_list);
    if (fs::exists(val_list)) {
      open_validation(ctx, data, val_list);
    } else {
      check(c.data.val_list.empty(), "--val_list ", val_list.string(), ": no such file");
      ctx.log() << "train: no validation list (" << val_list.string()
                << "); training without validation\n";
    }
  }
  return data;
}

}  // namespace glpdepth::training
