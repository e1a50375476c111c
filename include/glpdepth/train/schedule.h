// Learning-rate schedules (spec §5.2–5.4) with PyTorch's semantics and their state as plain
// numbers for exact resume. The seed's recipes are in train/config.h.
//
// Usage, as with torch.optim.lr_scheduler: construct (this is PyTorch's initial step), call
// apply(optimizer) once, then after each optimizer.step() decide with step_after_iteration() /
// step_after_epoch() whether to call step(metric) and apply(optimizer) again.
#pragma once
#include <torch/optim.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "glpdepth/train/optim.h"
#include "glpdepth/util/names.h"

namespace glpdepth {

enum class ScheduleKind { kConstant, kPoly, kStep, kPlateau, kCyclic, kCosine };

// "constant", "poly", "step", "plateau", "cyclic", "cosine"; throws glpdepth::Error otherwise.
ScheduleKind parse_schedule_kind(const std::string& name);
std::string to_string(ScheduleKind kind);

// GLPDepth's one-cycle poly, stepped per iteration. With s = 1-based global step and
// T = iters_per_epoch * floor(epochs / 2) (B2: from the real loader length, not 2019):
//   s <  T: lr = min_lr + (max_lr - min_lr) * (s/T)^power
//   s >= T: lr = max_lr - (max_lr - min_lr) * (s/T - 1)^power
// The falling branch undershoots min_lr after 2T as in the original (odd epoch counts); it is
// clamped at 0, or at min_lr with clamp_to_min. With epochs == 1, T = max(1, iters_per_epoch/2).
struct PolyScheduleOptions {
  double min_lr = 3e-5;
  double max_lr = 1e-4;
  double power = 0.9;
  bool clamp_to_min = false;
};

// torch StepLR, stepped per epoch: lr = base_lr * gamma^floor(epoch / step_size).
struct StepScheduleOptions {
  int64_t step_size = 10;
  double gamma = 0.1;
};

// torch ReduceLROnPlateau, stepped `steps_per_epoch` times per epoch with a metric (the seed
// steps 30 times per epoch on the running training loss; every max(1, iters/steps_per_epoch)
// iterations, which also fixes B13).
enum class PlateauMode { kMin, kMax };          // the metric should fall / rise
enum class ThresholdMode { kRel, kAbs };        // improvement relative to best, or absolute
enum class CyclicMode { kTriangular, kTriangular2, kExpRange };
const NameTable<PlateauMode>& plateau_mode_names();      // min, max
const NameTable<ThresholdMode>& threshold_mode_names();  // rel, abs
const NameTable<CyclicMode>& cyclic_mode_names();        // triangular, triangular2, exp_range
// Any case; UsageError listing the names otherwise.
PlateauMode parse_plateau_mode(const std::string& name);
ThresholdMode parse_threshold_mode(const std::string& name);
CyclicMode parse_cyclic_mode(const std::string& name);
std::string to_string(PlateauMode mode);
std::string to_string(ThresholdMode mode);
std::string to_string(CyclicMode mode);

struct PlateauScheduleOptions {
  PlateauMode mode = PlateauMode::kMin;
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::kRel;
  int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;
  int64_t steps_per_epoch = 1;
};

// torch CyclicLR, stepped per iteration.
// Momentum cycling sets SGD momentum, or betas[0] for Adam/AdamW, between base_momentum (at the
// lr peak) and max_momentum.
struct CyclicScheduleOptions {
  double base_lr = 1e-3;
  double max_lr = 6e-3;
  int64_t step_size_up = 2000;
  int64_t step_size_down = 0;  // 0: same as step_size_up
  CyclicMode mode = CyclicMode::kTriangular;
  double gamma = 1.0;  // exp_range only
  bool cycle_momentum = true;
  double base_momentum = 0.8;
  double max_momentum = 0.9;
};

// Linear warm-up then cosine annealing, stepped per iteration; t = steps():
//   t < W: lr = base_lr * (start + (1 - start) * t / W)
//   else:  lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * min(1, (t - W) / (N - W)))) / 2
// with W = warmup_steps, N = epochs * iters_per_epoch.
struct CosineScheduleOptions {
  int64_t warmup_steps = 0;
  double warmup_start_factor = 0.0;
  double min_lr = 0.0;
};

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::kPoly;
  PolyScheduleOptions poly;
  StepScheduleOptions step;
  PlateauScheduleOptions plateau;
  CyclicScheduleOptions cyclic;
  CosineScheduleOptions cosine;
};

enum class StepUnit { kIteration, kEpoch, kMetric };

using ScheduleState = std::map<std::string, double>;

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual ScheduleKind kind() const = 0;
  virtual StepUnit unit() const = 0;

  // Advances one step (PyTorch's scheduler.step()). The plateau schedule needs the metric;
  // the others ignore it.
  virtual void step(double metric = std::numeric_limits<double>::quiet_NaN());

  // The values to use now.
  virtual double lr() const = 0;
  virtual std::optional<double> momentum() const { return std::nullopt; }
  // step() calls since construction (PyTorch's last_epoch).
  int64_t steps() const { return steps_; }

  // Sets lr (and momentum / betas[0] when the schedule cycles it) on every param group.
  // Throws glpdepth::Error if momentum is cycled on an optimiser without one.
  void apply(torch::optim::Optimizer& optimizer) const;

  // When the training loop should call step(): after iteration `global_step` (1-based), and
  // after each epoch.
  bool step_after_iteration(int64_t global_step) const;
  bool step_after_epoch() const { return unit() == StepUnit::kEpoch; }

  // Everything needed to continue exactly (all finite numbers, JSON-safe).
  virtual ScheduleState state() const;
  // Throws glpdepth::Error if the state belongs to another kind or misses a key.
  virtual void load_state(const ScheduleState& state);

 protected:
  int64_t steps_ = 0;
  int64_t metric_interval_ = 1;  // kMetric: iterations between steps
};

class ConstantSchedule : public LrSchedule {
 public:
  explicit ConstantSchedule(double lr) : lr_(lr) {}
  ScheduleKind kind() const override { return ScheduleKind::kConstant; }
  StepUnit unit() const override { return StepUnit::kIteration; }
  double lr() const override { return lr_; }

 private:
  double lr_;
};

class PolySchedule : public LrSchedule {
 public:
  PolySchedule(const PolyScheduleOptions& options, int64_t iters_per_epoch, int64_t epochs);
  ScheduleKind kind() const override { return ScheduleKind::kPoly; }
  StepUnit unit() const override { return StepUnit::kIteration; }
  double lr() const override { return lr_at(steps_ + 1); }
  // lr for 1-based global step s.
  double lr_at(int64_t s) const;
  int64_t period() const { return period_; }

 private:
  PolyScheduleOptions options_;
  int64_t period_;
};

class StepSchedule : public LrSchedule {
 public:
  StepSchedule(const StepScheduleOptions& options, double base_lr);
  ScheduleKind kind() const override { return ScheduleKind::kStep; }
  StepUnit unit() const override { return StepUnit::kEpoch; }
  double lr() const override;

 private:
  StepScheduleOptions options_;
  double base_lr_;
};

class PlateauSchedule : public LrSchedule {
 public:
  PlateauSchedule(const PlateauScheduleOptions& options, double base_lr, int64_t iters_per_epoch);
  ScheduleKind kind() const override { return ScheduleKind::kPlateau; }
  StepUnit unit() const override { return StepUnit::kMetric; }
  void step(double metric) override;
  double lr() const override { return lr_; }
  ScheduleState state() const override;
  void load_state(const ScheduleState& state) override;
  int64_t num_bad_steps() const { return num_bad_; }
  // Steps with a reduced lr so far (for logs and tests).
  int64_t reductions() const { return reductions_; }

 private:
  bool is_better(double a) const;
  PlateauScheduleOptions options_;
  bool maximize_;
  bool relative_;
  double lr_;
  bool has_best_ = false;
  double best_ = 0.0;
  int64_t num_bad_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t reductions_ = 0;
};

class CyclicSchedule : public LrSchedule {
 public:
  explicit CyclicSchedule(const CyclicScheduleOptions& options);
  ScheduleKind kind() const override { return ScheduleKind::kCyclic; }
  StepUnit unit() const override { return StepUnit::kIteration; }
  double lr() const override;
  std::optional<double> momentum() const override;

 private:
  // (scale_factor, scale) at the current step.
  std::pair<double, double> shape() const;
  CyclicScheduleOptions options_;
};

class CosineSchedule : public LrSchedule {
 public:
  CosineSchedule(const CosineScheduleOptions& options, double base_lr, int64_t iters_per_epoch,
                 int64_t epochs);
  ScheduleKind kind() const override { return ScheduleKind::kCosine; }
  StepUnit unit() const override { return StepUnit::kIteration; }
  double lr() const override;

 private:
  CosineScheduleOptions options_;
  double base_lr_;
  int64_t total_;
};

// base_lr: the optimiser's lr (used by constant, step, plateau, cosine; poly and cyclic carry
// their own lr bounds, as in the seed). Throws glpdepth::Error on invalid options.
std::unique_ptr<LrSchedule> make_schedule(const ScheduleOptions& options, double base_lr,
                                          int64_t iters_per_epoch, int64_t epochs);

}  // namespace glpdepth
