#pragma once
/// The one registry mapping a config `type:` name to a layer builder, and the model built from a layer list.
///
/// A model section (already validated JSON; models never see YAML) looks like
///   { "graph": {"construction": "v2", "k": 8},            // how graph layers build their Laplacians
///     "layers": [ {"type": "cheb_conv", "out": 16, "K": 5}, {"type": "healpix_pool", "mode": "mean"}, ... ] }
/// Each builder turns its options object into the layer's typed XOptions. The input grid is declared once
/// (by the data section, handed in as `ModelInputs`); pooling and unpooling layers change the grid and the
/// layers after them run on the new one.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>

#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/grid.h"

namespace sphaera::models {

/// What the data provides to the model: the input grid, channel count and number of classes.
struct ModelInputs {
  transforms::GridPtr grid;
  int64_t in_channels = 1;
  int64_t num_classes = 2;
};

/// State threaded through the layer list while it is built.
struct LayerContext {
  transforms::GridPtr grid;          ///< grid of the next layer's input; null once pooled to a vector
  int64_t channels = 1;              ///< channels of the next layer's input
  int64_t num_classes = 2;           ///< from the data (for heads whose width defaults to it)
  transforms::GraphOptions graph;    ///< graph construction for graph layers
  std::string where;                 ///< "model.layers[3]": prefix for error messages
};

/// Builds one layer from its options (the layer's JSON object, "type" included) and updates the context
/// (grid, channels) to describe the layer's output. Throws core::InvalidArgument naming `context.where`.
using LayerBuilder = std::function<torch::nn::AnyModule(const nlohmann::json& options, LayerContext& context)>;

}  // namespace sphaera::models
