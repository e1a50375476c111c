// Phase 6: the epochs (run_setup.h): steps, step checkpoints, validation, epoch checkpoints.
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
#include "glpdepth/train/validation.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/progress.h"
#include "glpdepth/version.h"
#include "run_logs.h"

namespace glpdepth::training {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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
    TrainProgress& p = state_.progress;
    const ValidationOutcome outcome = run_validation(
        [&predictor](const torch::Tensor& images, const torch::Tensor& intrinsics) {
          return predictor.predict(images, intrinsics);
        },
        *data_.val_loader, options, *ctx_.group, best_, p.best_epoch > 0, p.best_value);
    const EvaluateResult& result = outcome.result;
    bar.finish();
    model_->train();
    report_validation(epoch, result);
    if (ctx_.is_main()) write_preview(predictor);
    model_->train();
    if (o_.plateau_on_validation) {
      o_.schedule->step(BestMetric(c.validation.plateau_monitor).value_of(result));
      o_.schedule->apply(*o_.optimizer);
    }
    if (outcome.improved) {
      p.best_value = outcome.value;
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
          {"encoder", to_string(model_->options().encoder)}, {"recipe", to_string(c.loop.recipe)},
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

TrainResult run_epochs(RunContext& ctx, TrainData& data, GLPDepth& model, Optimisation& o,
                       RunState& state) {
  return TrainLoop(ctx, data, model, o, state).run();
}

}  // namespace glpdepth::training
