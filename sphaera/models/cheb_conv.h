#pragma once
/// The Chebyshev graph convolution layer (DeepSphere's filter). Maths in functional.h (models::cheb_conv).
#include <cstdint>
#include <functional>
#include <memory>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "sphaera/core/sparse.h"

namespace sphaera::models {

/// Returns the rescaled Laplacian L̂ for a dtype and device (e.g. transforms::cached_rescaled_laplacian bound to a
/// grid and graph options). Called at forward time with the input's dtype and device.
using LaplacianProvider =
    std::function<std::shared_ptr<const core::CsrMatrix>(c10::ScalarType dtype, c10::Device device)>;

struct ChebConvOptions {
  ChebConvOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  /// Cin: channels of the input map.
  TORCH_ARG(int64_t, in_channels);
  /// Cout: channels of the output map.
  TORCH_ARG(int64_t, out_channels);
  /// K: number of Chebyshev terms T_0..T_{K−1} (polynomial degree K − 1, support of K − 1 hops). K = 1 works.
  TORCH_ARG(int64_t, kernel_size);
  /// Learn an additive bias per output channel (off when a batch norm follows: its shift is the bias).
  TORCH_ARG(bool, bias) = true;
};

/// Chebyshev convolution [B, Cin, V] → [B, Cout, V] on one graph.
///
/// Parameters (the only state written to checkpoints):
/// - `weight` [Cin, K, Cout]: `weight[cin][k][o]` multiplies (T_k x)[cin] for output channel o. This is
///   deepsphere-pytorch's flattening (row cin·K + k of a [Cin·K, Cout] matrix), so its weights port by a
///   reshape: `ours = theirs.reshape({Fin, K, Fout})` (its (K, Fin, Fout) shape is only a label).
/// - `bias` [Cout] (when options.bias()).
/// He initialisation `std = sqrt(2 / (Cin·K))` (ReLU follows), bias zero.
///
/// The rescaled Laplacian is not module state: it is held by shared pointer (shared by all layers on a grid,
/// never saved) and fetched for the input's dtype and device at every forward, so `.to(device, dtype)` of the
/// module needs nothing else.
class ChebConvImpl : public torch::nn::Cloneable<ChebConvImpl> {
 public:
  /// A fixed Laplacian (any dtype/device): converted to the input's dtype/device when they differ (memoised).
  ChebConvImpl(ChebConvOptions options, std::shared_ptr<const core::CsrMatrix> rescaled_laplacian);
  /// A Laplacian obtained from `provider` for the input's dtype and device at each forward.
  ChebConvImpl(ChebConvOptions options, LaplacianProvider provider);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// [B, Cin, V] → [B, Cout, V].
  at::Tensor forward(const at::Tensor& input);

  /// The rescaled Laplacian this layer uses for the given dtype and device.
  std::shared_ptr<const core::CsrMatrix> laplacian(c10::ScalarType dtype, c10::Device device);

  ChebConvOptions options;
  at::Tensor weight;  ///< [Cin, K, Cout]
  at::Tensor bias;    ///< [Cout] or undefined

 private:
  std::shared_ptr<const core::CsrMatrix> fixed_;      // the Laplacian as given (fixed mode)
  std::shared_ptr<const core::CsrMatrix> converted_;  // fixed_ in the dtype/device last asked for
  LaplacianProvider provider_;                        // provider mode
};

TORCH_MODULE(ChebConv);

}  // namespace sphaera::models
