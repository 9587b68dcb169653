#pragma once
/// The network an experiment describes, on its device, with the input grid it reads: built identically from
/// a config by `train`, `eval` and `--resume` (and by tests that check every shipped config builds).
#include <c10/core/Device.h>

#include "sphaera/models/network.h"
#include "sphaera/train/experiment.h"
#include "sphaera/transforms/grid.h"

namespace sphaera::train {

struct ExperimentModel {
  ExperimentConfig exp;
  c10::Device device{c10::kCPU};
  transforms::GridPtr grid;      ///< the maps' grid: full-sky HEALPix, or patch 0 of the order's patches
  models::Network net{nullptr};  ///< moved to `device`
};

/// The input grid of the data section: with partial sky (order > 0) every patch is fed to one graph, that of
/// patch 0 (as DeepSphere does): the 12·order² NEST patches share its pixel layout.
transforms::GridPtr input_grid(const DataConfig& data);

/// Builds the model section on the data section's grid, channels and classes. Model errors are
/// core::InvalidArgument located at their config line.
ExperimentModel build_experiment_model(ExperimentConfig exp);

}  // namespace sphaera::train
