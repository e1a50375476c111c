#include "glpdepth/train/schedule.h"

#include <torch/torch.h>

#include <cctype>
#include <cmath>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace {


double get(const ScheduleState& state, const std::string& key) {
  auto it = state.find(key);
  check(it != state.end(), "schedule state: missing '", key, "'");
  check(std::isfinite(it->second), "schedule state: '", key, "' is not finite");
  return it->second;
}

int64_t get_count(const ScheduleState& state, const std::string& key) {
  double v = get(state, key);
  check(v >= 0 && v == std::floor(v) && v < 9007199254740992.0, "schedule state: '", key,
        "' must be a non-negative integer, got ", v);
  return static_cast<int64_t>(v);
}

}  // namespace

const NameTable<PlateauMode>& plateau_mode_names() {
  static const NameTable<PlateauMode> names = {{"min", PlateauMode::kMin}, {"max", PlateauMode::kMax}};
  return names;
}
const NameTable<ThresholdMode>& threshold_mode_names() {
  static const NameTable<ThresholdMode> names = {{"rel", ThresholdMode::kRel},
                                                 {"abs", ThresholdMode::kAbs}};
  return names;
}
const NameTable<CyclicMode>& cyclic_mode_names() {
  static const NameTable<CyclicMode> names = {{"triangular", CyclicMode::kTriangular},
                                              {"triangular2", CyclicMode::kTriangular2},
                                              {"exp_range", CyclicMode::kExpRange}};
  return names;
}
PlateauMode parse_plateau_mode(const std::string& name) {
  return parse_name(plateau_mode_names(), to_lower(name), "plateau mode");
}
ThresholdMode parse_threshold_mode(const std::string& name) {
  return parse_name(threshold_mode_names(), to_lower(name), "plateau threshold mode");
}
CyclicMode parse_cyclic_mode(const std::string& name) {
  return parse_name(cyclic_mode_names(), to_lower(name), "cyclic mode");
}
std::string to_string(PlateauMode mode) { return name_of(plateau_mode_names(), mode); }
std::string to_string(ThresholdMode mode) { return name_of(threshold_mode_names(), mode); }
std::string to_string(CyclicMode mode) { return name_of(cyclic_mode_names(), mode); }

ScheduleKind parse_schedule_kind(const std::string& name) {
  const std::string n = to_lower(name);
  if (n == "constant") return ScheduleKind::kConstant;
  if (n == "poly") return ScheduleKind::kPoly;
  if (n == "step") return ScheduleKind::kStep;
  if (n == "plateau") return ScheduleKind::kPlateau;
  if (n == "cyclic") return ScheduleKind::kCyclic;
  if (n == "cosine") return ScheduleKind::kCosine;
  throw Error(cat("unknown schedule '", name,
                  "' (expected constant, poly, step, plateau, cyclic or cosine)"));
}

std::string to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant:
      return "constant";
    case ScheduleKind::kPoly:
      return "poly";
    case ScheduleKind::kStep:
      return "step";
    case ScheduleKind::kPlateau:
      return "plateau";
    case ScheduleKind::kCyclic:
      return "cyclic";
    case ScheduleKind::kCosine:
      return "cosine";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// LrSchedule

void LrSchedule::step(double) {
  ++steps_;
}

void LrSchedule::apply(torch::optim::Optimizer& optimizer) const {
  const double lr_now = lr();
  const std::optional<double> m = momentum();
  for (auto& group : optimizer.param_groups()) {
    auto& options = group.options();
    options.set_lr(lr_now);
    if (!m) continue;
    if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&options)) {
      sgd->momentum(*m);
    } else if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&options)) {
      adam->betas(std::make_tuple(*m, std::get<1>(adam->betas())));
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&options)) {
      adamw->betas(std::make_tuple(*m, std::get<1>(adamw->betas())));
    } else {
      throw Error(cat("schedule ", to_string(kind()),
                      ": momentum cycling needs SGD, Adam or AdamW (turn cycle_momentum off)"));
    }
  }
}

bool LrSchedule::step_after_iteration(int64_t global_step) const {
  switch (unit()) {
    case StepUnit::kIteration:
      return true;
    case StepUnit::kEpoch:
      return false;
    case StepUnit::kMetric:
      return global_step % metric_interval_ == 0;
  }
  return false;
}

ScheduleState LrSchedule::state() const {
  return {{"kind", static_cast<double>(static_cast<int>(kind()))},
          {"steps", static_cast<double>(steps_)}};
}

void LrSchedule::load_state(const ScheduleState& state) {
  const double k = get(state, "kind");
  check(k == static_cast<int>(kind()), "schedule state: saved for another schedule (kind ", k,
        "), this one is ", to_string(kind()));
  steps_ = get_count(state, "steps");
}

// ---------------------------------------------------------------------------------------------
// PolySchedule

PolySchedule::PolySchedule(const PolyScheduleOptions& options, int64_t iters_per_epoch,
                           int64_t epochs)
    : options_(options) {
  check(iters_per_epoch > 0, "poly schedule: iterations per epoch must be > 0, got ",
        iters_per_epoch);
  check(epochs > 0, "poly schedule: epochs must be > 0, got ", epochs);
  check(options.min_lr >= 0 && options.max_lr > 0, "poly schedule: lrs must be positive");
  check(options.power > 0, "poly schedule: power must be > 0, got ", options.power);
  const int64_t half = epochs / 2;
  period_ = half > 0 ? iters_per_epoch * half : std::max<int64_t>(1, iters_per_epoch / 2);
}

double PolySchedule::lr_at(int64_t s) const {
  const double lo = options_.min_lr, hi = options_.max_lr;
  const double ratio = static_cast<double>(s) / static_cast<double>(period_);
  if (s < period_) return lo + (hi - lo) * std::pow(ratio, options_.power);
  const double lr = hi - (hi - lo) * std::pow(ratio - 1.0, options_.power);
  return std::max(lr, options_.clamp_to_min ? lo : 0.0);
}

// ---------------------------------------------------------------------------------------------
// StepSchedule

StepSchedule::StepSchedule(const StepScheduleOptions& options, double base_lr)
    : options_(options), base_lr_(base_lr) {
  check(options.step_size > 0, "step schedule: step_size must be > 0, got ", options.step_size);
  check(options.gamma > 0, "step schedule: gamma must be > 0, got ", options.gamma);
}

double StepSchedule::lr() const {
  // PyTorch multiplies the current lr by gamma at each boundary; repeating the products (rather
  // than pow) reproduces its values bit for bit.
  double lr = base_lr_;
  for (int64_t k = options_.step_size; k <= steps_; k += options_.step_size) lr *= options_.gamma;
  return lr;
}

// ---------------------------------------------------------------------------------------------
// PlateauSchedule

PlateauSchedule::PlateauSchedule(const PlateauScheduleOptions& options, double base_lr,
                                 int64_t iters_per_epoch)
    : options_(options), lr_(base_lr) {
  check(options.factor < 1.0 && options.factor >= 0, "plateau schedule: factor must be < 1.0, got ",
        options.factor);
  check(options.patience >= 0 && options.cooldown >= 0,
        "plateau schedule: patience and cooldown must be >= 0");
  check(options.steps_per_epoch > 0, "plateau schedule: steps_per_epoch must be > 0");
  check(iters_per_epoch > 0, "plateau schedule: iterations per epoch must be > 0");
  maximize_ = options.mode == PlateauMode::kMax;
  relative_ = options.threshold_mode == ThresholdMode::kRel;
  metric_interval_ = std::max<int64_t>(1, iters_per_epoch / options.steps_per_epoch);
}

bool PlateauSchedule::is_better(double a) const {
  // No best yet is PyTorch's best = +-inf: every finite value (and inf of the other sign)
  // improves on it, NaN does not.
  if (!has_best_) return maximize_ ? a > -INFINITY : a < INFINITY;
  const double t = options_.threshold;
  if (!maximize_) return relative_ ? a < best_ * (1.0 - t) : a < best_ - t;
  return relative_ ? a > best_ * (t + 1.0) : a > best_ + t;
}

void PlateauSchedule::step(double metric) {
  ++steps_;
  if (is_better(metric)) {
    best_ = metric;
    has_best_ = true;
    num_bad_ = 0;
  } else {
    ++num_bad_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_ = 0;
  }
  if (num_bad_ > options_.patience) {
    const double new_lr = std::max(lr_ * options_.factor, options_.min_lr);
    if (lr_ - new_lr > options_.eps) {
      lr_ = new_lr;
      ++reductions_;
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_ = 0;
  }
}

ScheduleState PlateauSchedule::state() const {
  ScheduleState s = LrSchedule::state();
  s["lr"] = lr_;
  s["has_best"] = has_best_ ? 1.0 : 0.0;
  // An infinite best (a metric of +-inf) is stored as a flag so the state stays JSON-safe.
  s["best"] = std::isfinite(best_) ? best_ : 0.0;
  s["best_inf"] = std::isinf(best_) ? (best_ > 0 ? 1.0 : -1.0) : 0.0;
  s["num_bad"] = static_cast<double>(num_bad_);
  s["cooldown_counter"] = static_cast<double>(cooldown_counter_);
  s["reductions"] = static_cast<double>(reductions_);
  return s;
}

void PlateauSchedule::load_state(const ScheduleState& s) {
  LrSchedule::load_state(s);
  lr_ = get(s, "lr");
  has_best_ = get(s, "has_best") != 0.0;
  const double inf = get(s, "best_inf");
  best_ = inf == 0.0 ? get(s, "best") : (inf > 0 ? INFINITY : -INFINITY);
  num_bad_ = get_count(s, "num_bad");
  cooldown_counter_ = get_count(s, "cooldown_counter");
  reductions_ = get_count(s, "reductions");
}

// ---------------------------------------------------------------------------------------------
// CyclicSchedule

CyclicSchedule::CyclicSchedule(const CyclicScheduleOptions& options) : options_(options) {
  check(options.step_size_up > 0 && options.step_size_down >= 0,
        "cyclic schedule: step_size_up must be > 0 and step_size_down >= 0");
  check(options.base_lr > 0 && options.max_lr > 0, "cyclic schedule: lrs must be > 0");
  check(options.gamma > 0, "cyclic schedule: gamma must be > 0");
}

std::pair<double, double> CyclicSchedule::shape() const {
  // The same operations, in the same order, as torch.optim.lr_scheduler.CyclicLR.get_lr.
  const double up = static_cast<double>(options_.step_size_up);
  const double down =
      options_.step_size_down > 0 ? static_cast<double>(options_.step_size_down) : up;
  const double total = up + down;
  const double step_ratio = up / total;
  const double it = static_cast<double>(steps_);
  const double cycle = std::floor(1.0 + it / total);
  const double x = 1.0 + it / total - cycle;
  const double scale_factor = x <= step_ratio ? x / step_ratio : (x - 1.0) / (step_ratio - 1.0);
  double scale = 1.0;
  if (options_.mode == CyclicMode::kTriangular2) scale = 1.0 / std::pow(2.0, cycle - 1.0);
  if (options_.mode == CyclicMode::kExpRange) scale = std::pow(options_.gamma, it);  // scale_mode 'iterations'
  return {scale_factor, scale};
}

double CyclicSchedule::lr() const {
  auto [scale_factor, scale] = shape();
  const double base_height = (options_.max_lr - options_.base_lr) * scale_factor;
  return options_.base_lr + base_height * scale;
}

std::optional<double> CyclicSchedule::momentum() const {
  if (!options_.cycle_momentum) return std::nullopt;
  auto [scale_factor, scale] = shape();
  const double base_height = (options_.max_momentum - options_.base_momentum) * scale_factor;
  return options_.max_momentum - base_height * scale;
}

// ---------------------------------------------------------------------------------------------
// CosineSchedule

CosineSchedule::CosineSchedule(const CosineScheduleOptions& options, double base_lr,
                               int64_t iters_per_epoch, int64_t epochs)
    : options_(options), base_lr_(base_lr), total_(iters_per_epoch * epochs) {
  check(iters_per_epoch > 0 && epochs > 0,
        "cosine schedule: iterations per epoch and epochs must be > 0");
  check(options.warmup_steps >= 0, "cosine schedule: warmup_steps must be >= 0");
  check(options.warmup_start_factor >= 0 && options.warmup_start_factor <= 1,
        "cosine schedule: warmup_start_factor must lie in [0, 1]");
}

double CosineSchedule::lr() const {
  const int64_t w = options_.warmup_steps;
  if (steps_ < w) {
    const double f = options_.warmup_start_factor;
    return base_lr_ * (f + (1.0 - f) * static_cast<double>(steps_) / static_cast<double>(w));
  }
  const double span = static_cast<double>(std::max<int64_t>(1, total_ - w));
  const double progress = std::min(1.0, static_cast<double>(steps_ - w) / span);
  return options_.min_lr + (base_lr_ - options_.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

// ---------------------------------------------------------------------------------------------
// Factory and recipes

std::unique_ptr<LrSchedule> make_schedule(const ScheduleOptions& options, double base_lr,
                                          int64_t iters_per_epoch, int64_t epochs) {
  check(base_lr > 0, "schedule: base lr must be > 0, got ", base_lr);
  switch (options.kind) {
    case ScheduleKind::kConstant:
      return std::make_unique<ConstantSchedule>(base_lr);
    case ScheduleKind::kPoly:
      return std::make_unique<PolySchedule>(options.poly, iters_per_epoch, epochs);
    case ScheduleKind::kStep:
      return std::make_unique<StepSchedule>(options.step, base_lr);
    case ScheduleKind::kPlateau:
      return std::make_unique<PlateauSchedule>(options.plateau, base_lr, iters_per_epoch);
    case ScheduleKind::kCyclic:
      return std::make_unique<CyclicSchedule>(options.cyclic);
    case ScheduleKind::kCosine:
      return std::make_unique<CosineSchedule>(options.cosine, base_lr, iters_per_epoch, epochs);
  }
  throw Error("schedule: bad kind");
}

}  // namespace glpdepth
