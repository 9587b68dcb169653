#pragma once
/// Self-contained checkpoints: one file with the weights, the optimiser state, the trainer state, the
/// resolved config, normalisation statistics, class names, channels, grid and a format version.
/// `eval` and `predict` need nothing else: geometry (Laplacians) is rebuilt from the stored config.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace sphaera::train {

inline constexpr int kCheckpointFormatVersion = 1;

/// Writes atomically (temporary file, then rename). `meta` is the trainer state and everything else that is
/// not a tensor; `optimizer` may be null (weights only).
void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const nlohmann::json& meta);

/// Reads the metadata only (cheap). Throws core::InvalidArgument on a missing, foreign or newer file.
nlohmann::json read_checkpoint_meta(const std::string& path);

/// Loads weights (and optimiser state when `optimizer` is given) into already-built objects.
void load_checkpoint_state(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer);

}  // namespace sphaera::train
