#include "sphaera/train/experiment_model.h"

#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"
#include "sphaera/models/registry.h"
#include "sphaera/transforms/healpix_grid.h"

namespace sphaera::train {

transforms::GridPtr input_grid(const DataConfig& data) {
  if (data.order > 0) return transforms::HealpixGrid::patch(data.nside, data.order, 0);
  return std::make_shared<transforms::HealpixGrid>(data.nside);
}

ExperimentModel build_experiment_model(ExperimentConfig exp) {
  ExperimentModel b;
  b.device = core::parse_device(exp.device);
  b.grid = input_grid(exp.data);
  models::ModelInputs inputs;
  inputs.grid = b.grid;
  inputs.in_channels = exp.data.channels;
  inputs.num_classes = static_cast<int64_t>(exp.data.classes.size());
  try {
    b.net = models::build_network(exp.model, inputs);
  } catch (const core::InvalidArgument& e) {
    throw core::InvalidArgument(exp.config.locate_message(e.what()));
  }
  b.net->to(b.device);
  b.exp = std::move(exp);
  return b;
}

}  // namespace sphaera::train
