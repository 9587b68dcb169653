#pragma once
/// A network: the list of layers a model section builds (see registry.h), run in order.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>

#include "sphaera/transforms/grid.h"

namespace sphaera::models {

/// One layer as built: its module and what comes out of it.
struct NetworkLayer {
  std::string type;             ///< registry type that made it ("cheb_conv", "healpix_pool", ...)
  std::string where;            ///< config path it came from ("model.layers[2]")
  torch::nn::AnyModule module;  ///< forward(x) → y (HealpixPool / HealpixUnpool by indices get special care)
  transforms::GridPtr grid;     ///< grid of the output map; null when the output is a vector [B, channels]
  int64_t channels = 0;         ///< channels of the output map, or features of the output vector
};

/// Runs its layers in order on [B, C, V] maps. Every pooling pushes its indices (undefined for mean pooling) on a
/// stack and every unpooling pops the latest (when there is one), SegNet-style: an unpooling by indices puts the
/// values back where the matching max pooling took them, so encoder–decoder nets stay a flat list.
///
/// Geometry (Laplacians) is not module state: `.to(device, dtype)` moves parameters and buffers, graph layers
/// fetch their Laplacian for the input's dtype and device from the shared cache at forward time. The state dict
/// holds exactly the learnable parameters and batch-norm statistics, under names "<index>_<type>.<name>"
/// (e.g. "0_cheb_conv.weight", "1_batch_norm.bn.running_mean"), which the same model section always reproduces.
class NetworkImpl : public torch::nn::Module {
 public:
  /// `layers` as produced by the registry's builders (at least one).
  NetworkImpl(transforms::GridPtr input_grid, int64_t input_channels, std::vector<NetworkLayer> layers);

  /// [B, input_channels, input_grid.size()] → [B, output_channels, output_grid.size()], or [B, output_channels]
  /// when output_grid() is null (classifiers: logits).
  at::Tensor forward(const at::Tensor& x);
  /// forward(), calling `observe(i, y)` with the output of each layer i in turn (diagnostics: the trainer
  /// finds the first layer whose output is not finite).
  at::Tensor forward_observed(const at::Tensor& x, const std::function<void(size_t, const at::Tensor&)>& observe);

  const transforms::GridPtr& input_grid() const { return input_grid_; }
  int64_t input_channels() const { return input_channels_; }
  /// Grid of the output maps; null when the network outputs vectors [B, C].
  const transforms::GridPtr& output_grid() const { return layers_.back().grid; }
  int64_t output_channels() const { return layers_.back().channels; }
  const std::vector<NetworkLayer>& layers() const { return layers_; }
  /// Number of learnable scalars.
  int64_t parameter_count() const;
  /// One line per layer (index, type, module, output grid and channels, parameters), then the total.
  std::string summary() const;

 private:
  enum class Role { kPlain, kPool, kUnpool };
  transforms::GridPtr input_grid_;
  int64_t input_channels_;
  std::vector<NetworkLayer> layers_;
  std::vector<Role> roles_;
};

TORCH_MODULE(Network);

}  // namespace sphaera::models
