#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "glpdepth/train/config.h"
#include "glpdepth/train/schedule.h"
#include "glpdepth/util/error.h"
#include "train_test_util.h"

namespace glpdepth {
namespace {

// The optimiser and schedule a recipe sets on a default configuration.
TrainConfig recipe(const std::string& name) {
  TrainConfig config;
  apply_recipe(config, parse_recipe(name));
  return config;
}

TEST(PolySchedule, SpecValuesWithTheSeedsPeriod) {
  // NYU, batch 12: 2019 iterations per epoch, 25 epochs -> T = 2019 * 12 = 24228.
  PolySchedule s({}, 2019, 25);
  EXPECT_EQ(s.period(), 24228);
  EXPECT_NEAR(s.lr_at(1), 3.0008e-5, 5e-10);
  EXPECT_DOUBLE_EQ(s.lr_at(24228), 1e-4);
  EXPECT_NEAR(s.lr_at(48456), 3e-5, 1e-15);
  EXPECT_NEAR(s.lr_at(50475), 2.48e-5, 5e-8);  // the documented undershoot of epoch 25
  // lr() is the value for the next 1-based global step.
  EXPECT_DOUBLE_EQ(s.lr(), s.lr_at(1));
  s.step();
  EXPECT_DOUBLE_EQ(s.lr(), s.lr_at(2));
}

TEST(PolySchedule, PeriodComesFromTheRealLoaderLength) {
  // B2: 1929 KITTI iterations per epoch, 25 epochs -> peak exactly at the end of epoch 12.
  PolySchedule kitti({}, 1929, 25);
  EXPECT_EQ(kitti.period(), 1929 * 12);
  EXPECT_DOUBLE_EQ(kitti.lr_at(1929 * 12), 1e-4);
  PolyScheduleOptions o;
  o.min_lr = 1e-5;
  o.max_lr = 2e-4;
  PolySchedule odd(o, 10, 3);  // T = 10; runs to 3T, where the original formula goes negative
  EXPECT_DOUBLE_EQ(odd.lr_at(10), 2e-4);
  EXPECT_DOUBLE_EQ(odd.lr_at(20), 1e-5);
  EXPECT_EQ(odd.lr_at(30), 0.0);
  o.clamp_to_min = true;
  EXPECT_DOUBLE_EQ(PolySchedule(o, 10, 3).lr_at(30), 1e-5);
  EXPECT_EQ(PolySchedule({}, 10, 1).period(), 5);  // one epoch: half of it
}

TEST(StepSchedule, HandSequence) {
  StepSchedule s({3, 0.1}, 1.0);
  const double expected[] = {1, 1, 1, 0.1, 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.001};
  for (int i = 0; i < 10; ++i) {
    EXPECT_DOUBLE_EQ(s.lr(), expected[i]) << i;
    s.step();
  }
  EXPECT_TRUE(s.step_after_epoch());
  EXPECT_FALSE(s.step_after_iteration(5));
}

std::vector<double> run_plateau(const PlateauScheduleOptions& o, const std::vector<double>& m) {
  PlateauSchedule s(o, 1.0, 100);
  std::vector<double> lrs;
  for (double v : m) {
    s.step(v);
    lrs.push_back(s.lr());
  }
  return lrs;
}

TEST(PlateauSchedule, PatienceCooldownAbsoluteThreshold) {
  PlateauScheduleOptions o;
  o.mode = PlateauMode::kMin;
  o.factor = 0.5;
  o.patience = 2;
  o.threshold = 0.1;
  o.threshold_mode = ThresholdMode::kAbs;
  o.cooldown = 1;
  // Worked by hand: 9.95 is not 0.1 below 10, so steps 2-4 are bad; the 3rd bad step (> patience)
  // at step 4 halves the lr and starts a 1-step cooldown; step 5 is bad but the cooldown resets
  // the count; steps 6-8 are bad -> halve at step 8; step 9 improves; 10-12 bad -> halve at 12.
  const std::vector<double> m = {10, 9.95, 9.95, 9.95, 9.95, 9.95, 9.95, 9.95, 5, 5, 5, 5};
  const std::vector<double> expected = {1, 1, 1, .5, .5, .5, .5, .25, .25, .25, .25, .125};
  EXPECT_EQ(run_plateau(o, m), expected);
}

TEST(PlateauSchedule, RelativeThresholdAndMaxMode) {
  PlateauScheduleOptions o;
  o.factor = 0.1;
  o.patience = 1;
  o.threshold = 0.1;  // rel: better means < 0.9 * best
  // 10 (best), 9.5 bad (not < 9), 8.9 better, 8.5 bad, 8.4 bad -> reduce at step 5.
  EXPECT_EQ(run_plateau(o, {10, 9.5, 8.9, 8.5, 8.4}), (std::vector<double>{1, 1, 1, 1, 0.1}));
  o.threshold_mode = ThresholdMode::kAbs;  // abs 0.1: 9.5 and 8.9 and 8.5 and 8.4 all improve
  EXPECT_EQ(run_plateau(o, {10, 9.5, 8.9, 8.5, 8.4}), (std::vector<double>{1, 1, 1, 1, 1}));
  o.mode = PlateauMode::kMax;
  o.threshold_mode = ThresholdMode::kRel;  // better means > 1.1 * best
  EXPECT_EQ(run_plateau(o, {1, 1.05, 1.2, 1.3, 1.25}), (std::vector<double>{1, 1, 1, 1, 0.1}));
}

TEST(PlateauSchedule, MinLrEpsAndNonFiniteMetrics) {
  PlateauScheduleOptions o;
  o.factor = 0.5;
  o.patience = 0;
  o.min_lr = 0.3;
  // Every step after the first is bad (patience 0): 0.5, then max(0.25, 0.3) = 0.3, then the
  // change 0 is not above eps -> stays.
  EXPECT_EQ(run_plateau(o, {1, 1, 1, 1}), (std::vector<double>{1, 0.5, 0.3, 0.3}));
  o.min_lr = 0;
  o.eps = 0.3;  // 1 -> 0.5 is a change of 0.5 > eps; 0.5 -> 0.25 only 0.25: skipped
  EXPECT_EQ(run_plateau(o, {1, 1, 1, 1}), (std::vector<double>{1, 0.5, 0.5, 0.5}));
  // NaN never improves.
  o.eps = 1e-8;
  EXPECT_EQ(run_plateau(o, {NAN, NAN}), (std::vector<double>{0.5, 0.25}));
}

TEST(PlateauSchedule, SteppedThirtyTimesPerEpochWithoutDividingByZero) {
  TrainConfig r = recipe("plateau");
  auto small = make_schedule(r.schedule, 2e-4, 20, 10);  // B13: 20 < 30 batches
  for (int64_t i = 1; i <= 20; ++i) EXPECT_TRUE(small->step_after_iteration(i));
  auto big = make_schedule(r.schedule, 2e-4, 305, 10);  // every int(305/30) = 10 iterations
  EXPECT_FALSE(big->step_after_iteration(9));
  EXPECT_TRUE(big->step_after_iteration(10));
  EXPECT_TRUE(big->step_after_iteration(300));
  EXPECT_FALSE(big->step_after_epoch());
}

TEST(CyclicSchedule, SpecTriangular2Values) {
  TrainConfig r = recipe("cyclic");
  auto s = make_schedule(r.schedule, r.optim.lr, 100, 10);
  std::map<int, std::pair<double, double>> expected = {
      {0, {0.005, 0.9}}, {2500, {0.05, 0.8}}, {5000, {0.005, 0.9}}, {12500, {0.01625, 0.875}}};
  for (int it = 0; it <= 12500; ++it) {
    auto e = expected.find(it);
    if (e != expected.end()) {
      EXPECT_NEAR(s->lr(), e->second.first, 1e-15) << it;
      ASSERT_TRUE(s->momentum().has_value());
      EXPECT_NEAR(*s->momentum(), e->second.second, 1e-15) << it;
    }
    s->step();
  }
}

TEST(CyclicSchedule, TriangularAndExpRangeByHand) {
  CyclicScheduleOptions o;
  o.base_lr = 1;
  o.max_lr = 3;
  o.step_size_up = 2;
  o.step_size_down = 4;
  o.cycle_momentum = false;
  CyclicSchedule tri(o);
  // Up 1 -> 3 in 2 steps, down in 4, repeat.
  const double expected[] = {1, 2, 3, 2.5, 2, 1.5, 1, 2, 3};
  for (double e : expected) {
    EXPECT_DOUBLE_EQ(tri.lr(), e);
    tri.step();
  }
  EXPECT_FALSE(tri.momentum().has_value());
  o.mode = CyclicMode::kExpRange;
  o.gamma = 0.5;
  CyclicSchedule ex(o);
  ex.step();  // it = 1: halfway up, scaled by 0.5^1
  EXPECT_DOUBLE_EQ(ex.lr(), 1 + 2 * 0.5 * 0.5);
  ex.step();  // it = 2: peak, scaled by 0.25
  EXPECT_DOUBLE_EQ(ex.lr(), 1 + 2 * 0.25);
}

TEST(CosineSchedule, WarmupThenCosine) {
  CosineScheduleOptions o;
  o.warmup_steps = 10;
  auto s = make_schedule({ScheduleKind::kCosine, {}, {}, {}, {}, o}, 1.0, 11, 10);
  std::map<int, double> expected = {{0, 0.0},  {5, 0.5},   {10, 1.0},
                                    {60, 0.5}, {110, 0.0}, {150, 0.0}};
  for (int t = 0; t <= 150; ++t) {
    auto e = expected.find(t);
    if (e != expected.end()) {
      EXPECT_NEAR(s->lr(), e->second, 1e-12) << t;
    }
    s->step();
  }
  o.min_lr = 0.1;
  o.warmup_start_factor = 0.2;
  CosineSchedule c(o, 1.0, 11, 10);
  EXPECT_NEAR(c.lr(), 0.2, 1e-15);
  for (int t = 0; t < 60; ++t) c.step();
  EXPECT_NEAR(c.lr(), 0.55, 1e-12);
}

TEST(LrSchedule, ApplySetsLrAndMomentumOnEveryGroup) {
  torch::Tensor a = torch::ones({2}).requires_grad_(true),
                b = torch::ones({2, 2}).requires_grad_(true);
  TrainConfig r = recipe("cyclic");
  r.optim.no_decay_norm_bias = true;
  r.optim.weight_decay = 1e-4;  // two groups
  auto sgd = make_optimizer({a, b}, r.optim);
  ASSERT_EQ(sgd->param_groups().size(), 2u);
  auto s = make_schedule(r.schedule, r.optim.lr, 100, 10);
  for (int i = 0; i < 2500; ++i) s->step();
  s->apply(*sgd);
  for (auto& g : sgd->param_groups()) {
    auto& o = static_cast<torch::optim::SGDOptions&>(g.options());
    EXPECT_NEAR(o.lr(), 0.05, 1e-15);
    EXPECT_NEAR(o.momentum(), 0.8, 1e-15);
  }
  // Adam: betas[0] carries the momentum, betas[1] is kept.
  OptimOptions adam;
  adam.beta2 = 0.95;
  auto opt = make_optimizer({a}, adam);
  s->apply(*opt);
  auto& ao = static_cast<torch::optim::AdamOptions&>(opt->param_groups()[0].options());
  EXPECT_NEAR(std::get<0>(ao.betas()), 0.8, 1e-15);
  EXPECT_EQ(std::get<1>(ao.betas()), 0.95);
  torch::optim::RMSprop rms(std::vector<torch::Tensor>{a});
  EXPECT_THROW(s->apply(rms), Error);
  // Without momentum cycling only the lr changes.
  StepSchedule st({1, 0.5}, 0.2);
  st.step();
  st.apply(rms);
  EXPECT_DOUBLE_EQ(rms.param_groups()[0].options().get_lr(), 0.1);
}

// Every kind: stop mid-way, save the numbers, build a fresh schedule, load, continue.
TEST(LrSchedule, StateRoundTripContinuesIdentically) {
  std::vector<ScheduleOptions> all;
  for (auto kind : {ScheduleKind::kConstant, ScheduleKind::kPoly, ScheduleKind::kStep,
                    ScheduleKind::kPlateau, ScheduleKind::kCyclic, ScheduleKind::kCosine}) {
    ScheduleOptions o;
    o.kind = kind;
    o.step.step_size = 3;
    o.plateau.patience = 2;
    o.plateau.cooldown = 2;
    o.plateau.factor = 0.5;
    o.cyclic.step_size_up = 5;
    o.cyclic.mode = CyclicMode::kTriangular2;
    o.cosine.warmup_steps = 4;
    all.push_back(o);
  }
  auto metric = [](int i) { return 1.0 + 0.3 * std::sin(i * 0.7) + (i % 5 == 0 ? -0.5 : 0.0); };
  for (const auto& o : all) {
    auto full = make_schedule(o, 0.1, 8, 5);
    auto first = make_schedule(o, 0.1, 8, 5);
    std::vector<double> expected;
    for (int i = 0; i < 40; ++i) {
      full->step(metric(i));
      expected.push_back(full->lr() + full->momentum().value_or(0) * 1000);
    }
    for (int i = 0; i < 17; ++i) first->step(metric(i));
    const ScheduleState saved = first->state();
    for (const auto& [key, value] : saved) EXPECT_TRUE(std::isfinite(value)) << key;
    auto resumed = make_schedule(o, 0.1, 8, 5);
    resumed->load_state(saved);
    EXPECT_EQ(resumed->steps(), 17);
    for (int i = 17; i < 40; ++i) {
      resumed->step(metric(i));
      EXPECT_EQ(resumed->lr() + resumed->momentum().value_or(0) * 1000, expected[i])
          << to_string(o.kind) << " step " << i;
    }
  }
  // A state of another kind is refused.
  auto plateau = make_schedule(all[3], 0.1, 8, 5);
  auto step = make_schedule(all[2], 0.1, 8, 5);
  EXPECT_THROW(step->load_state(plateau->state()), Error);
  ScheduleState missing = plateau->state();
  missing.erase("num_bad");
  EXPECT_THROW(plateau->load_state(missing), Error);
}

TEST(Schedules, KindNames) {
  EXPECT_EQ(parse_schedule_kind("Cyclic"), ScheduleKind::kCyclic);
  EXPECT_THROW(parse_schedule_kind("onecycle"), Error);
}

// Long sequences against torch.optim.lr_scheduler itself (Debian's python3-torch 1.13, whose
// CyclicLR cycles SGD momentum only; the betas[0] variant of later PyTorch is covered by
// ApplySetsLrAndMomentumOnEveryGroup).
const char* kTorchSchedules = R"PY(
import math, sys, torch
metrics = [float(x) for x in open(sys.argv[1]).read().split()]
def sgd():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.95)
def emit(name, opt, sched, n, metric=False):
    for i in range(n):
        g = opt.param_groups[0]
        mom = g['momentum'] if 'momentum' in g else g['betas'][0]
        print(name, i, repr(g['lr']), repr(mom))
        opt.step()
        if metric: sched.step(metrics[i])
        else: sched.step()
o = sgd(); emit('step', o, torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.3), 60)
o = sgd(); emit('cyc_tri2', o, torch.optim.lr_scheduler.CyclicLR(o, 0.005, 0.05, step_size_up=250, mode='triangular2', base_momentum=0.8, max_momentum=0.9), 3000)
o = sgd(); emit('cyc_tri', o, torch.optim.lr_scheduler.CyclicLR(o, 0.001, 0.01, step_size_up=37, step_size_down=91, mode='triangular', base_momentum=0.85, max_momentum=0.95), 1000)
o = sgd(); emit('cyc_exp', o, torch.optim.lr_scheduler.CyclicLR(o, 0.001, 0.01, step_size_up=50, mode='exp_range', gamma=0.999, base_momentum=0.8, max_momentum=0.9), 1000)
o = sgd(); emit('plat_min_abs', o, torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode='min', factor=0.5, patience=10, threshold=3e-4, threshold_mode='abs'), len(metrics), True)
o = sgd(); emit('plat_min_rel', o, torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode='min', factor=0.7, patience=3, threshold=1e-2, cooldown=4, min_lr=0.01), len(metrics), True)
o = sgd(); emit('plat_max_abs', o, torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode='max', factor=0.5, patience=5, threshold=0.05, threshold_mode='abs', cooldown=2, eps=1e-3), len(metrics), True)
)PY";

TEST(LrSchedule, MatchesPyTorchOverLongSequences) {
  if (!test::python_has_torch()) GTEST_SKIP() << "no Python with torch at " << GLPDEPTH_TEST_PYTHON;
  test::TempDir dir;
  // A noisy, mostly decreasing metric with plateaus (written with full precision).
  std::vector<double> metrics;
  std::ostringstream text;
  text.precision(17);
  for (int i = 0; i < 600; ++i) {
    const double v = 1.0 / (1.0 + 0.01 * std::min(i, 250)) + 0.02 * std::sin(0.37 * i) +
                     (i % 97 == 0 ? 0.1 : 0.0);
    metrics.push_back(v);
    text << v << "\n";
  }
  test::write_text(dir.path() / "metrics.txt", text.str());
  const std::string out = test::run_python(dir.path(), "schedules.py", kTorchSchedules,
                                           "'" + (dir.path() / "metrics.txt").string() + "'");
  ASSERT_FALSE(out.empty());

  auto make = [](const std::string& name) -> std::unique_ptr<LrSchedule> {
    ScheduleOptions o;
    if (name == "step") {
      o.kind = ScheduleKind::kStep;
      o.step = {7, 0.3};
    } else if (name.rfind("cyc", 0) == 0) {
      o.kind = ScheduleKind::kCyclic;
      o.cyclic.base_lr = name == "cyc_tri2" ? 0.005 : 0.001;
      o.cyclic.max_lr = name == "cyc_tri2" ? 0.05 : 0.01;
      o.cyclic.step_size_up = name == "cyc_tri2" ? 250 : name == "cyc_tri" ? 37 : 50;
      o.cyclic.step_size_down = name == "cyc_tri" ? 91 : 0;
      o.cyclic.mode = name == "cyc_tri2"  ? CyclicMode::kTriangular2
                      : name == "cyc_tri" ? CyclicMode::kTriangular
                                          : CyclicMode::kExpRange;
      o.cyclic.gamma = 0.999;
      o.cyclic.base_momentum = name == "cyc_tri" ? 0.85 : 0.8;
      o.cyclic.max_momentum = name == "cyc_tri" ? 0.95 : 0.9;
    } else {
      o.kind = ScheduleKind::kPlateau;
      auto& p = o.plateau;
      if (name == "plat_min_abs") {
        p.factor = 0.5, p.patience = 10, p.threshold = 3e-4, p.threshold_mode = ThresholdMode::kAbs;
      } else if (name == "plat_min_rel") {
        p.factor = 0.7, p.patience = 3, p.threshold = 1e-2, p.cooldown = 4, p.min_lr = 0.01;
      } else {
        p.mode = PlateauMode::kMax, p.factor = 0.5, p.patience = 5, p.threshold = 0.05;
        p.threshold_mode = ThresholdMode::kAbs, p.cooldown = 2, p.eps = 1e-3;
      }
    }
    return make_schedule(o, 0.1, 100, 10);
  };

  std::istringstream lines(out);
  std::string name, current;
  int64_t i = 0;
  double lr = 0, mom = 0;
  std::unique_ptr<LrSchedule> s;
  std::map<std::string, int> counts;
  int reductions = 0;
  double previous_lr = 0;
  while (lines >> name >> i >> lr >> mom) {
    if (name != current) {
      current = name;
      s = make(name);
      ASSERT_EQ(i, 0);
      previous_lr = lr;
    } else {
      // Only the plateau schedules read the metric, over its 600 values; the others run longer
      // (ASan found this read past the end before the bound).
      const size_t at = static_cast<size_t>(i - 1);
      s->step(at < metrics.size() ? metrics[at] : 0.0);
    }
    ASSERT_NEAR(s->lr(), lr, 1e-15 + 1e-13 * lr) << name << " step " << i;
    if (s->momentum()) {
      ASSERT_NEAR(*s->momentum(), mom, 1e-14) << name << " step " << i;
    }
    if (name.rfind("plat", 0) == 0 && lr != previous_lr) ++reductions;
    previous_lr = lr;
    ++counts[name];
  }
  EXPECT_EQ(counts.size(), 7u);
  EXPECT_EQ(counts["cyc_tri2"], 3000);
  EXPECT_EQ(counts["plat_min_abs"], 600);
  EXPECT_GE(reductions, 6);  // the metric sequence does exercise the plateau logic
}

}  // namespace
}  // namespace glpdepth
