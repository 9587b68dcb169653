#pragma once
/// The one registry mapping a config `type:` name to a layer builder, and the network built from a model section.
///
/// A model section is already-validated JSON from train/ (models never see YAML or files):
///
///   { "graph":  {"construction": "v2", "k": 8, "laplacian": "combinatorial"},   // optional, these defaults
///     "layers": [ {"type": "cheb_conv", "out": 16, "K": 5}, {"type": "healpix_pool", "mode": "max"}, ... ] }
///
/// `graph` (how graph layers build their Laplacians; every key optional):
///   construction  "v1" | "v2"                     default "v2"
///   k             integer                         default 8; v2: neighbours per pixel, 8 | 20 | 40 | 60 (published
///                                                 kernel widths) or any k ≥ 1 with kernel_width; v1: 8 or absent
///   laplacian     "combinatorial" | "normalized"  default combinatorial for v2, normalized for v1
///   kernel_width  number > 0                      default the published σ(nside, k) (v2 only)
///
/// Layer types and their options (every option but those marked required has the default shown):
///   cheb_conv        out (required, int ≥ 1), K = 5 (int ≥ 1), bias = true        map → map, same grid
///   batch_norm       eps = 1e-5, momentum = 0.1 (in [0, 1]), affine = true         map or vector
///   relu, gelu, tanh                                                              map or vector
///   leaky_relu       negative_slope = 0.01                                          map or vector
///   elu              alpha = 1.0                                                    map or vector
///   dropout          p = 0.5 (in [0, 1))                                            map or vector
///   healpix_pool     mode = "max" ("max" | "mean")                                  map on grid → grid.coarsened()
///   healpix_unpool   mode = "nearest" ("nearest" | "indices")                      map on grid → grid.refined()
///                    Every unpooling closes the latest pooling not yet closed (U-Net levels); "indices" needs
///                    that pooling to be "max", with the channel count it had, and puts values back where it
///                    took them (max_unpool)
///   global_avg_pool                                                                 map [B,C,V] → vector [B,C]
///   flatten                                                                         map [B,C,V] → vector [B,C·V]
///   linear           out = number of classes (int ≥ 1), bias = true                vector → vector
///   spectral_conv    out (required, int ≥ 1), lmax = the grid's natural band limit (sampling theorem; HEALPix
///                    2·nside), anchors = 0 (0: a weight per degree; n ≥ 2: n anchor degrees, linear in between),
///                    bias = true                                                     map → map, same grid
///                    (needs a full-sky ring grid: HEALPix full sky, Gauss–Legendre, equiangular)
///   spectral_pool    lmax = the coarser grid's natural band limit       map on grid → coarser grid (HEALPix
///                    nside/2; Gauss–Legendre and equiangular half the band limit), by forward transform up to
///                    lmax and inverse transform on the coarser grid
///   deepsphere_classifier   the DeepSphere classifier (cosmology layer order), expanded into the layers above:
///       channels (required, non-empty list of int ≥ 1): widths of the hidden graph layers;
///       K = 5; pool = "max" ("max" | "mean"); pools = len(channels) (int in [0, len(channels)]): a pooling after
///       each of the first `pools` hidden layers; batch_norm = true;
///       variant = "fcn" ("fcn" | "cnn"); head = "flatten" ("flatten" | "gap", cnn only).
///     Each hidden layer i: cheb_conv(channels[i], K, bias = !batch_norm) → batch_norm → relu → healpix_pool.
///     fcn: then cheb_conv(num_classes, K, bias) — linear, no batch norm, no ReLU — → global_avg_pool: logits
///          [B, num_classes], rotation invariant, any number of pixels (DeepSphere's FCN variant).
///     cnn: then flatten (or global_avg_pool with head = "gap") → linear(num_classes): logits (DeepSphere's CNN
///          variant: a dense layer on the flattened features of the last graph layer).
///
/// `spectral` (how spectral layers transform; every key optional):
///   mode              "auto" | "precompute" | "on_the_fly"   default "auto" (tables when they fit the budget)
///   iterations        integer ≥ 0                             default 0: HEALPix refinement steps of the forward
///                                                              transform (healpy's iter); other grids are exact
///   memory_budget_gb  number > 0                              default 1: Legendre tables allowed in auto mode
///
/// Unknown keys, wrong types and out-of-range values are errors naming their path ("model.layers[2].K: expected
/// an integer ≥ 1, got -3"); an unknown type lists all known ones. The input grid is declared once
/// (`ModelInputs`); pooling and unpooling change the grid and the layers after them run on the new one; graph
/// layers get their Laplacian from transforms::cached_rescaled_laplacian(grid, graph, dtype, device).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sphaera/models/functional.h"
#include "sphaera/models/network.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/grid.h"
#include "sphaera/transforms/sht.h"

namespace sphaera::models {

/// What the data provides to the model: the input grid, channel count and number of classes.
struct ModelInputs {
  transforms::GridPtr grid;  ///< required
  int64_t in_channels = 1;
  int64_t num_classes = 2;
};

/// A pooling not yet closed by an unpooling: the grid and channels before it.
struct OpenPool {
  transforms::GridPtr grid;
  int64_t channels = 0;
  PoolMode mode = PoolMode::kMax;
  std::string where;
};

/// State threaded through the layer list while it is built.
struct LayerContext {
  transforms::GridPtr grid;          ///< grid of the next layer's input; null once pooled to a vector
  int64_t channels = 1;              ///< channels (features for vectors) of the next layer's input
  int64_t num_classes = 2;           ///< from the data (for heads whose width defaults to it)
  transforms::GraphOptions graph;    ///< graph construction for graph layers
  transforms::ShtOptions spectral;   ///< transform options for spectral layers (lmax set per layer)
  std::string where;                 ///< "model.layers[3]": prefix for error messages
  std::vector<OpenPool> open_pools;  ///< poolings not yet closed by an unpooling, latest last
  std::vector<NetworkLayer> layers;  ///< the layers built so far

  /// Appends a layer whose output is described by the current `grid` and `channels` (update them first).
  void add(const std::string& type, torch::nn::AnyModule module);
};

/// Builds a layer (or several, for named architectures) from its options (the layer's JSON object, "type"
/// included): reads and validates the options, appends modules with context.add and updates the context.
/// Throws core::InvalidArgument naming `context.where`.
using LayerBuilder = std::function<void(const nlohmann::json& options, LayerContext& context)>;

/// Type name → builder.
class LayerRegistry {
 public:
  /// Adds a builder; a name registered twice is an error.
  void add(const std::string& type, LayerBuilder builder);
  /// The builder of `type`; unknown types throw, listing all known names ("<where>.type: unknown layer type ...").
  const LayerBuilder& find(const std::string& type, const std::string& where) const;
  /// Registered names, sorted.
  std::vector<std::string> types() const;

 private:
  std::map<std::string, LayerBuilder> builders_;
};

/// Registers every built-in layer type and named architecture: the one place where types are added
/// (explicitly, no static self-registration).
void register_builtin_layers(LayerRegistry& registry);

/// The registry of built-in types (filled by register_builtin_layers on first use).
const LayerRegistry& layer_registry();

/// Names accepted as a layer `type`, sorted.
std::vector<std::string> registered_layer_types();

/// Builds one layer spec ({"type": ..., options}) at context.where with the built-in registry.
void build_layer(const nlohmann::json& spec, LayerContext& context);

/// Parses and validates a `graph` section (see above) at path `where` ("model.graph").
transforms::GraphOptions parse_graph_options(const nlohmann::json& graph, const std::string& where);

/// Builds the network of a model section (see above) for the given inputs. Errors name the offending path,
/// starting with "model." (e.g. "model.layers[2].K: expected an integer ≥ 1, got -3").
Network build_network(const nlohmann::json& model_section, const ModelInputs& inputs);

}  // namespace sphaera::models
