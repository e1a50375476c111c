// The run's logs: the train.csv window of steps, and train.csv, metrics.csv and TensorBoard
// (rank 0 only). Private to the library.
#pragma once
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "glpdepth/eval/evaluator.h"
#include "glpdepth/train/log.h"
#include "glpdepth/train/step.h"
#include "run_setup.h"

namespace glpdepth::training {

// Losses, norms and images over the steps between two train.csv rows. The loss of a step the
// fp16 scaler skipped is still a real loss (only its gradients overflowed), so it counts; its
// gradient norm (inf) does not.
// Its sums travel in checkpoints (TrainProgress::window), its clock does not.
struct StepWindow : LogWindowSums {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
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
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - window.start).count();
    const double images_per_s = window.images / std::max(seconds, 1e-9);
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

}  // namespace glpdepth::training
