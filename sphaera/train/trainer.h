#pragma once
/// The trainer: config in; run directory out (config.yaml, metrics.jsonl, summary.json, checkpoints/).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sphaera::train {

struct TrainRequest {
  std::string config_path;
  std::vector<std::string> overrides;   ///< --set key=value
  std::string out;                      ///< --out: run directory instead of output.dir
  bool resume = false;                  ///< continue the run in the run directory from checkpoints/last.pt
  bool overwrite = false;               ///< replace a run already in the run directory
  std::optional<int64_t> threads;       ///< --threads: instead of the config's `threads`
};

struct TrainResult {
  std::string run_dir;
  nlohmann::json summary;               ///< what summary.json holds
};

/// Validates the config, prepares data, trains, evaluates the best checkpoint on the test split.
TrainResult run_training(const TrainRequest& request);

struct EvalRequest {
  std::string checkpoint;
  std::string manifest;                 ///< empty: the checkpoint's own test split
  std::optional<int64_t> threads;
};

/// Metrics of a checkpoint on a manifest (loss, accuracy, per-class precision/recall/F1, confusion matrix).
nlohmann::json run_evaluation(const EvalRequest& request);

}  // namespace sphaera::train
