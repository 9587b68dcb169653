#include "sphaera/train/solver.h"

#include <algorithm>
#include <cmath>

#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

namespace sphaera::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const SolverConfig& s, std::vector<at::Tensor> params) {
  if (s.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        std::move(params), torch::optim::SGDOptions(s.lr).momentum(s.momentum).weight_decay(s.weight_decay));
  }
  return std::make_unique<torch::optim::Adam>(std::move(params),
                                              torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double scheduled_lr(const SolverConfig& s, int64_t epoch, double plateau_lr) {
  if (epoch < s.warmup_epochs) return s.lr * static_cast<double>(epoch + 1) / static_cast<double>(s.warmup_epochs + 1);
  const int64_t e = epoch - s.warmup_epochs;
  const int64_t span = std::max<int64_t>(1, s.epochs - s.warmup_epochs);
  if (s.schedule == "step") return s.lr * std::pow(s.gamma, static_cast<double>(e / s.step_size));
  if (s.schedule == "cosine") {
    return s.min_lr + (s.lr - s.min_lr) * 0.5 * (1 + std::cos(M_PI * static_cast<double>(e) / static_cast<double>(span)));
  }
  if (s.schedule == "plateau") return plateau_lr;
  return s.lr;
}

bool MonitorState::record(const SolverConfig& s, int64_t epoch, double value) {
  const bool better = best.is_null() ||
                      (s.monitor == "val.loss" ? value < best.get<double>() : value > best.get<double>());
  if (better) {
    best = value;
    best_epoch = epoch;
    stale_epochs = 0;
    return true;
  }
  ++stale_epochs;
  if (s.schedule == "plateau" && epoch >= s.warmup_epochs && stale_epochs % s.plateau_patience == 0) {
    plateau_lr = std::max(s.min_lr, plateau_lr * s.gamma);
  }
  return false;
}

bool MonitorState::should_stop(const SolverConfig& s) const {
  return s.early_stopping_patience > 0 && stale_epochs >= s.early_stopping_patience;
}

nlohmann::json MonitorState::to_json() const {
  return {{"best", best}, {"best_epoch", best_epoch}, {"stale_epochs", stale_epochs}, {"plateau_lr", plateau_lr}};
}

void MonitorState::from_json(const nlohmann::json& j) {
  best = j.at("best");
  best_epoch = j.at("best_epoch").get<int64_t>();
  stale_epochs = j.at("stale_epochs").get<int64_t>();
  plateau_lr = j.at("plateau_lr").get<double>();
}

}  // namespace sphaera::train
