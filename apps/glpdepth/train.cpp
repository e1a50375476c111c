// `glpdepth train`: spec §5 training with the seed's option names.
#include <csignal>
#include <iostream>

#include "cli.h"
#include "glpdepth/dist/env.h"
#include "glpdepth/train/trainer.h"
#include "glpdepth/util/threads.h"
#include "glpdepth/util/error.h"

namespace glpdepth::cli {
namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) { stop_requested.store(true); }

void run_train(TrainConfig config, CommonOptions common, const CLI::App& command) {
  // Ranks sharing a machine share its cores unless --threads says otherwise.
  const dist::DistEnv env = dist::detect_env(dist::DetectOptions{config.dist_port});
  if (common.threads == 0 && env.local_world_size > 1)
    common.threads = std::max(1, available_cores() / env.local_world_size);
  apply_threads(common);
  config.device = resolve_device(common.device).str();
  stop_requested.store(false);
  // Ctrl-C / SIGTERM finish the current step and write a checkpoint (a second signal kills).
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  TrainResult result = train(config, std::cerr, &stop_requested);
  if (result.interrupted) {
    std::cerr << "train: interrupted after step " << result.global_step << "; state saved to "
              << result.last_checkpoint.string() << "\n"
              << "train: continue with the same command plus --resume "
              << result.last_checkpoint.string() << " (or --resume auto)\n";
    return;
  }
  std::cerr << "train: done, " << result.epochs_done << " epochs, " << result.global_step
            << " steps";
  if (result.skipped_steps) std::cerr << " (" << result.skipped_steps << " non-finite steps skipped)";
  std::cerr << "\n  run folder:  " << result.run_dir.string() << "\n  last:        "
            << result.last_checkpoint.string() << "\n";
  if (!result.best_checkpoint.empty())
    std::cerr << "  best:        " << result.best_checkpoint.string() << "\n";
  (void)command;
}

void setup_train(CLI::App& command, CommonOptions& common) {
  auto config = std::make_shared<TrainConfig>();
  auto& c = *config;
  add_option(command, "dataset", c.dataset, "kitti, drivingstereo, nyudepthv2 (synthetic sets use kitti or drivingstereo)");
  add_option(command, "data_path", c.data_path, "dataset root (holds lists/train.txt, lists/val.txt)");
  add_option(command, "train_list", c.train_list, "training list (default <data_path>/lists/train.txt)");
  add_option(command, "val_list", c.val_list, "validation list (default <data_path>/lists/val.txt)");
  add_option(command, "max_depth", c.max_depth, "head output range in metres (0: the dataset's, 80 driving / 10 NYU)");
  add_option(command, "max_depth_eval", c.max_depth_eval, "upper evaluation bound (0: max_depth)");
  add_option(command, "min_depth_eval", c.min_depth_eval, "lower evaluation bound");
  add_option(command, "crop_h", c.crop_h, "random-crop height (0: the dataset's, 352 KITTI/DS, 448 NYU)");
  add_option(command, "crop_w", c.crop_w, "random-crop width (0: the dataset's, 704 KITTI/DS, 576 NYU)");
  add_option(command, "window_h", c.window_h, "dataset window height (0: the dataset's, 352 KITTI kb-crop, 384 DS)");
  add_option(command, "window_w", c.window_w, "dataset window width (0: the dataset's, 1216 KITTI kb-crop, 864 DS)");
  add_option(command, "window", c.window, "dataset window (KITTI kb-crop, DrivingStereo 384x864): auto (off for frames smaller than it), on or off");
  add_flag(command, "no_window", c.no_window, "same as --window off");
  add_option(command, "workers", c.workers, "data-loading threads");
  add_flag(command, "skip_bad_samples", c.skip_bad_samples, "skip unreadable samples (counted) instead of stopping");
  add_option(command, "flip_p", c.augment.flip_p, "horizontal flip probability");
  add_option(command, "brightness_contrast_p", c.augment.brightness_contrast_p, "brightness/contrast probability");
  add_option(command, "gamma_p", c.augment.gamma_p, "gamma probability");
  add_option(command, "hsv_p", c.augment.hsv_p, "hue/saturation/value probability");
  add_option(command, "cutdepth_p", c.augment.cutdepth_p, "vertical CutDepth probability (docs/DATA.md)");
  add_option(command, "cutdepth_fraction", c.augment.cutdepth_fraction, "CutDepth strip width factor (the original p)");
  add_option(command, "scale_p", c.augment.scale_p, "random zoom probability (docs/CAMERAS.md)");
  add_option(command, "scale_min", c.augment.scale_min, "smallest random zoom factor");
  add_option(command, "scale_max", c.augment.scale_max, "largest random zoom factor");

  add_option(command, "encoder", c.encoder, "MiT variant b0..b5");
  add_option(command, "pretrained", c.pretrained, "mit_b*.pth encoder weights or full GLPDepth weights to start from");
  add_option(command, "drop_path_rate", c.drop_path_rate, "stochastic depth rate of the last block");
  add_option(command, "canonical_focal", c.canonical_focal, "camera-aware mode: predict depth for this focal length in px, rescaled by fx/F (0: off; docs/CAMERAS.md)");

  add_option(command, "recipe", c.recipe, "preset: glp, plateau, plateau-l2, cyclic (sets optimizer, schedule, clipping; docs/TRAINING.md)");
  add_option(command, "epochs", c.epochs, "epochs");
  add_option(command, "batch_size", c.batch_size, "batch size");
  add_option(command, "lr", c.lr, "initial learning rate");
  add_option(command, "optimizer", c.optimizer, "adam, adamw or sgd");
  add_option(command, "weight_decay", c.weight_decay, "L2 (coupled) for adam/sgd, decoupled for adamw");
  add_option(command, "momentum", c.momentum, "SGD momentum");
  add_flag(command, "nesterov", c.nesterov, "Nesterov momentum (SGD)");
  add_option(command, "schedule", c.schedule, "constant, poly (GLPDepth one-cycle), step, plateau, cyclic, cosine");
  auto& s = c.schedule_options;
  add_option(command, "poly_min_lr", s.poly.min_lr, "poly: start/end lr");
  add_option(command, "poly_max_lr", s.poly.max_lr, "poly: peak lr");
  add_option(command, "poly_power", s.poly.power, "poly: exponent");
  add_option(command, "step_size", s.step.step_size, "step: epochs between decays");
  add_option(command, "step_gamma", s.step.gamma, "step: decay factor");
  add_option(command, "plateau_mode", s.plateau.mode, "plateau: min or max");
  add_option(command, "plateau_factor", s.plateau.factor, "plateau: lr factor");
  add_option(command, "plateau_patience", s.plateau.patience, "plateau: patience (scheduler steps)");
  add_option(command, "plateau_threshold", s.plateau.threshold, "plateau: threshold");
  add_option(command, "plateau_threshold_mode", s.plateau.threshold_mode, "plateau: rel or abs");
  add_option(command, "plateau_cooldown", s.plateau.cooldown, "plateau: cooldown");
  add_option(command, "plateau_min_lr", s.plateau.min_lr, "plateau: lower lr bound");
  add_option(command, "plateau_eps", s.plateau.eps, "plateau: minimal lr change");
  add_option(command, "plateau_steps_per_epoch", s.plateau.steps_per_epoch, "plateau: scheduler steps per epoch when monitoring the training loss");
  add_option(command, "plateau_monitor", c.plateau_monitor, "plateau: train_loss, val_loss or a validation metric (abs_rel, d1, ...)");
  add_option(command, "cyclic_base_lr", s.cyclic.base_lr, "cyclic: lower lr");
  add_option(command, "cyclic_max_lr", s.cyclic.max_lr, "cyclic: upper lr");
  add_option(command, "cyclic_step_size_up", s.cyclic.step_size_up, "cyclic: iterations up");
  add_option(command, "cyclic_step_size_down", s.cyclic.step_size_down, "cyclic: iterations down (0: = up)");
  add_option(command, "cyclic_mode", s.cyclic.mode, "cyclic: triangular, triangular2, exp_range");
  add_option(command, "cyclic_gamma", s.cyclic.gamma, "cyclic: exp_range gamma");
  add_option(command, "cyclic_base_momentum", s.cyclic.base_momentum, "cyclic: momentum at the lr peak");
  add_option(command, "cyclic_max_momentum", s.cyclic.max_momentum, "cyclic: momentum at the lr trough");
  add_option(command, "warmup_steps", s.cosine.warmup_steps, "cosine: linear warm-up iterations");
  add_option(command, "cosine_min_lr", s.cosine.min_lr, "cosine: final lr");
  add_option(command, "clip_grad", c.clip_grad, "clip gradients to this global L2 norm (0: off; the seed used 1.0)");
  add_option(command, "max_nonfinite", c.max_nonfinite, "stop after this many non-finite steps in a row");
  add_option(command, "silog_lambda", c.silog_lambda, "SiLog variance weight");
  add_option(command, "max_steps_per_epoch", c.max_steps_per_epoch, "cut epochs to this many steps (0: whole epochs)");
  add_option(command, "stop_after_steps", c.stop_after_steps, "stop as if interrupted after this global step, checkpoint written (0: off)");

  add_option(command, "val_freq", c.val_freq, "validate every N epochs (0: never)");
  add_option(command, "val_batch_size", c.val_batch_size, "validation batch size");
  add_option(command, "kitti_crop", c.kitti_crop, "KITTI evaluation crop: garg, eigen or none");
  add_option(command, "protocol", c.protocol, "KITTI protocol: kb-crop or full-frame");
  add_option(command, "best_metric", c.best_metric, "validation metric that picks best.ckpt (abs_rel, rmse, d1, val_loss, ...)");
  add_option(command, "save_freq", c.save_freq, "also keep epoch_XX.ckpt every N epochs (0: off)");
  add_flag(command, "save_model", c.save_model, "keep epoch_XX.ckpt at every validation");
  add_flag(command, "save_result", c.save_result, "write validation predictions as 16-bit PNGs (dataset scale)");
  add_option(command, "resume", c.resume, "continue from a checkpoint path, or auto (last.ckpt of the run folder)");
  add_option(command, "log_dir", c.log_dir, "log root; runs go to <log_dir>/<dataset>/<exp_name>");
  add_option(command, "exp_name", c.exp_name, "experiment name (a new folder _2, _3... if it is taken)");
  add_option(command, "log_every", c.log_every, "train.csv / TensorBoard row every N steps");
  add_option(command, "seed", c.seed, "random seed (data order, augmentation, initialisation)");
  add_option(command, "amp", c.amp, "mixed precision on CUDA: none, bf16 or fp16");
  add_flag(command, "channels_last", c.channels_last, "channels-last memory format");
  add_option(command, "dist_backend", c.dist_backend, "distributed backend: nccl or gloo (default by device)");
  add_option(command, "dist_port", c.dist_port, "rendezvous port when launched by Slurm");
  add_option(command, "dist_timeout", c.dist_timeout, "seconds before a lost rank fails the others");
  add_flag(command, "sync_bn", c.sync_bn, "synchronise decoder BatchNorm statistics across ranks");
  add_flag(command, "verify_replicas", c.verify_replicas, "check after every step that all ranks hold identical weights (debugging)");
  command.callback([config, &common, &command] { run_train(*config, common, command); });
}

}  // namespace

GLPDEPTH_COMMAND({"train", "Train or fine-tune GLPDepth", 10, setup_train});

}  // namespace glpdepth::cli
