#include "glpdepth/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <optional>
#include <nlohmann/json.hpp>

#include "glpdepth/data/dataset.h"
#include "glpdepth/dist/ddp.h"
#include "glpdepth/dist/env.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/dist/sync_batchnorm.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/glpdepth.h"
#include "glpdepth/model/inference.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/clip.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/train/log.h"
#include "glpdepth/eval/loss.h"
#include "glpdepth/train/optim.h"
#include "glpdepth/train/run_dir.h"
#include "glpdepth/train/step.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/precision.h"

namespace glpdepth {
namespace fs = std::filesystem;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(
    AugmentOptions, crop_h, crop_w, flip_p, brightness_contrast_p, brightness_limit,
    contrast_limit, gamma_p, gamma_min, gamma_max, hsv_p, hue_shift, sat_shift, val_shift,
    cutdepth_p, cutdepth_fraction, cutdepth_max_depth, scale_p, scale_min, scale_max,
    scale_divides_depth)

void to_json(nlohmann::json& j, const TrainConfig& c) {
  j = nlohmann::json{
      {"dataset", c.dataset}, {"data_path", c.data_path}, {"train_list", c.train_list},
      {"val_list", c.val_list}, {"max_depth", c.max_depth}, {"max_depth_eval", c.max_depth_eval},
      {"min_depth_eval", c.min_depth_eval}, {"crop_h", c.crop_h}, {"crop_w", c.crop_w},
      {"window_h", c.window_h}, {"window_w", c.window_w}, {"window", c.window}, {"no_window", c.no_window},
      {"workers", c.workers}, {"skip_bad_samples", c.skip_bad_samples}, {"augment", c.augment},
      {"encoder", c.encoder}, {"pretrained", c.pretrained}, {"drop_path_rate", c.drop_path_rate},
      {"canonical_focal", c.canonical_focal},
      {"recipe", c.recipe}, {"epochs", c.epochs}, {"batch_size", c.batch_size}, {"lr", c.lr},
      {"optimizer", c.optimizer}, {"weight_decay", c.weight_decay}, {"momentum", c.momentum},
      {"nesterov", c.nesterov}, {"schedule", c.schedule},
      {"plateau_monitor", c.plateau_monitor}, {"clip_grad", c.clip_grad},
      {"max_nonfinite", c.max_nonfinite}, {"silog_lambda", c.silog_lambda},
      {"max_steps_per_epoch", c.max_steps_per_epoch},
      {"stop_after_steps", c.stop_after_steps}, {"val_freq", c.val_freq},
      {"val_batch_size", c.val_batch_size}, {"kitti_crop", c.kitti_crop},
      {"protocol", c.protocol}, {"best_metric", c.best_metric}, {"save_freq", c.save_freq},
      {"save_model", c.save_model}, {"save_result", c.save_result}, {"resume", c.resume},
      {"log_dir", c.log_dir}, {"exp_name", c.exp_name}, {"log_every", c.log_every},
      {"seed", c.seed}, {"device", c.device}, {"amp", c.amp},
      {"channels_last", c.channels_last}, {"dist_backend", c.dist_backend},
      {"dist_port", c.dist_port}, {"dist_timeout", c.dist_timeout}, {"sync_bn", c.sync_bn},
      {"verify_replicas", c.verify_replicas}};
  const auto& s = c.schedule_options;
  j["schedule_options"] = {
      {"poly", {{"min_lr", s.poly.min_lr}, {"max_lr", s.poly.max_lr}, {"power", s.poly.power}}},
      {"step", {{"step_size", s.step.step_size}, {"gamma", s.step.gamma}}},
      {"plateau",
       {{"mode", s.plateau.mode}, {"factor", s.plateau.factor}, {"patience", s.plateau.patience},
        {"threshold", s.plateau.threshold}, {"threshold_mode", s.plateau.threshold_mode},
        {"cooldown", s.plateau.cooldown}, {"min_lr", s.plateau.min_lr}, {"eps", s.plateau.eps},
        {"steps_per_epoch", s.plateau.steps_per_epoch}}},
      {"cyclic",
       {{"base_lr", s.cyclic.base_lr}, {"max_lr", s.cyclic.max_lr},
        {"step_size_up", s.cyclic.step_size_up}, {"step_size_down", s.cyclic.step_size_down},
        {"mode", s.cyclic.mode}, {"gamma", s.cyclic.gamma},
        {"cycle_momentum", s.cyclic.cycle_momentum}, {"base_momentum", s.cyclic.base_momentum},
        {"max_momentum", s.cyclic.max_momentum}}},
      {"cosine",
       {{"warmup_steps", s.cosine.warmup_steps},
        {"warmup_start_factor", s.cosine.warmup_start_factor}, {"min_lr", s.cosine.min_lr}}}};
}

void from_json(const nlohmann::json& j, TrainConfig& c) {
  // Only the fields resume compares; the CLI is the source of a run's configuration.
  c.dataset = j.value("dataset", c.dataset);
  c.encoder = j.value("encoder", c.encoder);
  c.batch_size = j.value("batch_size", c.batch_size);
  c.epochs = j.value("epochs", c.epochs);
  c.seed = j.value("seed", c.seed);
  c.canonical_focal = j.value("canonical_focal", c.canonical_focal);
}

namespace {

bool lower_is_better(const std::string& metric) {
  return !(metric == "d1" || metric == "d2" || metric == "d3");
}

double metric_value(const std::string& name, const EvaluateResult& result) {
  if (name == "val_loss" || name == "loss") return result.mean_loss();
  return result.metrics.mean().get(name);
}

std::string epoch_file(const char* prefix, int64_t epoch) {
  std::ostringstream name;
  name << prefix << std::setw(2) << std::setfill('0') << epoch << ".ckpt";
  return name.str();
}

// True when the weights file holds a whole GLPDepth (keys under encoder./decoder.), false for a
// bare encoder (SegFormer's mit_b*.pth).
bool is_full_model(const StateDict& state) {
  for (const auto& entry : normalize_state_dict(state))
    if (entry.first.rfind("decoder.", 0) == 0 || entry.first.rfind("last_layer_depth.", 0) == 0)
      return true;
  return false;
}

// Throws unless every rank holds the same weights (a cheap exact fingerprint per tensor).
void verify_replicas(dist::Group& group, const std::vector<torch::Tensor>& parameters, int64_t step) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (const auto& p : parameters) {
    auto flat = p.detach().to(torch::kCPU, torch::kFloat64).flatten();
    auto weights = torch::arange(1, flat.numel() + 1, flat.options());
    parts.push_back(torch::stack({flat.sum(), (flat * weights).sum()}));
  }
  auto mine = torch::cat(parts);
  auto reference = mine.clone();
  group.broadcast(reference, 0);
  check(torch::equal(mine, reference), "rank ", group.rank(),
        ": weights differ from rank 0 after step ", step, " (replicas diverged)");
}

struct Resolved {
  OptimOptions optim;
  ScheduleOptions schedule;
  double clip = 0;
};

Resolved resolve_recipe(const TrainConfig& config) {
  Resolved out;
  if (!config.recipe.empty()) {
    TrainRecipe recipe = recipe_preset(config.recipe, config.lr);
    out.optim = recipe.optim;
    out.schedule = recipe.schedule;
    out.clip = recipe.clip_grad_norm;
    return out;
  }
  out.optim.kind = parse_optimizer_kind(config.optimizer);
  out.optim.lr = config.lr;
  out.optim.weight_decay = config.weight_decay;
  out.optim.momentum = config.momentum;
  out.optim.nesterov = config.nesterov;
  out.schedule = config.schedule_options;
  out.schedule.kind = parse_schedule_kind(config.schedule);
  out.clip = config.clip_grad;
  return out;
}

}  // namespace

TrainResult train(const TrainConfig& config, std::ostream& log, const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  TrainResult result;
  check(config.epochs >= 1, "--epochs must be at least 1");
  check(config.batch_size >= 1, "--batch_size must be at least 1");
  check(config.val_freq >= 0, "--val_freq must be >= 0");
  check(!config.data_path.empty(), "--data_path is required");
  torch::Device device(config.device);
  const Precision precision = parse_precision(config.amp);

  // Distributed: torchrun / Slurm / `glpdepth launch` tell this process its place.
  const dist::DistEnv env = dist::detect_env(dist::DetectOptions{config.dist_port});
  std::shared_ptr<dist::Group> group = dist::Group::single();
  if (env.distributed()) {
    if (device.is_cuda() && !device.has_index())
      device = torch::Device(torch::kCUDA, dist::local_device_index(env, static_cast<int>(torch::cuda::device_count())));
    dist::GroupOptions group_options;
    group_options.backend = config.dist_backend.empty() ? dist::default_backend(device)
                                                        : dist::parse_backend(config.dist_backend);
    group_options.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.dist_timeout * 1000));
    group = dist::Group::create(env, group_options);
  }
  // Fixed-size training crops: let cuDNN pick the fastest convolution algorithms once.
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  const bool distributed = group->size() > 1;
  const bool is_main = group->is_main();
  std::ostringstream discarded;
  std::ostream& out = is_main ? log : discarded;
  const DatasetDefaults& defaults = dataset_defaults(config.dataset);
  const double max_depth = config.max_depth > 0 ? config.max_depth : defaults.max_depth;
  const double max_depth_eval = config.max_depth_eval > 0 ? config.max_depth_eval : max_depth;

  // Data.
  DatasetOptions train_options;
  train_options.dataset = config.dataset;
  train_options.data_path = config.data_path;
  train_options.split = "train";
  if (!config.train_list.empty()) train_options.list = config.train_list;
  train_options.max_depth = static_cast<float>(max_depth);
  train_options.window_h = config.window_h;
  train_options.window_w = config.window_w;
  const std::string window = config.no_window ? "off" : config.window;
  check(window == "auto" || window == "on" || window == "off", "--window ", config.window,
        ": expected auto, on or off");
  if (window == "off") {
    train_options.window = false;
  } else if (window == "auto") {
    DatasetDefaults window_defaults = dataset_defaults(config.dataset);
    if (config.window_h > 0) window_defaults.window.height = config.window_h;
    if (config.window_w > 0) window_defaults.window.width = config.window_w;
    DatasetOptions probe_options = train_options;
    probe_options.window = false;
    const std::string why = window_does_not_fit(*make_dataset(probe_options), window_defaults);
    if (!why.empty()) {
      train_options.window = false;
      out << "train: " << why << "; training on whole frames (--window auto)\n";
    }
  }
  std::shared_ptr<const Dataset> train_set = make_dataset(train_options);

  std::shared_ptr<const Dataset> val_set;
  fs::path val_list = config.val_list.empty() ? default_list_path(config.data_path, "val")
                                              : fs::path(config.val_list);
  if (config.val_freq > 0) {
    if (fs::exists(val_list)) {
      DatasetOptions val_options = train_options;
      val_options.split = "val";
      val_options.list = val_list;
      val_set = make_dataset(val_options);
    } else {
      check(config.val_list.empty(), "--val_list ", val_list.string(), ": no such file");
      out << "train: no validation list (" << val_list.string()
          << "); training without validation (make one with `glpdepth make-lists`)\n";
    }
  }

  const bool camera_aware = config.canonical_focal > 0;
  check(config.canonical_focal >= 0 && std::isfinite(config.canonical_focal),
        "--canonical_focal must be >= 0 (0 = off), got ", config.canonical_focal);
  if (camera_aware) {
    // Fail before any work when the data cannot say its focal length.
    Sample first = train_set->get(0);
    check(first.intrinsics.known(), "--canonical_focal: ", first.source,
          " has no camera intrinsics (KITTI calib_cam_to_cam.txt, DrivingStereo "
          "calib/half-image-calib, or camera.json in the dataset root)");
  }
  AugmentOptions augment = config.augment;
  // A zoom by s looks like a camera s times closer to a metric model, but like a focal s times
  // longer to a camera-aware one (docs/CAMERAS.md).
  augment.scale_divides_depth = !camera_aware;
  if (config.crop_h > 0) augment.crop_h = config.crop_h;
  if (config.crop_w > 0) augment.crop_w = config.crop_w;
  auto augmenter = std::make_shared<Augmenter>(augment, train_set->defaults());

  LoaderOptions loader_options;
  loader_options.batch_size = config.batch_size;
  loader_options.workers = config.workers;
  loader_options.shuffle = true;
  loader_options.drop_last = true;
  loader_options.seed = config.seed;
  loader_options.pin_memory = device.is_cuda();
  loader_options.skip_bad_samples = config.skip_bad_samples;
  loader_options.rank = group->rank();
  loader_options.world_size = group->size();
  Loader train_loader(train_set, loader_options, augmenter);
  check(train_loader.num_batches() > 0, "training list has ", train_set->size(),
        " samples, fewer than one batch of ", config.batch_size);
  int64_t iters_per_epoch = train_loader.num_batches();
  if (config.max_steps_per_epoch > 0)
    iters_per_epoch = std::min<int64_t>(iters_per_epoch, config.max_steps_per_epoch);

  std::unique_ptr<Loader> val_loader;
  if (val_set) {
    LoaderOptions val_loader_options;
    val_loader_options.batch_size = config.val_batch_size;
    val_loader_options.workers = std::max(1, config.workers / 2);
    val_loader_options.seed = config.seed;
    val_loader_options.skip_bad_samples = config.skip_bad_samples;
    val_loader_options.pin_memory = device.is_cuda();
    val_loader_options.rank = group->rank();
    val_loader_options.world_size = group->size();
    val_loader = std::make_unique<Loader>(val_set, val_loader_options);
  }

  // Model, optimiser, schedule.
  torch::manual_seed(config.seed);
  GLPDepthOptions model_options;
  model_options.encoder = mit_variant(config.encoder).name;
  model_options.max_depth = max_depth;
  model_options.drop_path_rate = config.drop_path_rate;
  model_options.sync_batchnorm = config.sync_bn && distributed;
  model_options.canonical_focal = config.canonical_focal;
  GLPDepth model(model_options);
  if (!config.pretrained.empty()) {
    StateDict weights = read_state_dict(config.pretrained);
    bool full = is_full_model(weights);
    LoadReport report = load_weights(*model, weights, full ? LoadMode::Strict : LoadMode::EncoderOnly,
                                     config.pretrained);
    out << "train: loaded " << (full ? "GLPDepth weights" : "encoder weights") << " from "
        << config.pretrained << ": " << report.summary() << "\n";
  }
  model->to(device);
  if (config.channels_last) to_channels_last(*model);
  if (distributed && config.sync_bn) dist::set_sync_batchnorm_group(*model, group);

  Resolved resolved = resolve_recipe(config);
  auto optimizer = make_optimizer(model->parameters(), resolved.optim);
  TrainStepOptions step_options;
  step_options.device = device;
  step_options.precision = precision;
  step_options.channels_last = config.channels_last;
  step_options.clip_grad = resolved.clip;
  step_options.loss.lambda = config.silog_lambda;
  step_options.max_nonfinite = config.max_nonfinite;
  TrainStep trainer_step(model, *optimizer, step_options, group);
  NonFiniteGuard& guard = trainer_step.guard();
  const std::vector<torch::Tensor>& parameters = trainer_step.parameters();
  auto schedule = make_schedule(resolved.schedule, resolved.optim.lr, iters_per_epoch, config.epochs);
  schedule->apply(*optimizer);
  const bool plateau_on_train_loss =
      schedule->unit() == StepUnit::kMetric && config.plateau_monitor == "train_loss";
  const bool plateau_on_validation =
      schedule->unit() == StepUnit::kMetric && config.plateau_monitor != "train_loss";
  check(!plateau_on_validation || val_loader, "--plateau_monitor ", config.plateau_monitor,
        " needs a validation set");

  // Run folder and resume.
  nlohmann::json config_json = config;
  fs::path resume_from;
  fs::path run_dir;
  if (!is_main) {
    // Rank 0 picks the folder and tells the others below; resume files are read by every rank.
    if (!config.resume.empty() && config.resume != "auto") resume_from = config.resume;
  } else if (config.resume == "auto") {
    run_dir = prepare_run_dir(config.log_dir, defaults.name, config.exp_name,
                              RunDirOptions{true, config_json.dump()});
    if (fs::exists(run_dir / "last.ckpt")) resume_from = run_dir / "last.ckpt";
    else out << "train: --resume auto: no last.ckpt in " << run_dir.string() << ", starting fresh\n";
  } else if (!config.resume.empty()) {
    resume_from = config.resume;
    check(fs::exists(resume_from), "--resume ", config.resume, ": no such file");
    run_dir = resume_from.parent_path().empty() ? fs::path(".") : resume_from.parent_path();
  } else {
    run_dir = prepare_run_dir(config.log_dir, defaults.name, config.exp_name,
                              RunDirOptions{false, config_json.dump()});
  }
  if (distributed) {
    run_dir = group->broadcast_string(run_dir.string());
    if (config.resume == "auto" && fs::exists(run_dir / "last.ckpt")) resume_from = run_dir / "last.ckpt";
  }
  result.run_dir = run_dir;
  if (is_main) write_bytes_atomic(run_dir / "config.json", config_json.dump(2) + "\n");

  TrainProgress progress;
  SeedCounter seeds(config.seed);
  if (!resume_from.empty()) {
    CheckpointData data = load_checkpoint(resume_from, model, optimizer.get());
    TrainConfig saved = nlohmann::json::parse(data.config_json).get<TrainConfig>();
    check(saved.batch_size == config.batch_size && saved.dataset == config.dataset &&
              saved.seed == config.seed,
          "--resume ", resume_from.string(),
          ": the checkpoint was made with another dataset, batch size or seed (",
          saved.dataset, ", ", saved.batch_size, ", ", saved.seed,
          "): an exact continuation needs the same ones");
    check(data.model_options.canonical_focal == config.canonical_focal, "--resume ",
          resume_from.string(), ": the checkpoint was trained with canonical focal ",
          data.model_options.canonical_focal, " (0 = off), this run asks for ",
          config.canonical_focal);
    schedule->load_state(data.schedule);
    schedule->apply(*optimizer);
    restore_rng_state(data.rng, seeds);
    progress = data.progress;
    guard.restore(progress.skipped_steps, progress.consecutive_skipped);
    if (!data.loss_scaler.empty()) trainer_step.scaler().load_state(data.loss_scaler);
    out << "train: resumed from " << resume_from.string() << " at epoch " << progress.epoch
        << ", batch " << progress.batch_in_epoch << " (step " << progress.global_step << ")\n";
  }

  auto make_checkpoint = [&] {
    CheckpointData data;
    data.progress = progress;
    data.progress.skipped_steps = guard.skipped();
    data.progress.consecutive_skipped = guard.consecutive();
    data.schedule = schedule->state();
    data.rng = capture_rng_state(seeds);
    if (trainer_step.scaler().enabled()) data.loss_scaler = trainer_step.scaler().state();
    data.config_json = config_json.dump();
    return data;
  };
  auto save = [&](const fs::path& path) {
    if (is_main) save_checkpoint(path, model, optimizer.get(), make_checkpoint());
  };

  const std::vector<std::string> metric_names(DepthMetrics::names().begin(), DepthMetrics::names().end());
  std::optional<CsvWriter> train_csv, metrics_csv;
  std::optional<TensorBoardWriter> tensorboard;
  if (is_main)
    train_csv.emplace(run_dir / "train.csv", std::vector<std::string>{"step", "epoch", "loss", "lr",
                                                                      "grad_norm", "images_per_s",
                                                                      "skipped_steps"});
  std::vector<std::string> metric_columns = {"epoch", "step", "val_loss"};
  metric_columns.insert(metric_columns.end(), metric_names.begin(), metric_names.end());
  metric_columns.push_back("lr");
  if (is_main) {
    metrics_csv.emplace(run_dir / "metrics.csv", metric_columns);
    tensorboard.emplace(run_dir);
  }

  EvaluatorOptions eval_options;
  eval_options.settings.dataset = parse_eval_dataset(defaults.name == "folder" ? "generic" : defaults.name);
  eval_options.settings.kitti_crop = parse_kitti_crop(config.kitti_crop);
  eval_options.settings.protocol = parse_protocol(config.protocol);
  eval_options.settings.min_depth_eval = config.min_depth_eval;
  eval_options.settings.max_depth_eval = max_depth_eval;
  eval_options.silog_lambda = config.silog_lambda;
  eval_options.keep_per_image = false;
  const double png_scale = defaults.depth_scale > 0 ? defaults.depth_scale : 256.0;
  PredictorOptions predictor_options;
  predictor_options.device = device;
  predictor_options.precision = precision;
  predictor_options.channels_last = config.channels_last;

  out << "train: MiT-" << model_options.encoder << " on " << device.str() << ", "
      << train_set->size() << " training samples, " << iters_per_epoch << " steps per epoch, "
      << config.epochs << " epochs; run folder " << run_dir.string() << "\n";

  double window_loss = 0, window_norm = 0;
  int64_t window_steps = 0, window_images = 0;
  auto window_start = Clock::now();

  for (int64_t epoch = progress.epoch; epoch <= config.epochs; ++epoch) {
    train_loader.set_epoch(epoch);
    model->train();
    ProgressOptions bar_options;
    bar_options.terminal = is_main && stderr_is_terminal() && &log == &std::cerr;
    bar_options.label = cat("epoch ", epoch, "/", config.epochs);
    ProgressReporter bar(out, iters_per_epoch, bar_options);
    int64_t batch_index = 0;
    double epoch_loss_sum = 0;
    int64_t epoch_loss_count = 0;
    for (Batch& batch : train_loader) {
      if (batch_index >= iters_per_epoch) break;
      if (batch_index < progress.batch_in_epoch) {  // resuming inside this epoch
        ++batch_index;
        continue;
      }
      if (batch.empty()) {
        ++batch_index;
        continue;
      }
      bool stop_now = (stop && stop->load()) ||
                      (config.stop_after_steps > 0 && progress.global_step + 1 >= config.stop_after_steps);
      torch::Tensor to_metric;
      if (camera_aware)
        to_metric = canonical_to_metric(batch.intrinsics, config.canonical_focal,
                                        cat("training batch ", batch_index));
      const StepOutcome outcome = trainer_step.run(batch, to_metric, stop_now);
      stop_now = outcome.stop;
      const double loss_value = outcome.loss;
      const double grad_norm = outcome.grad_norm;
      ++progress.global_step;
      result.step_losses.push_back(loss_value);
      if (outcome.stepped) {
        if (distributed && config.verify_replicas) verify_replicas(*group, parameters, progress.global_step);
        progress.train_loss_sum += loss_value;
        ++progress.train_loss_count;
        epoch_loss_sum += loss_value;
        ++epoch_loss_count;
        window_loss += loss_value;
        window_norm += grad_norm;
        ++window_steps;
      }
      window_images += batch.size();
      const double lr = schedule->lr();  // the lr this step used
      if (schedule->step_after_iteration(progress.global_step)) {
        if (plateau_on_train_loss) {
          if (progress.train_loss_count > 0)
            schedule->step(progress.train_loss_sum / progress.train_loss_count);
        } else if (schedule->unit() == StepUnit::kIteration) {
          schedule->step();
        }
        schedule->apply(*optimizer);
      }
      ++batch_index;
      progress.batch_in_epoch = batch_index;
      bar.update(batch_index, window_steps ? window_loss / window_steps : loss_value, lr);

      if (config.log_every > 0 && progress.global_step % config.log_every == 0) {
        double seconds = std::chrono::duration<double>(Clock::now() - window_start).count();
        double mean_loss = window_steps ? window_loss / window_steps : std::nan("");
        double mean_norm = window_steps ? window_norm / window_steps : std::nan("");
        if (train_csv) train_csv->row(std::vector<double>{static_cast<double>(progress.global_step),
                                          static_cast<double>(epoch), mean_loss, lr, mean_norm,
                                          window_images / std::max(seconds, 1e-9),
                                          static_cast<double>(guard.skipped())});
        if (tensorboard) tensorboard->add_scalar("train/loss", mean_loss, progress.global_step);
        if (tensorboard) tensorboard->add_scalar("train/lr", lr, progress.global_step);
        if (tensorboard) tensorboard->add_scalar("train/grad_norm", mean_norm, progress.global_step);
        window_loss = window_norm = 0;
        window_steps = window_images = 0;
        window_start = Clock::now();
      }
      if (stop_now) {
        bar.finish();
        save(run_dir / "last.ckpt");
        result.interrupted = true;
        result.last_checkpoint = run_dir / "last.ckpt";
        result.global_step = progress.global_step;
        result.skipped_steps = guard.skipped();
        result.epochs_done = epoch - 1;
        return result;
      }
    }
    bar.finish();
    if (epoch_loss_count > 0)
      if (tensorboard) tensorboard->add_scalar("train/epoch_loss", epoch_loss_sum / epoch_loss_count, epoch);

    // The epoch is complete: the state below is "at the start of the next epoch".
    progress.epoch = epoch + 1;
    progress.batch_in_epoch = 0;
    progress.train_loss_sum = 0;
    progress.train_loss_count = 0;
    if (schedule->step_after_epoch()) {
      schedule->step();
      schedule->apply(*optimizer);
    }
    result.epochs_done = epoch;

    bool validated = false;
    if (val_loader && config.val_freq > 0 && epoch % config.val_freq == 0) {
      EvaluatorOptions options = eval_options;
      if (config.save_result)
        options.sinks.push_back(eval_png_sink(run_dir / "results" / cat("epoch_", epoch), png_scale));
      DepthPredictor predictor(model, predictor_options);
      EvaluateResult evaluation = evaluate(predictor, *val_loader, options);
      // Exact reduction: sums and counts over all images of all ranks.
      if (distributed) {
        const double seconds = evaluation.seconds;
        evaluation = EvaluateResult::from_state(group->allreduce_sum(evaluation.state()));
        evaluation.seconds = seconds;
      }
      model->train();
      validated = true;
      const DepthMetrics mean = evaluation.metrics.mean();
      std::vector<double> row = {static_cast<double>(epoch), static_cast<double>(progress.global_step),
                                 evaluation.mean_loss()};
      for (double v : mean.values()) row.push_back(v);
      row.push_back(schedule->lr());
      if (metrics_csv) metrics_csv->row(row);
      if (tensorboard) tensorboard->add_scalar("val/loss", evaluation.mean_loss(), epoch);
      for (size_t i = 0; i < metric_names.size(); ++i)
        if (tensorboard) tensorboard->add_scalar("val/" + metric_names[i], mean.values()[i], epoch);
      result.val_abs_rel.push_back(mean.abs_rel);
      out << "validation epoch " << epoch << ": loss " << std::setprecision(4)
          << evaluation.mean_loss() << "  d1 " << mean.d1 << "  abs_rel " << mean.abs_rel
          << "  rmse " << mean.rmse << "  (" << evaluation.metrics.images() << " images, "
          << std::setprecision(3) << evaluation.seconds << " s)\n";
      if (plateau_on_validation) {
        schedule->step(metric_value(config.plateau_monitor, evaluation));
        schedule->apply(*optimizer);
      }
      const double value = metric_value(config.best_metric, evaluation);
      const bool better = progress.best_epoch == 0 ||
                          (lower_is_better(config.best_metric) ? value < progress.best_value
                                                               : value > progress.best_value);
      if (better) {
        progress.best_value = value;
        progress.best_epoch = epoch;
        save(run_dir / "best.ckpt");
        result.best_checkpoint = run_dir / "best.ckpt";
      }
    }
    save(run_dir / "last.ckpt");
    result.last_checkpoint = run_dir / "last.ckpt";
    if ((config.save_model && validated) || (config.save_freq > 0 && epoch % config.save_freq == 0))
      save(run_dir / epoch_file("epoch_", epoch));
  }
  if (is_main) mark_run_finished(run_dir);
  result.global_step = progress.global_step;
  result.skipped_steps = guard.skipped();
  return result;
}

}  // namespace glpdepth
