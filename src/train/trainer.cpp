// The training run in named phases. Each phase is a function or a small object; train() at the
// bottom reads as the outline: join the group, build the data, build the model, build the
// optimisation, open or resume the run folder, run the epochs.
#include "glpdepth/train/trainer.h"

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

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

// Phase 1: torchrun / Slurm / `glpdepth launch` tell this process its place.
std::unique_ptr<RunContext> join_group(const TrainConfig& config, std::ostream& log,
                                       const TrainHooks& hooks) {
  auto ctx = std::make_unique<RunContext>();
  ctx->config = config;
  ctx->hooks = hooks;
  ctx->device = torch::Device(config.runtime.device);
  const dist::DistEnv env = dist::detect_env(dist::DetectOptions{config.dist.port});
  if (env.distributed()) {
    if (ctx->device.is_cuda() && !ctx->device.has_index())
      ctx->device = torch::Device(
          torch::kCUDA,
          dist::local_device_index(env, static_cast<int>(torch::cuda::device_count())));
    dist::GroupOptions options;
    options.backend = config.dist.backend.empty() ? dist::default_backend(ctx->device)
                                                  : dist::parse_backend(config.dist.backend);
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.dist.timeout * 1000));
    ctx->group = dist::Group::create(env, options);
  }
  ctx->config.runtime.device = ctx->device.str();
  ctx->out = ctx->is_main() ? &log : &ctx->discarded;
  // Fixed-size training crops: let cuDNN pick the fastest convolution algorithms once.
  if (ctx->device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  return ctx;
}

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

DatasetOptions dataset_options(const RunContext& ctx, const fs::path& root, const fs::path& list,
                               const std::string& split, double max_depth) {
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
  request.data = dataset_options(ctx, data.root, val_list, "val", data.max_depth);
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

// Phase 2: where the data is, its lists (made when missing), the loaders.
TrainData build_data(RunContext& ctx) {
  const TrainConfig& c = ctx.config;
  TrainData data;
  const DatasetLocation location = locate_dataset(c.data.dataset, c.data.data_path);
  if (!location.note.empty()) ctx.log() << "train: " << location.note << "\n";
  data.root = location.root;
  const fs::path fallback = fs::path(c.log.log_dir);
  const ListsChoice train_list = find_or_make_list(c.data.dataset, data.root, "train",
                                                   c.data.train_list, fallback, 0.1, c.runtime.seed);
  if (!train_list.note.empty()) ctx.log() << "train: " << train_list.note << "\n";
  const DatasetDefaults& defaults = dataset_defaults(c.data.dataset);
  data.max_depth = c.model.model.max_depth > 0 ? c.model.model.max_depth : defaults.max_depth;
  data.train_set = open_train_set(
      ctx, dataset_options(ctx, data.root, train_list.list, "train", data.max_depth));
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

// The encoder variant when --encoder is not given: the --pretrained file's, else b4.
std::string choose_encoder(const TrainConfig& c, const StateDict* pretrained) {
  if (!c.model.model.encoder.empty()) return mit_variant(c.model.model.encoder).name;
  if (!pretrained) return "b4";
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

// Phase 3: the network, from --pretrained weights or (said aloud) from random weights.
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
    LoadReport report = load_weights(*model, *weights, full ? LoadMode::Strict : LoadMode::EncoderOnly,
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

struct Optimisation {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<LrSchedule> schedule;
  std::unique_ptr<TrainStep> step;
  bool plateau_on_train_loss = false;
  bool plateau_on_validation = false;
};

// Phase 4: optimiser, schedule and the step (loss scaling, all-reduce, clipping).
Optimisation build_optimisation(RunContext& ctx, GLPDepth& model, const TrainData& data) {
  const TrainConfig& c = ctx.config;
  Optimisation o;
  o.optimizer = make_optimizer(model->parameters(), c.optim);
  o.schedule = make_schedule(c.schedule, c.optim.lr, data.iters_per_epoch, c.loop.epochs);
  o.schedule->apply(*o.optimizer);
  const bool metric = o.schedule->unit() == StepUnit::kMetric;
  o.plateau_on_train_loss = metric && c.validation.plateau_monitor == "train_loss";
  o.plateau_on_validation = metric && !o.plateau_on_train_loss;
  if (o.plateau_on_validation) {
    BestMetric check_name(c.validation.plateau_monitor);  // throws for unknown names
    check(data.val_loader != nullptr, "--plateau_monitor ", c.validation.plateau_monitor,
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

struct RunState {
  fs::path run_dir;
  nlohmann::json config_json;
  TrainProgress progress;
  SeedCounter seeds{0};
};

// What identifies a run for an exact continuation. Checkpoints before the typed configuration
// stored a flat JSON; both forms are read.
struct RunIdentity {
  std::string dataset;
  int64_t batch_size = 0;
  uint64_t seed = 0;
};

RunIdentity identity_of(const std::string& config_json) {
  const nlohmann::json j = nlohmann::json::parse(config_json);
  if (j.contains("loop"))
    return {canonical_dataset_name(j.at("data").at("dataset").get<std::string>()),
            j.at("loop").at("batch_size").get<int64_t>(), j.at("runtime").at("seed").get<uint64_t>()};
  return {canonical_dataset_name(j.value("dataset", std::string())), j.value("batch_size", int64_t{0}),
          j.value("seed", uint64_t{0})};
}

// The run folder's config.json: the configuration (what --config reads back) plus a "run"
// record of where and how it ran.
nlohmann::json run_config_json(const RunContext& ctx) {
  nlohmann::json j = train_config_to_json(ctx.config);
  j["run"] = {{"glpdepth_version", version()},
              {"source_commit", source_commit()},
              {"libtorch_version", libtorch_version()},
              {"device", ctx.device.str()},
              {"world_size", ctx.group->size()},
              {"command_line", ctx.hooks.command_line}};
  return j;
}

fs::path choose_run_dir(RunContext& ctx, const std::string& signature) {
  const TrainConfig& c = ctx.config;
  const std::string dataset = canonical_dataset_name(c.data.dataset);
  const std::string& resume = c.checkpoint.resume;
  fs::path run_dir;
  if (!ctx.is_main()) {
    // Rank 0 picks the folder and tells the others.
  } else if (resume == "auto") {
    run_dir = prepare_run_dir(c.log.log_dir, dataset, c.log.exp_name, RunDirOptions{true, signature});
  } else if (!resume.empty()) {
    check(fs::exists(resume), "--resume ", resume, ": no such file");
    run_dir = fs::path(resume).parent_path().empty() ? fs::path(".") : fs::path(resume).parent_path();
  } else {
    run_dir = prepare_run_dir(c.log.log_dir, dataset, c.log.exp_name, RunDirOptions{false, signature});
  }
  if (ctx.distributed()) run_dir = ctx.group->broadcast_string(run_dir.string());
  return run_dir;
}

void restore(RunContext& ctx, const fs::path& from, GLPDepth& model, Optimisation& o,
             RunState& state) {
  const TrainConfig& c = ctx.config;
  CheckpointData data = load_checkpoint(from, model, o.optimizer.get());
  const RunIdentity saved = identity_of(data.config_json);
  check(saved.batch_size == c.loop.batch_size &&
            saved.dataset == canonical_dataset_name(c.data.dataset) && saved.seed == c.runtime.seed,
        "--resume ", from.string(), ": the checkpoint was made with another dataset, batch size or "
        "seed (", saved.dataset, ", ", saved.batch_size, ", ", saved.seed,
        "): an exact continuation needs the same ones");
  check(data.model_options.canonical_focal == c.model.model.canonical_focal, "--resume ",
        from.string(), ": the checkpoint was trained with canonical focal ",
        data.model_options.canonical_focal, " (0 = off), this run asks for ",
        c.model.model.canonical_focal);
  o.schedule->load_state(data.schedule);
  o.schedule->apply(*o.optimizer);
  restore_rng_state(data.rng, state.seeds);
  state.progress = data.progress;
  o.step->guard().restore(state.progress.skipped_steps, state.progress.consecutive_skipped);
  if (!data.loss_scaler.empty()) o.step->scaler().load_state(data.loss_scaler);
  ctx.log() << "train: resumed from " << from.string() << " at epoch " << state.progress.epoch
            << ", batch " << state.progress.batch_in_epoch << " (step "
            << state.progress.global_step << ")\n";
}

// A process killed while writing a checkpoint leaves its temporary file; the run folder is
// this run's own, so whatever is there is left over.
void remove_unfinished_writes(RunContext& ctx, const fs::path& run_dir) {
  for (const fs::path& file : remove_stale_temporaries(run_dir))
    ctx.log() << "train: removed " << file.filename().string()
              << ", left by a checkpoint write that was killed\n";
}

// A run killed after its last checkpoint (or before its first: then everything goes) had logged
// steps that the continuation does again.
void drop_rows_after_checkpoint(RunContext& ctx, const RunState& state) {
  const auto last = static_cast<double>(state.progress.global_step);
  for (const auto& [file, step_column] : {std::pair{"train.csv", 0}, std::pair{"metrics.csv", 1}}) {
    if (const int64_t dropped = drop_csv_rows_after(state.run_dir / file, step_column, last))
      ctx.log() << "train: dropped " << dropped << " rows of " << file << " logged after step "
                << state.progress.global_step << " (they are done again)\n";
  }
}

// Phase 5: the run folder (new, or the one to continue) and the state to start from.
RunState open_or_resume(RunContext& ctx, GLPDepth& model, Optimisation& o) {
  const TrainConfig& c = ctx.config;
  RunState state;
  state.seeds = SeedCounter(c.runtime.seed);
  state.config_json = run_config_json(ctx);
  state.run_dir = choose_run_dir(ctx, train_config_to_json(c).dump());
  if (ctx.is_main()) remove_unfinished_writes(ctx, state.run_dir);
  fs::path from;
  if (c.checkpoint.resume == "auto") {
    if (fs::exists(state.run_dir / "last.ckpt")) from = state.run_dir / "last.ckpt";
    else ctx.log() << "train: --resume auto: no last.ckpt in " << state.run_dir.string()
                   << ", starting fresh\n";
  } else if (!c.checkpoint.resume.empty()) {
    from = c.checkpoint.resume;
  }
  if (ctx.is_main())
    write_bytes_atomic(state.run_dir / "config.json", state.config_json.dump(2) + "\n");
  if (!from.empty()) restore(ctx, from, model, o, state);
  if (!c.checkpoint.resume.empty() && ctx.is_main()) drop_rows_after_checkpoint(ctx, state);
  return state;
}

// Losses, norms and images over the steps between two train.csv rows. The loss of a step the
// fp16 scaler skipped is still a real loss (only its gradients overflowed), so it counts; its
// gradient norm (inf) does not.
// Its sums travel in checkpoints (TrainProgress::window), its clock does not.
struct StepWindow : LogWindowSums {
  Clock::time_point start = Clock::now();
  void add(const StepOutcome& outcome, int64_t batch_images) {
    images += batch_images;
    if (outcome.scaler_skipped) ++scaler_skipped;
    if (outcome.stepped || outcome.scaler_skipped) {
      loss += outcome.loss;
      ++losses;
    }
    if (outcome.stepped) {
      norm += outcome.grad_norm;
      ++norms;
    }
  }
  double mean_loss() const { return losses ? loss / losses : std::nan(""); }
  double mean_norm() const { return norms ? norm / norms : std::nan(""); }
  void reset() { *this = StepWindow{}; }
};

// The run's files: train.csv, metrics.csv and TensorBoard (rank 0 only).
class RunLogs {
 public:
  RunLogs(const RunContext& ctx, const fs::path& run_dir) {
    if (!ctx.is_main()) return;
    train_csv_.emplace(run_dir / "train.csv",
                       std::vector<std::string>{"step", "epoch", "loss", "lr", "grad_norm",
                                                "images_per_s", "skipped_steps", "loss_scale",
                                                "scaler_skipped"});
    std::vector<std::string> columns = {"epoch", "step", "val_loss"};
    for (const char* name : DepthMetrics::names()) columns.push_back(name);
    columns.push_back("lr");
    metrics_csv_.emplace(run_dir / "metrics.csv", columns);
    tensorboard_.emplace(run_dir);
  }
  bool active() const { return tensorboard_.has_value(); }
  TensorBoardWriter* tensorboard() { return tensorboard_ ? &*tensorboard_ : nullptr; }

  // One train.csv row and the TensorBoard scalars for the steps since the previous row.
  // loss_scale is 1 without fp16; scaler_skipped counts the fp16 steps the scaler skipped.
  void step_window(int64_t step, int64_t epoch, const StepWindow& window, double lr,
                   int64_t skipped, double loss_scale) {
    if (!active()) return;
    const double images_per_s = window.images / std::max(seconds_since(window.start), 1e-9);
    train_csv_->row(std::vector<double>{
        static_cast<double>(step), static_cast<double>(epoch), window.mean_loss(), lr,
        window.mean_norm(), images_per_s, static_cast<double>(skipped), loss_scale,
        static_cast<double>(window.scaler_skipped)});
    tensorboard_->add_scalar("train/loss", window.mean_loss(), step);
    tensorboard_->add_scalar("train/lr", lr, step);
    tensorboard_->add_scalar("train/grad_norm", window.mean_norm(), step);
    tensorboard_->add_scalar("train/images_per_s", images_per_s, step);
    if (loss_scale != 1.0) tensorboard_->add_scalar("train/loss_scale", loss_scale, step);
  }

  void validation(int64_t epoch, int64_t step, const EvaluateResult& result, double lr) {
    if (!active()) return;
    const DepthMetrics mean = result.metrics.mean();
    std::vector<double> row = {static_cast<double>(epoch), static_cast<double>(step),
                               result.mean_loss()};
    for (double v : mean.values()) row.push_back(v);
    row.push_back(lr);
    metrics_csv_->row(row);
    // Every scalar on the global step, so that train/* and val/* curves line up.
    tensorboard_->add_scalar("val/loss", result.mean_loss(), step);
    for (size_t i = 0; i < DepthMetrics::names().size(); ++i)
      tensorboard_->add_scalar(std::string("val/") + DepthMetrics::names()[i], mean.values()[i], step);
  }

 private:
  std::optional<CsvWriter> train_csv_, metrics_csv_;
  std::optional<TensorBoardWriter> tensorboard_;
};


// Phase 6: the epochs. Steps, step checkpoints, validation, epoch checkpoints.
class TrainLoop {
 public:
  TrainLoop(RunContext& ctx, TrainData& data, GLPDepth& model, Optimisation& o, RunState& state)
      : ctx_(ctx), data_(data), model_(model), o_(o), state_(state), logs_(ctx, state.run_dir),
        best_(ctx.config.validation.best_metric), cadence_(ctx.config.checkpoint) {
    // A resumed run continues the train.csv row it was in the middle of.
    static_cast<LogWindowSums&>(window_) = state.progress.window;
  }

  TrainResult run() {
    result_.run_dir = state_.run_dir;
    const TrainConfig& c = ctx_.config;
    ctx_.log() << "train: MiT-" << model_->options().encoder << " on " << ctx_.device.str() << ", "
               << data_.train_set->size() << " training samples, " << data_.iters_per_epoch
               << " steps per epoch, " << c.loop.epochs << " epochs; run folder "
               << state_.run_dir.string() << "\n";
    if (ctx_.distributed()) describe_group();
    if (auto* tb = logs_.tensorboard())
      tb->add_text("config", "```\n" + state_.config_json.dump(2) + "\n```", state_.progress.global_step);
    run_start_step_ = state_.progress.global_step;
    for (int64_t epoch = state_.progress.epoch; epoch <= c.loop.epochs; ++epoch) {
      if (!run_epoch(epoch)) return finish(true);
      end_epoch(epoch);
    }
    return finish(false);
  }

 private:
  std::string epoch_label(int64_t epoch) const {
    return cat("epoch ", epoch, "/", ctx_.config.loop.epochs);
  }

  // Where the ranks run: the names a failed collective's error will use.
  void describe_group() {
    const std::vector<dist::PeerInfo>& peers = ctx_.group->peers();
    ctx_.log() << "train: " << peers.size() << " ranks:";
    for (size_t rank = 0; rank < peers.size(); ++rank)
      ctx_.log() << (rank ? ", " : " ") << dist::describe_peer(static_cast<int>(rank), peers[rank]);
    ctx_.log() << "\n";
  }

  // Seconds left in the whole run at this process's pace so far.
  double run_remaining_seconds() const {
    const int64_t done = state_.progress.global_step - run_start_step_;
    const int64_t total = ctx_.config.loop.epochs * data_.iters_per_epoch;
    if (done <= 0) return -1;
    return seconds_since(run_start_) / done * std::max<int64_t>(0, total - state_.progress.global_step);
  }

  // Returns false when the run stops (interrupted) inside this epoch.
  bool run_epoch(int64_t epoch) {
    TrainProgress& p = state_.progress;
    // A resumed epoch starts at its next batch: the batches before it are never decoded.
    data_.train_loader->set_epoch(epoch, p.batch_in_epoch);
    model_->train();
    ProgressOptions options;
    options.terminal = ctx_.is_main() && ctx_.hooks.terminal;
    options.label = epoch_label(epoch);
    ProgressReporter bar(ctx_.log(), data_.iters_per_epoch, options);
    int64_t batch_index = p.batch_in_epoch;
    for (Batch& batch : *data_.train_loader) {
      if (batch_index >= data_.iters_per_epoch) break;
      ++batch_index;
      if (batch.empty()) {
        p.batch_in_epoch = batch_index;
        continue;
      }
      const bool stop = step(batch, epoch, batch_index);
      bar.update(batch_index, loss_lr_fields(window_.losses ? window_.mean_loss() : last_loss_, last_lr_),
                 run_remaining_seconds());
      if (stop) {
        bar.finish();
        save_last();
        // No rank may exit before rank 0's last.ckpt is complete: srun --kill-on-bad-exit and
        // the launcher take the first exit as a reason to kill the others.
        ctx_.group->barrier();
        result_.interrupted = true;
        result_.epochs_done = epoch - 1;
        return false;
      }
      if (batch_index < data_.iters_per_epoch &&
          cadence_.step_checkpoint_due(p.global_step, seconds_since(last_save_)))
        save_last();
    }
    bar.finish();
    return true;
  }

  // One optimiser step with its schedule step and logs; returns whether the run must stop.
  bool step(const Batch& batch, int64_t epoch, int64_t batch_index) {
    const TrainConfig& c = ctx_.config;
    TrainProgress& p = state_.progress;
    bool stop_now = (ctx_.hooks.stop && ctx_.hooks.stop->load()) ||
                    (c.loop.stop_after_steps > 0 && p.global_step + 1 >= c.loop.stop_after_steps);
    torch::Tensor to_metric;
    if (model_->options().canonical_focal > 0)
      to_metric = canonical_to_metric(batch.intrinsics, model_->options().canonical_focal,
                                      cat("training batch ", batch_index));
    const StepOutcome outcome = o_.step->run(batch, to_metric, stop_now);
    ++p.global_step;
    p.batch_in_epoch = batch_index;
    result_.step_losses.push_back(outcome.loss);
    if (outcome.stepped) {
      if (ctx_.distributed() && c.dist.verify_replicas) verify_replicas(p.global_step);
      p.train_loss_sum += outcome.loss;
      ++p.train_loss_count;
    }
    window_.add(outcome, batch.size());
    last_loss_ = outcome.loss;
    last_lr_ = o_.schedule->lr();  // the lr this step used
    step_schedule();
    if (c.log.log_every > 0 && p.global_step % c.log.log_every == 0) write_step_window(epoch);
    return outcome.stop;
  }

  void step_schedule() {
    LrSchedule& schedule = *o_.schedule;
    const TrainProgress& p = state_.progress;
    if (!schedule.step_after_iteration(p.global_step)) return;
    if (o_.plateau_on_train_loss) {
      if (p.train_loss_count > 0) schedule.step(p.train_loss_sum / p.train_loss_count);
    } else if (schedule.unit() == StepUnit::kIteration) {
      schedule.step();
    }
    schedule.apply(*o_.optimizer);
  }

  void write_step_window(int64_t epoch) {
    logs_.step_window(state_.progress.global_step, epoch, window_, last_lr_,
                      o_.step->guard().skipped(), o_.step->scaler().scale());
    window_.reset();
  }

  // Throws unless every rank holds the same weights (a cheap exact fingerprint per tensor).
  void verify_replicas(int64_t step) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (const auto& p : o_.step->parameters()) {
      auto flat = p.detach().to(torch::kCPU, torch::kFloat64).flatten();
      auto weights = torch::arange(1, flat.numel() + 1, flat.options());
      parts.push_back(torch::stack({flat.sum(), (flat * weights).sum()}));
    }
    auto mine = torch::cat(parts);
    auto reference = mine.clone();
    ctx_.group->broadcast(reference, 0);
    check(torch::equal(mine, reference), "rank ", ctx_.group->rank(),
          ": weights differ from rank 0 after step ", step, " (replicas diverged)");
  }

  void end_epoch(int64_t epoch) {
    const TrainConfig& c = ctx_.config;
    TrainProgress& p = state_.progress;
    if (p.train_loss_count > 0 && logs_.tensorboard())
      logs_.tensorboard()->add_scalar("train/epoch_loss", p.train_loss_sum / p.train_loss_count,
                                      p.global_step);
    if (logs_.tensorboard()) logs_.tensorboard()->add_scalar("epoch", static_cast<double>(epoch), p.global_step);
    // The epoch is complete: the state below is "at the start of the next epoch".
    p.epoch = epoch + 1;
    p.batch_in_epoch = 0;
    p.train_loss_sum = 0;
    p.train_loss_count = 0;
    if (o_.schedule->step_after_epoch()) {
      o_.schedule->step();
      o_.schedule->apply(*o_.optimizer);
    }
    result_.epochs_done = epoch;
    const bool validated =
        data_.val_loader && c.validation.val_freq > 0 && epoch % c.validation.val_freq == 0;
    if (validated) validate(epoch);
    save_last();
    if (cadence_.keep_epoch_file(epoch, validated))
      save(state_.run_dir / CheckpointCadence::epoch_file(epoch));
  }

  void validate(int64_t epoch) {
    const TrainConfig& c = ctx_.config;
    EvaluatorOptions options = data_.eval;
    if (c.checkpoint.save_result)
      options.sinks.push_back(eval_png_sink(state_.run_dir / "results" / cat("epoch_", epoch),
                                            data_.train_set->defaults().depth_scale > 0
                                                ? data_.train_set->defaults().depth_scale
                                                : 256.0));
    ProgressOptions bar_options;
    bar_options.terminal = ctx_.is_main() && ctx_.hooks.terminal;
    bar_options.label = cat("validation ", epoch);
    bar_options.unit = "batches";
    ProgressReporter bar(ctx_.log(), data_.val_loader->num_batches(), bar_options);
    options.on_batch = [&bar](int64_t done, int64_t, int64_t) { bar.update(done); };
    DepthPredictor predictor(model_, predictor_options());
    EvaluateResult result = evaluate(predictor, *data_.val_loader, options);
    bar.finish();
    if (ctx_.distributed()) {  // exact: sums and counts over every image of every rank
      const double seconds = result.seconds;
      result = EvaluateResult::from_state(ctx_.group->allreduce_sum(result.state()));
      result.seconds = seconds;
    }
    model_->train();
    report_validation(epoch, result);
    if (ctx_.is_main()) write_preview(predictor);
    model_->train();
    if (o_.plateau_on_validation) {
      o_.schedule->step(BestMetric(c.validation.plateau_monitor).value_of(result));
      o_.schedule->apply(*o_.optimizer);
    }
    TrainProgress& p = state_.progress;
    const double value = best_.value_of(result);
    if (best_.improves(value, p.best_epoch > 0, p.best_value)) {
      p.best_value = value;
      p.best_epoch = epoch;
      save(state_.run_dir / "best.ckpt");
      result_.best_checkpoint = state_.run_dir / "best.ckpt";
    }
  }

  PredictorOptions predictor_options() const {
    PredictorOptions options;
    options.device = ctx_.device;
    options.precision = ctx_.config.runtime.precision;
    options.channels_last = ctx_.config.runtime.channels_last;
    return options;
  }

  void report_validation(int64_t epoch, const EvaluateResult& result) {
    const DepthMetrics mean = result.metrics.mean();
    logs_.validation(epoch, state_.progress.global_step, result, o_.schedule->lr());
    result_.val_abs_rel.push_back(mean.abs_rel);
    result_.val_loss.push_back(result.mean_loss());
    last_validation_ = result;
    ctx_.log() << "validation epoch " << epoch << ": loss " << std::setprecision(4)
               << result.mean_loss() << "  d1 " << mean.d1 << "  abs_rel " << mean.abs_rel
               << "  rmse " << mean.rmse << "  (" << result.metrics.images() << " images, "
               << std::setprecision(3) << result.seconds << " s)\n";
  }

  // TensorBoard: the first validation image with its prediction, ground truth and error.
  void write_preview(DepthPredictor& predictor) {
    TensorBoardWriter* tb = logs_.tensorboard();
    if (!tb || data_.val_set->size() == 0) return;
    const Sample sample = data_.val_set->get(0);
    if (!sample.has_depth()) return;
    const torch::Tensor pred = predictor.predict(sample.rgb, sample.intrinsics);
    const torch::Tensor gt =
        torch::from_blob(const_cast<float*>(sample.depth.data()), {sample.height(), sample.width()},
                         torch::kFloat32).clone();
    PanelOptions panel;
    panel.max_depth = model_->options().max_depth;
    tb->add_image("val/preview", render_preview(sample.rgb, pred, gt, panel),
                  state_.progress.global_step);
  }

  CheckpointData checkpoint_data() const {
    CheckpointData data;
    data.progress = state_.progress;
    data.progress.skipped_steps = o_.step->guard().skipped();
    data.progress.consecutive_skipped = o_.step->guard().consecutive();
    data.progress.window = window_;
    data.schedule = o_.schedule->state();
    data.rng = capture_rng_state(state_.seeds);
    data.config_json = state_.config_json.dump();
    if (o_.step->scaler().enabled()) data.loss_scaler = o_.step->scaler().state();
    return data;
  }

  // Rank 0 writes; a failed write (disk full, read-only folder) stops the run with the reason,
  // and the atomic write has left the previous file as it was.
  void save(const fs::path& path) {
    if (ctx_.is_main()) {
      try {
        save_checkpoint(path, model_, o_.optimizer.get(), checkpoint_data());
      } catch (const Error& e) {
        throw Error(cat("cannot write checkpoint ", path.string(), " after step ",
                        state_.progress.global_step, ": ", e.what(), ". The previous ",
                        path.filename().string(), " (if any) is unchanged; free space or make ",
                        path.parent_path().string(), " writable, then continue with --resume auto"));
      }
      if (ctx_.hooks.on_checkpoint) ctx_.hooks.on_checkpoint(path);
    }
    last_save_ = Clock::now();
  }

  void save_last() {
    save(state_.run_dir / "last.ckpt");
    result_.last_checkpoint = state_.run_dir / "last.ckpt";
  }

  TrainResult finish(bool interrupted) {
    const TrainConfig& c = ctx_.config;
    result_.global_step = state_.progress.global_step;
    result_.skipped_steps = o_.step->guard().skipped();
    result_.batches_loaded = data_.train_loader->batches_built();
    if (interrupted || !ctx_.is_main()) return result_;
    mark_run_finished(state_.run_dir);
    if (TensorBoardWriter* tb = logs_.tensorboard()) {
      nlohmann::json hparams = {
          {"encoder", model_->options().encoder}, {"recipe", c.loop.recipe},
          {"optimizer", to_string(c.optim.kind)}, {"schedule", to_string(c.schedule.kind)},
          {"lr", c.optim.lr},                     {"batch_size", c.loop.batch_size},
          {"epochs", c.loop.epochs},              {"weight_decay", c.optim.weight_decay},
          {"clip_grad", c.loop.clip_grad},        {"precision", to_string(c.runtime.precision)},
          {"seed", static_cast<double>(c.runtime.seed)}};
      std::vector<std::string> tags;
      if (last_validation_) {
        const DepthMetrics mean = last_validation_->metrics.mean();
        for (const char* name : {"abs_rel", "rmse", "d1"}) {
          tags.push_back(std::string("hparams/") + name);
          tb->add_scalar(tags.back(), mean.get(name), state_.progress.global_step);
        }
      }
      tb->add_hparams(hparams, tags);
      tb->end_hparams_session(true);
    }
    return result_;
  }

  RunContext& ctx_;
  TrainData& data_;
  GLPDepth& model_;
  Optimisation& o_;
  RunState& state_;
  RunLogs logs_;
  BestMetric best_;
  CheckpointCadence cadence_;
  TrainResult result_;
  StepWindow window_;
  double last_loss_ = 0, last_lr_ = 0;
  int64_t run_start_step_ = 0;
  Clock::time_point run_start_ = Clock::now(), last_save_ = Clock::now();
  std::optional<EvaluateResult> last_validation_;
};

}  // namespace

TrainResult train(const TrainConfig& config, std::ostream& log, const TrainHooks& hooks) {
  validate(config);
  std::unique_ptr<RunContext> ctx = join_group(config, log, hooks);
  TrainData data = build_data(*ctx);
  GLPDepth model = build_model(*ctx, data.max_depth);
  Optimisation optimisation = build_optimisation(*ctx, model, data);
  RunState state = open_or_resume(*ctx, model, optimisation);
  return TrainLoop(*ctx, data, model, optimisation, state).run();
}

TrainResult train(const TrainConfig& config, std::ostream& log, const std::atomic<bool>* stop) {
  TrainHooks hooks;
  hooks.stop = stop;
  return train(config, log, hooks);
}

}  // namespace glpdepth
