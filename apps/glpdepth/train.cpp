// `glpdepth train`: spec §5 training with the seed's option names. What runs is, in order of
// precedence: explicit flags, then the recipe (--recipe, or the dataset's: docs/TRAINING.md),
// then --config, then the library's defaults; config.json records the result.
#include <csignal>
#include <iostream>

#include "cli.h"
#include "flags.h"
#include "glpdepth/dist/env.h"
#include "glpdepth/train/trainer.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/progress.h"
#include "glpdepth/util/threads.h"

namespace glpdepth::cli {
namespace {

std::atomic<bool> stop_requested{false};
std::atomic<int> stop_signal{0};

extern "C" void on_stop_signal(int signal) {
  stop_signal.store(signal);
  stop_requested.store(true);
}

// Everything the train command holds besides the library's configuration.
struct TrainCli {
  TrainConfig config;
  int64_t batch_size = 0;  // 0: the recipe's
  std::string output;      // "" : the config's log_dir (./logs)
  int do_kb_crop = 1;
  bool config_file_given = false;
};

// Ctrl-C, SIGTERM and Slurm's SIGUSR1 (sbatch --signal=B:USR1@120) finish the current step,
// write last.ckpt and stop; a second signal kills.
void install_stop_handlers() {
  stop_requested.store(false);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESETHAND;
  for (int signal : {SIGINT, SIGTERM, SIGUSR1}) sigaction(signal, &action, nullptr);
}

// A stopped run: where its state is and how to continue. A stop that a signal asked for (here,
// or on another rank: the ranks stop together) exits 3 so that job scripts requeue; a stop at
// --stop_after_steps is what was asked for and exits 0.
void report_interrupted(const TrainConfig& config, const TrainResult& result) {
  const int signal = stop_signal.load();
  const bool at_limit =
      config.loop.stop_after_steps > 0 && result.global_step >= config.loop.stop_after_steps;
  const std::string why = signal     ? cat(" (signal ", signal, ")")
                          : at_limit ? std::string(" (--stop_after_steps)")
                                     : std::string(" (another rank was asked to stop)");
  std::cerr << "train: stopped after step " << result.global_step << why << "; state saved to "
            << result.last_checkpoint.string() << "\n"
            << "train: continue with the same command plus --resume auto (or --resume "
            << result.last_checkpoint.string() << ")\n";
  if (at_limit && !signal) return;
  // Preemption (Slurm's --signal=B:USR1@120, SIGTERM before a kill): a distinct code lets the
  // job script requeue instead of treating the stop as a failure.
  std::cerr << "train: exit code " << kExitInterrupted
            << " = interrupted with the state saved: requeue the job (Slurm: scontrol requeue "
               "$SLURM_JOB_ID, as docs/slurm/train.sbatch does) with --resume auto\n";
  throw ExitRequest{kExitInterrupted};
}

void run_train(TrainCli& cli, CommonOptions common, const CLI::App& command) {
  TrainConfig config = cli.config;
  if (cli.batch_size > 0) config.loop.batch_size = cli.batch_size;
  if (!cli.output.empty()) config.log.log_dir = cli.output;
  check_do_kb_crop(cli.do_kb_crop);
  // --threads, else the count a replayed config.json ran with, else: ranks sharing a machine
  // share its cores.
  const dist::DistEnv env = dist::detect_env(dist::DetectOptions{config.dist.port});
  if (common.threads == 0) common.threads = config.runtime.threads;
  if (common.threads == 0 && env.local_world_size > 1)
    common.threads = std::max(1, available_cores() / env.local_world_size);
  config.runtime.threads = apply_threads(common);
  if (config.runtime.threads > available_cores())
    std::cerr << "note: " << config.runtime.threads << " threads on " << available_cores()
              << " cores: the same numbers as on a larger machine, more slowly\n";
  const torch::Device device = resolve_device(common.device);
  if (cli.config_file_given && config.runtime.device != device)
    std::cerr << "warning: --config ran on " << config.runtime.device.str() << ", this run on "
              << device.str() << ": its losses and weights will differ (--device "
              << config.runtime.device.str() << " repeats it)\n";
  config.runtime.device = device;
  for (const std::string& note : unused_by_schedule(config, given_options(command)))
    std::cerr << "warning: " << note << "\n";
  validate(config);
  check_output_folder_possible(config.log.log_dir, "--output");  // made later, by train()
  install_stop_handlers();

  TrainHooks hooks;
  hooks.stop = &stop_requested;
  hooks.terminal = stderr_is_terminal();
  hooks.command_line = common.command_line;
  TrainResult result = train(config, std::cerr, hooks);
  if (result.interrupted) return report_interrupted(config, result);
  std::cerr << "train: done, " << result.epochs_done << " epochs, " << result.global_step
            << " steps";
  if (result.skipped_steps) std::cerr << " (" << result.skipped_steps << " non-finite steps skipped)";
  std::cerr << "\n  run folder:  " << result.run_dir.string() << "\n  last:        "
            << result.last_checkpoint.string() << "\n";
  if (!result.best_checkpoint.empty())
    std::cerr << "  best:        " << result.best_checkpoint.string() << "\n";
}

void add_augmentation_flags(CLI::App& command, AugmentOptions& a) {
  const char* g = section::kAugmentation;
  add_option(command, "crop_h", a.crop_h, "random-crop height (0: the dataset's, 352 KITTI/DS, 448 NYU)", g)
      ->check(in_range(0, 16384));
  add_option(command, "crop_w", a.crop_w, "random-crop width (0: the dataset's, 704 KITTI/DS, 576 NYU)", g)
      ->check(in_range(0, 16384));
  add_option(command, "flip_p", a.flip_p, "horizontal flip probability", g)
      ->check(in_range(0, 1));
  add_option(command, "brightness_contrast_p", a.brightness_contrast_p, "brightness/contrast probability", g)
      ->check(in_range(0, 1));
  add_option(command, "gamma_p", a.gamma_p, "gamma probability", g)
      ->check(in_range(0, 1));
  add_option(command, "hsv_p", a.hsv_p, "hue/saturation/value probability", g)
      ->check(in_range(0, 1));
  add_option(command, "cutdepth_p", a.cutdepth_p, "vertical CutDepth probability (docs/DATA.md)", g)
      ->check(in_range(0, 1));
  add_option(command, "cutdepth_fraction", a.cutdepth_fraction, "CutDepth strip width factor (the original p)", g)
      ->check(in_range(0, 1));
  add_option(command, "scale_p", a.scale_p, "random zoom probability (docs/CAMERAS.md)", g)
      ->check(in_range(0, 1));
  add_option(command, "scale_min", a.scale_min, "smallest random zoom factor", g)
      ->check(in_range(0.1, 10));
  add_option(command, "scale_max", a.scale_max, "largest random zoom factor", g)
      ->check(in_range(0.1, 10));
}

void add_optimisation_flags(CLI::App& command, TrainCli& cli) {
  TrainConfig& c = cli.config;
  const char* g = section::kOptimisation;
  add_enum_option(command, "recipe", c.loop.recipe, recipe_names(),
                  "glp, plateau, plateau-l2 or cyclic: optimiser, schedule, clipping and batch "
                  "size; demo: make demo's b0 from scratch on quarter-size frames; explicit flags "
                  "override it (auto: drivingstereo cyclic, others glp)", g);
  add_option(command, "epochs", c.loop.epochs, "epochs", g)
      ->check(in_range(1, 1e6));
  add_batch_size_flag(command, cli.batch_size, "the recipe's: glp 12, plateau and cyclic 32");
  add_option(command, "lr", c.optim.lr, "initial learning rate (constant, step, plateau, cosine)", g)
      ->check(in_range(0, 10));
  add_enum_option(command, "optimizer", c.optim.kind,
                  {{"adam", OptimizerKind::kAdam}, {"adamw", OptimizerKind::kAdamW},
                   {"sgd", OptimizerKind::kSGD}},
                  "adam, adamw or sgd", g);
  add_option(command, "weight_decay", c.optim.weight_decay, "L2 (coupled) for adam/sgd, decoupled for adamw", g)
      ->check(in_range(0, 10));
  add_option(command, "momentum", c.optim.momentum, "SGD momentum", g)
      ->check(in_range(0, 1));
  add_flag(command, "nesterov", c.optim.nesterov, "Nesterov momentum (SGD)", g);
  add_option(command, "clip_grad", c.loop.clip_grad, "clip gradients to this global L2 norm (0: off; the fork used 1.0)", g)
      ->check(in_range(0, 1e9));
  add_option(command, "max_nonfinite", c.loop.max_nonfinite, "stop after this many non-finite steps in a row", g)
      ->check(in_range(1, 1e6));
  add_option(command, "silog_lambda", c.loop.silog_lambda, "SiLog variance weight", g)
      ->check(in_range(0, 1));
  add_option(command, "max_steps_per_epoch", c.loop.max_steps_per_epoch, "cut epochs to this many steps (0: whole epochs)", g)
      ->check(in_range(0, 1e12));
  add_option(command, "stop_after_steps", c.loop.stop_after_steps, "stop as if interrupted after this global step, checkpoint written (0: off)", g)
      ->check(in_range(0, 1e12));
}

void add_schedule_flags(CLI::App& command, ScheduleOptions& s, Figure& plateau_monitor) {
  const char* g = section::kSchedule;
  add_enum_option(command, "schedule", s.kind,
                  {{"constant", ScheduleKind::kConstant}, {"poly", ScheduleKind::kPoly},
                   {"step", ScheduleKind::kStep}, {"plateau", ScheduleKind::kPlateau},
                   {"cyclic", ScheduleKind::kCyclic}, {"cosine", ScheduleKind::kCosine}},
                  "constant, poly (GLPDepth one-cycle), step, plateau, cyclic or cosine", g);
  add_option(command, "poly_min_lr", s.poly.min_lr, "poly: start/end lr", g)
      ->check(in_range(0, 10));
  add_option(command, "poly_max_lr", s.poly.max_lr, "poly: peak lr", g)
      ->check(in_range(0, 10));
  add_option(command, "poly_power", s.poly.power, "poly: exponent", g)
      ->check(in_range(0, 100));
  add_flag(command, "poly_clamp_to_min", s.poly.clamp_to_min,
           "poly: never below --poly_min_lr (the original falls below it after 2T, to 0 in very "
           "short runs)",
           g);
  add_option(command, "step_size", s.step.step_size, "step: epochs between decays", g)
      ->check(in_range(1, 1e9));
  add_option(command, "step_gamma", s.step.gamma, "step: decay factor", g)
      ->check(in_range(0, 1));
  add_enum_option(command, "plateau_mode", s.plateau.mode, plateau_mode_names(), "plateau: min or max", g);
  add_option(command, "plateau_factor", s.plateau.factor, "plateau: lr factor", g)
      ->check(in_range(0, 1));
  add_option(command, "plateau_patience", s.plateau.patience, "plateau: patience (scheduler steps)", g)
      ->check(in_range(0, 1e9));
  add_option(command, "plateau_threshold", s.plateau.threshold, "plateau: threshold", g)
      ->check(in_range(0, 1000));
  add_enum_option(command, "plateau_threshold_mode", s.plateau.threshold_mode, threshold_mode_names(), "plateau: rel or abs", g);
  add_option(command, "plateau_cooldown", s.plateau.cooldown, "plateau: cooldown", g)
      ->check(in_range(0, 1e9));
  add_option(command, "plateau_min_lr", s.plateau.min_lr, "plateau: lower lr bound", g)
      ->check(in_range(0, 10));
  add_option(command, "plateau_eps", s.plateau.eps, "plateau: minimal lr change", g)
      ->check(in_range(0, 1));
  add_option(command, "plateau_steps_per_epoch", s.plateau.steps_per_epoch, "plateau: scheduler steps per epoch on the training loss", g)
      ->check(in_range(1, 1e9));
  add_enum_option(command, "plateau_monitor", plateau_monitor, figure_names(), "plateau: train_loss, val_loss or a validation metric (abs_rel, d1, ...)", g);
  add_option(command, "cyclic_base_lr", s.cyclic.base_lr, "cyclic: lower lr", g)
      ->check(in_range(0, 10));
  add_option(command, "cyclic_max_lr", s.cyclic.max_lr, "cyclic: upper lr", g)
      ->check(in_range(0, 10));
  add_option(command, "cyclic_step_size_up", s.cyclic.step_size_up, "cyclic: iterations up", g)
      ->check(in_range(1, 1e9));
  add_option(command, "cyclic_step_size_down", s.cyclic.step_size_down, "cyclic: iterations down (0: = up)", g)
      ->check(in_range(0, 1e9));
  add_enum_option(command, "cyclic_mode", s.cyclic.mode, cyclic_mode_names(), "cyclic: triangular, triangular2, exp_range", g);
  add_option(command, "cyclic_gamma", s.cyclic.gamma, "cyclic: exp_range gamma", g)
      ->check(in_range(0, 1));
  add_option(command, "cyclic_base_momentum", s.cyclic.base_momentum, "cyclic: momentum at the lr peak", g)
      ->check(in_range(0, 1));
  add_option(command, "cyclic_max_momentum", s.cyclic.max_momentum, "cyclic: momentum at the lr trough", g)
      ->check(in_range(0, 1));
  add_option(command, "warmup_steps", s.cosine.warmup_steps, "cosine: linear warm-up iterations", g)
      ->check(in_range(0, 1e12));
  add_option(command, "cosine_min_lr", s.cosine.min_lr, "cosine: final lr", g)
      ->check(in_range(0, 10));
}

void add_run_flags(CLI::App& command, TrainCli& cli) {
  TrainConfig& c = cli.config;
  add_option(command, "val_freq", c.validation.val_freq, "validate every N epochs (0: never)", section::kValidation)
      ->check(in_range(0, 1e6));
  add_option(command, "val_batch_size", c.validation.val_batch_size, "validation batch size", section::kValidation)
      ->check(in_range(1, 4096));
  add_enum_option(command, "best_metric", c.validation.best_metric, figure_names(), "validation figure that picks best.ckpt (abs_rel, rmse, d1, val_loss, ...)", section::kValidation);
  const char* k = section::kCheckpoints;
  add_option(command, "save_freq", c.checkpoint.save_freq, "also keep epoch_XX.ckpt every N epochs (0: off)", k)
      ->check(in_range(0, 1e6));
  add_flag(command, "save_model", c.checkpoint.save_model, "keep epoch_XX.ckpt at every validation", k);
  add_flag(command, "save_result", c.checkpoint.save_result, "write validation predictions as 16-bit PNGs (dataset scale)", k);
  add_option(command, "save_every_steps", c.checkpoint.save_every_steps, "also write last.ckpt every N steps (0: only at epoch ends)", k)
      ->check(in_range(0, 1e12));
  add_option(command, "save_every_minutes", c.checkpoint.save_every_minutes, "also write last.ckpt after this many minutes (0: off)", k)
      ->check(in_range(0, 1e6));
  add_option(command, "resume", c.checkpoint.resume, "continue from a checkpoint path, or auto (last.ckpt of the run folder)", k);
  add_output_flag(command, cli.output,
                  "runs go to <output>/<dataset>/<exp_name> (default ./logs)",
                  {"--log_dir", "--log-dir"});
  add_exp_name_flag(command, c.log.exp_name);
  add_option(command, "log_every", c.log.log_every, "train.csv / TensorBoard row every N steps", section::kLogging)
      ->check(in_range(1, 1e12));
  add_seed_flag(command, c.runtime.seed);
  add_precision_flags(command, c.runtime.precision, c.runtime.channels_last);
  const char* d = section::kDistributed;
  add_enum_option(command, "dist_backend", c.dist.backend, dist::backend_names(), "distributed backend: auto (nccl on CUDA, gloo on CPU), nccl or gloo", d);
  add_option(command, "dist_port", c.dist.port, "rendezvous port when launched by Slurm", d)
      ->check(in_range(1, 65535));
  add_option(command, "dist_timeout", c.dist.timeout, "seconds before a lost rank fails the others", d)
      ->check(in_range(1, 604800));
  add_flag(command, "sync_bn", c.dist.sync_bn, "synchronise decoder BatchNorm statistics across ranks", d);
  add_flag(command, "verify_replicas", c.dist.verify_replicas, "check after every step that all ranks hold identical weights (debugging)", d);
}

// A run's config.json (sections data, loop, ...) rather than a flat {"option": value} file.
bool is_typed_train_config(const nlohmann::json& json) {
  if (!json.is_object()) return false;
  for (const char* section : {"data", "augment", "model", "optim", "schedule", "loop", "validation",
                              "checkpoint", "log", "runtime", "dist", "run"})
    if (json.contains(section)) return true;
  return false;
}

void setup_train(CLI::App& command, CommonOptions& common) {
  auto cli = std::make_shared<TrainCli>();
  TrainConfig& c = cli->config;
  add_dataset_flags(command, {c.data.dataset, c.data.data_path, c.data.window, c.data.window_h,
                              c.data.window_w, c.data.workers, c.data.skip_bad_samples});
  command.add_flag_function(option_names("no_window"),
                            [&c](int64_t) { c.data.window = WindowChoice::kOff; },
                            "same as --window off (older glpdepth)")
      ->default_str("off")
      ->group(section::kData);
  add_option(command, "train_list", c.data.train_list, "training list (\"\": <dataset>/lists/train.txt, made when missing)", section::kData);
  add_option(command, "val_list", c.data.val_list, "validation list (\"\": lists/val.txt beside the training list)", section::kData);
  add_model_flags(command, c.model.model);
  add_option(command, "pretrained", c.model.pretrained, "mit_b*.pth encoder weights or full GLPDepth weights to start from; none = random on purpose", section::kModel);
  add_option(command, "drop_path_rate", c.model.drop_path_rate, "stochastic depth rate of the last block", section::kModel)
      ->check(in_range(0, 0.99));
  add_augmentation_flags(command, c.augment);
  add_optimisation_flags(command, *cli);
  add_schedule_flags(command, c.schedule, c.validation.plateau_monitor);
  add_eval_flags(command, c.validation.eval, cli->do_kb_crop);
  add_run_flags(command, *cli);

  // Precedence, lowest first: the defaults, a run's typed config.json, the recipe (--recipe;
  // without a typed config, the dataset's), a flat config file, the flags typed.
  common.configure = [cli](CLI::App& command, const nlohmann::json& file_json,
                           const std::string& file) {
    cli->config_file_given = is_typed_train_config(file_json);
    TrainConfig base;
    if (cli->config_file_given) {
      try {
        nlohmann::json json = file_json;
        json.erase("run");  // the record of a past run, not configuration
        base = train_config_from_json(json, base);
      } catch (const Error& e) {
        throw UsageError(cat("--config ", file, ": ", e.what()));
      }
    }
    cli->config = base;
    if (!file_json.is_null() && !cli->config_file_given) apply_flat_config(command, file_json, file);
    reapply_given_options(command);  // to read the recipe and dataset asked for
    Recipe recipe = command.get_option("--recipe")->count() > 0 ? cli->config.loop.recipe : Recipe::kAuto;
    if (recipe == Recipe::kAuto && !cli->config_file_given) recipe = default_recipe(cli->config.data.dataset);
    cli->config = base;
    apply_recipe(cli->config, recipe);
    reapply_given_options(command);
  };
  command.callback([cli, &common, &command] { run_train(*cli, common, command); });
}

}  // namespace

GLPDEPTH_COMMAND({"train", "Train or fine-tune GLPDepth", 10, setup_train});

}  // namespace glpdepth::cli
