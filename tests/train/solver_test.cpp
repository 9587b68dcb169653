// The solver section at work (train/solver.h): learning-rate schedules with warm-up, the monitor (best epoch,
// plateau decay, early stopping) and the optimisers' update rules, each against values worked out by hand.
#include "sphaera/train/solver.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

using sphaera::train::make_optimizer;
using sphaera::train::MonitorState;
using sphaera::train::scheduled_lr;
using sphaera::train::set_lr;
using sphaera::train::SolverConfig;

namespace {

// Rates are products and quotients of a few doubles: equal to the formula within a few ulps.
constexpr double kUlps = 4e-16;

TEST(SolverTest, WarmupRampsLinearlyBelowTheRateThenTheConstantScheduleHoldsIt) {
  SolverConfig s;
  s.lr = 0.1;
  s.warmup_epochs = 3;
  s.epochs = 6;
  const std::vector<double> expected = {0.025, 0.05, 0.075, 0.1, 0.1, 0.1};
  for (int64_t e = 0; e < s.epochs; ++e) EXPECT_NEAR(scheduled_lr(s, e, 123.0), expected[e], kUlps) << e;
}

TEST(SolverTest, StepScheduleDecaysEveryStepSizeEpochsCountedAfterWarmup) {
  SolverConfig s;
  s.schedule = "step";
  s.lr = 1.0;
  s.gamma = 0.5;
  s.step_size = 2;
  s.warmup_epochs = 1;
  s.epochs = 7;
  const std::vector<double> expected = {0.5, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25};
  for (int64_t e = 0; e < s.epochs; ++e) EXPECT_NEAR(scheduled_lr(s, e, 0.0), expected[e], kUlps) << e;
}

TEST(SolverTest, CosineScheduleRunsFromTheRateTowardsTheFloorOverTheEpochsAfterWarmup) {
  SolverConfig s;
  s.schedule = "cosine";
  s.lr = 1.0;
  s.min_lr = 0.1;
  s.warmup_epochs = 1;
  s.epochs = 5;  // span 4 after warm-up: e' = 0..3
  EXPECT_NEAR(scheduled_lr(s, 0, 0.0), 0.5, kUlps);
  EXPECT_NEAR(scheduled_lr(s, 1, 0.0), 1.0, kUlps);                                  // cos 0
  EXPECT_NEAR(scheduled_lr(s, 2, 0.0), 0.1 + 0.45 * (1 + std::sqrt(0.5)), kUlps);    // cos π/4
  EXPECT_NEAR(scheduled_lr(s, 3, 0.0), 0.55, kUlps);                                 // cos π/2
  EXPECT_NEAR(scheduled_lr(s, 4, 0.0), 0.1 + 0.45 * (1 - std::sqrt(0.5)), kUlps);    // cos 3π/4
  // Monotone decreasing after warm-up, never below the floor.
  for (int64_t e = 1; e + 1 < s.epochs; ++e) EXPECT_GT(scheduled_lr(s, e, 0.0), scheduled_lr(s, e + 1, 0.0));
}

TEST(SolverTest, PlateauDecaysAfterPatienceStaleEpochsNotBelowTheFloorAndNotDuringWarmup) {
  SolverConfig s;
  s.schedule = "plateau";
  s.monitor = "val.loss";
  s.lr = 1.0;
  s.gamma = 0.5;
  s.plateau_patience = 2;
  s.min_lr = 0.3;
  s.warmup_epochs = 2;
  MonitorState m(s);
  EXPECT_EQ(m.plateau_lr, 1.0);
  // epoch: value → improved?, stale epochs, plateau rate after the epoch
  struct Step {
    double value;
    bool better;
    int64_t stale;
    double lr;
  };
  const std::vector<Step> steps = {
      {1.0, true, 0, 1.0},    // first value: always the best
      {1.0, false, 1, 1.0},   // a tie does not improve
      {2.0, false, 2, 0.5},   // epoch 2 (after warm-up), 2 stale: decay
      {0.9, true, 0, 0.5},    // improves
      {0.95, false, 1, 0.5},
      {0.95, false, 2, 0.3},  // 0.25 is below the floor
      {0.95, false, 3, 0.3},
      {0.95, false, 4, 0.3},  // floor holds
  };
  for (size_t e = 0; e < steps.size(); ++e) {
    EXPECT_EQ(m.record(s, static_cast<int64_t>(e), steps[e].value), steps[e].better) << e;
    EXPECT_EQ(m.stale_epochs, steps[e].stale) << e;
    EXPECT_DOUBLE_EQ(m.plateau_lr, steps[e].lr) << e;
    EXPECT_EQ(scheduled_lr(s, static_cast<int64_t>(e) + 2, m.plateau_lr), m.plateau_lr);  // after warm-up
  }
  EXPECT_EQ(m.best_epoch, 3);
  EXPECT_EQ(m.best.get<double>(), 0.9);

  // Stale epochs during warm-up do not decay the rate.
  s.warmup_epochs = 5;
  MonitorState w(s);
  for (int64_t e = 0; e < 5; ++e) w.record(s, e, 1.0);
  EXPECT_EQ(w.stale_epochs, 4);
  EXPECT_EQ(w.plateau_lr, 1.0);
}

TEST(SolverTest, MonitorKnowsWhichWayIsBetterAndEarlyStoppingCountsStaleEpochs) {
  SolverConfig s;
  s.early_stopping_patience = 2;
  s.monitor = "val.accuracy";  // higher is better
  MonitorState acc(s);
  EXPECT_TRUE(acc.record(s, 0, 0.5));
  EXPECT_TRUE(acc.record(s, 1, 0.6));
  EXPECT_FALSE(acc.record(s, 2, 0.4));
  EXPECT_FALSE(acc.should_stop(s));
  EXPECT_FALSE(acc.record(s, 3, 0.6));  // a tie
  EXPECT_TRUE(acc.should_stop(s));
  EXPECT_EQ(acc.best_epoch, 1);

  s.monitor = "val.loss";  // lower is better
  MonitorState loss(s);
  EXPECT_TRUE(loss.record(s, 0, 0.5));
  EXPECT_FALSE(loss.record(s, 1, 0.6));
  EXPECT_TRUE(loss.record(s, 2, 0.4));
  EXPECT_EQ(loss.best_epoch, 2);
  EXPECT_FALSE(loss.should_stop(s));

  s.early_stopping_patience = 0;  // never
  for (int64_t e = 3; e < 100; ++e) loss.record(s, e, 1.0);
  EXPECT_FALSE(loss.should_stop(s));
}

// What a checkpoint carries restores the monitor exactly: a resumed run continues the same counts.
TEST(SolverTest, MonitorStateRoundTripsThroughJson) {
  SolverConfig s;
  s.monitor = "val.loss";
  s.schedule = "plateau";
  s.plateau_patience = 1;
  s.gamma = 0.5;
  MonitorState a(s);
  a.record(s, 0, 0.7);
  a.record(s, 1, 0.9);  // stale: the plateau halves the rate
  MonitorState b(s);
  b.from_json(nlohmann::json::parse(a.to_json().dump()));
  EXPECT_EQ(b.best, a.best);
  EXPECT_EQ(b.best_epoch, 0);
  EXPECT_EQ(b.stale_epochs, 1);
  EXPECT_EQ(b.plateau_lr, a.plateau_lr);
  EXPECT_EQ(b.plateau_lr, s.lr * 0.5);
  EXPECT_EQ(a.record(s, 2, 0.8), b.record(s, 2, 0.8));
  EXPECT_EQ(b.stale_epochs, a.stale_epochs);
  EXPECT_EQ(b.plateau_lr, a.plateau_lr);
}

// f(p) = c·p has the constant gradient c: the optimisers' updates have closed forms.
struct Linear {
  at::Tensor p = torch::tensor({1.0, -2.0, 0.5}, torch::kDouble).requires_grad_(true);
  at::Tensor c = torch::tensor({1.0, -3.0, 0.25}, torch::kDouble);
  at::Tensor start = p.detach().clone();
  void step(torch::optim::Optimizer& optimizer) {
    optimizer.zero_grad();
    (c * p).sum().backward();
    optimizer.step();
  }
};

TEST(SolverTest, SgdWithMomentumAccumulatesTheVelocityAsPyTorchDoes) {
  SolverConfig s;
  s.optimizer = "sgd";
  s.lr = 0.1;
  s.momentum = 0.9;
  Linear f;
  auto optimizer = make_optimizer(s, {f.p});
  // v1 = g, v2 = 1.9 g, v3 = 2.71 g: p3 = p0 − 0.1·(1 + 1.9 + 2.71)·g.
  for (int k = 0; k < 3; ++k) f.step(*optimizer);
  EXPECT_TRUE(torch::allclose(f.p.detach(), f.start - 0.561 * f.c, 0, 1e-14)) << f.p;

  // The rate set for an epoch applies to the next step: v4 = 3.439 g, p4 = p3 − 0.01·v4.
  set_lr(*optimizer, 0.01);
  f.step(*optimizer);
  EXPECT_TRUE(torch::allclose(f.p.detach(), f.start - (0.561 + 0.03439) * f.c, 0, 1e-14)) << f.p;
}

TEST(SolverTest, SgdWeightDecayAddsToTheGradientAndMomentumZeroIsPlainDescent) {
  SolverConfig s;
  s.optimizer = "sgd";
  s.lr = 0.1;
  s.momentum = 0.0;
  s.weight_decay = 0.5;
  Linear f;
  auto optimizer = make_optimizer(s, {f.p});
  f.step(*optimizer);  // p1 = p0 − 0.1·(c + 0.5·p0)
  EXPECT_TRUE(torch::allclose(f.p.detach(), f.start - 0.1 * (f.c + 0.5 * f.start), 0, 1e-15)) << f.p;
}

TEST(SolverTest, AdamFirstStepMovesEachWeightByTheRateAgainstItsGradientSign) {
  SolverConfig s;  // adam by default
  s.lr = 0.01;
  Linear f;
  auto optimizer = make_optimizer(s, {f.p});
  f.step(*optimizer);
  // Bias-corrected m̂ = g, v̂ = g²: the step is lr·g/(|g| + 1e-8).
  const at::Tensor expected = f.start - s.lr * f.c / (f.c.abs() + 1e-8);
  EXPECT_TRUE(torch::allclose(f.p.detach(), expected, 0, 1e-15)) << f.p;
}

}  // namespace
