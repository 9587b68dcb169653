#pragma once
/// The `solver` section at work (experiment.h's SolverConfig): the optimiser, the learning rate of each
/// epoch, and the monitor that tracks the best epoch, decays the rate on a plateau and stops early. Pure
/// functions of the config and the epochs seen, so that a resumed run (whose state is MonitorState, stored
/// in each checkpoint) takes exactly the decisions an uninterrupted one would.
#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "sphaera/train/experiment.h"

namespace sphaera::train {

/// Adam (lr, weight decay) or SGD (lr, momentum, weight decay; PyTorch's SGD: v ← μ·v + g, p ← p − lr·v).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const SolverConfig& s, std::vector<at::Tensor> params);

/// Sets the learning rate of every parameter group.
void set_lr(torch::optim::Optimizer& optimizer, double lr);

/// The learning rate of epoch `epoch` (0-based). The first `warmup_epochs` epochs ramp linearly,
/// lr·(e+1)/(warmup_epochs+1), so the rate rises towards lr without reaching it; the schedule then runs over
/// the remaining epochs, e' = e − warmup_epochs of span = max(1, epochs − warmup_epochs):
///   constant: lr;  step: lr·gamma^⌊e'/step_size⌋;  cosine: min_lr + (lr − min_lr)·(1 + cos(π·e'/span))/2;
///   plateau: the monitor's current rate (MonitorState::plateau_lr).
double scheduled_lr(const SolverConfig& s, int64_t epoch, double plateau_lr);

/// What the monitor remembers between epochs (and across --resume).
struct MonitorState {
  nlohmann::json best;       ///< the best monitored value so far (null before the first epoch)
  int64_t best_epoch = -1;   ///< 0-based epoch that reached it
  int64_t stale_epochs = 0;  ///< epochs since it last improved
  double plateau_lr = 0;     ///< plateau schedule: the current rate (starts at lr)

  explicit MonitorState(const SolverConfig& s) : plateau_lr(s.lr) {}

  /// Records the monitored value of epoch `epoch` (val.loss: lower is better; val.accuracy: higher; ties do
  /// not improve). Returns whether it improved. On the plateau schedule, after warm-up, every
  /// `plateau_patience` consecutive epochs without improvement multiply the rate by gamma (not below min_lr).
  bool record(const SolverConfig& s, int64_t epoch, double value);

  /// Early stopping: `early_stopping_patience` > 0 epochs in a row without improvement.
  bool should_stop(const SolverConfig& s) const;

  /// The state as a checkpoint's metadata carries it: {"best", "best_epoch", "stale_epochs", "plateau_lr"}.
  nlohmann::json to_json() const;
  /// Restores what to_json wrote (the keys of a checkpoint's metadata; other keys are ignored).
  void from_json(const nlohmann::json& j);
};

}  // namespace sphaera::train
