#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "glpdepth/train/optim.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

// One parameter p (2 values) and a loss whose gradient is the constant c.
struct Tiny {
  torch::Tensor p = torch::tensor({1.0, -2.0}, torch::kDouble).requires_grad_(true);
  std::vector<double> c = {0.3, -0.7};
  void backward(torch::optim::Optimizer& opt) {
    opt.zero_grad();
    (p * torch::tensor(c, torch::kDouble)).sum().backward();
  }
  double at(int i) const { return p[i].item<double>(); }
};

TEST(Optimizer, AdamStepHasCoupledWeightDecay) {
  Tiny t;
  OptimOptions o;
  o.kind = OptimizerKind::kAdam;
  o.lr = 0.1;
  o.weight_decay = 0.05;
  o.beta1 = 0.8;
  o.beta2 = 0.99;
  o.eps = 1e-3;
  auto opt = make_optimizer({t.p}, o);
  const double p0[2] = {1.0, -2.0};
  for (int step = 0; step < 1; ++step) {
    t.backward(*opt);
    opt->step();
  }
  for (int i = 0; i < 2; ++i) {
    const double g = t.c[i] + o.weight_decay * p0[i];  // L2 in the gradient
    const double m = (1 - o.beta1) * g, v = (1 - o.beta2) * g * g;
    const double m_hat = m / (1 - o.beta1);
    const double denom = std::sqrt(v) / std::sqrt(1 - o.beta2) + o.eps;
    EXPECT_NEAR(t.at(i), p0[i] - o.lr * m_hat / denom, 1e-12) << i;
  }
}

TEST(Optimizer, AdamWStepHasDecoupledWeightDecay) {
  Tiny t;
  OptimOptions o;
  o.kind = OptimizerKind::kAdamW;
  o.lr = 0.1;
  o.weight_decay = 0.05;
  o.eps = 1e-3;
  auto opt = make_optimizer({t.p}, o);
  t.backward(*opt);
  opt->step();
  const double p0[2] = {1.0, -2.0};
  for (int i = 0; i < 2; ++i) {
    const double g = t.c[i];
    const double m_hat = (1 - o.beta1) * g / (1 - o.beta1);
    const double denom = std::sqrt((1 - o.beta2) * g * g) / std::sqrt(1 - o.beta2) + o.eps;
    const double expected = p0[i] * (1 - o.lr * o.weight_decay) - o.lr * m_hat / denom;
    EXPECT_NEAR(t.at(i), expected, 1e-12) << i;
  }
}

TEST(Optimizer, SgdMomentumAndNesterovTwoSteps) {
  for (bool nesterov : {false, true}) {
    Tiny t;
    OptimOptions o;
    o.kind = OptimizerKind::kSGD;
    o.lr = 0.5;
    o.momentum = 0.9;
    o.nesterov = nesterov;
    o.weight_decay = 0.1;
    auto opt = make_optimizer({t.p}, o);
    double p[2] = {1.0, -2.0}, buf[2] = {0, 0};
    for (int step = 0; step < 2; ++step) {
      t.backward(*opt);
      opt->step();
      for (int i = 0; i < 2; ++i) {
        const double d = t.c[i] + o.weight_decay * p[i];
        buf[i] = step == 0 ? d : o.momentum * buf[i] + d;  // dampening 0
        const double update = nesterov ? d + o.momentum * buf[i] : buf[i];
        p[i] -= o.lr * update;
        EXPECT_NEAR(t.at(i), p[i], 1e-12) << "nesterov " << nesterov << " step " << step;
      }
    }
  }
}

TEST(Optimizer, NoDecayGroupForBiasesAndNorms) {
  torch::Tensor weight = torch::ones({2, 2}, torch::kDouble).requires_grad_(true);
  torch::Tensor bias = torch::ones({2}, torch::kDouble).requires_grad_(true);
  torch::Tensor frozen = torch::ones({3}, torch::kDouble);  // no grad: skipped
  OptimOptions o;
  o.kind = OptimizerKind::kSGD;
  o.lr = 0.1;
  o.momentum = 0.0;
  o.weight_decay = 0.5;
  o.no_decay_norm_bias = true;
  auto opt = make_optimizer({weight, bias, frozen}, o);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_EQ(opt->param_groups()[0].params().size(), 1u);
  EXPECT_EQ(opt->param_groups()[1].params().size(), 1u);
  opt->zero_grad();
  (weight.sum() + bias.sum()).backward();
  opt->step();
  EXPECT_NEAR(weight[0][0].item<double>(), 1 - 0.1 * (1 + 0.5 * 1), 1e-12);
  EXPECT_NEAR(bias[0].item<double>(), 1 - 0.1 * 1, 1e-12);

  // Default: one group, everything decayed (as the seed).
  o.no_decay_norm_bias = false;
  EXPECT_EQ(make_optimizer({weight, bias}, o)->param_groups().size(), 1u);
}

TEST(Optimizer, ParsingAndValidation) {
  EXPECT_EQ(parse_optimizer_kind("Adam"), OptimizerKind::kAdam);
  EXPECT_EQ(parse_optimizer_kind("adamw"), OptimizerKind::kAdamW);
  EXPECT_EQ(parse_optimizer_kind("SGD"), OptimizerKind::kSGD);
  EXPECT_EQ(to_string(OptimizerKind::kAdamW), "adamw");
  EXPECT_THROW(parse_optimizer_kind("rmsprop"), Error);
  torch::Tensor p = torch::ones({1}).requires_grad_(true);
  OptimOptions bad;
  bad.lr = 0;
  EXPECT_THROW(make_optimizer({p}, bad), Error);
  bad = {};
  bad.weight_decay = -1;
  EXPECT_THROW(make_optimizer({p}, bad), Error);
  bad = {};
  bad.kind = OptimizerKind::kSGD;
  bad.momentum = 0;
  bad.nesterov = true;
  EXPECT_THROW(make_optimizer({p}, bad), Error);
  EXPECT_THROW(make_optimizer({torch::ones({1})}, OptimOptions{}), Error);
}

}  // namespace
}  // namespace glpdepth
