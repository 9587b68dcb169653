#pragma once
/// Parameter-free and per-channel layers on maps [B, C, V]: HEALPix pooling and unpooling, batch norm over
/// pixels, global average pooling. (Activations, Linear, Dropout and Flatten are LibTorch's own modules.)
#include <cstdint>
#include <string>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/common.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>

#include "sphaera/models/functional.h"

namespace sphaera::models {

// ---- HEALPix pooling ------------------------------------------------------------------------------------------

struct HealpixPoolOptions {
  /* implicit */ HealpixPoolOptions(PoolMode mode = PoolMode::kMax) : mode_(mode) {}
  /// Mean or max of the 4 NEST children of each parent.
  TORCH_ARG(PoolMode, mode);
};

/// [B, C, V] → [B, C, V/4] on a NEST HEALPix grid (the output lives on grid.coarsened()).
class HealpixPoolImpl : public torch::nn::Cloneable<HealpixPoolImpl> {
 public:
  explicit HealpixPoolImpl(HealpixPoolOptions options = {});
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& x);
  /// Max pooling also returns where the maxima came from (for HealpixUnpool by indices).
  PoolResult forward_with_indices(const at::Tensor& x);
  HealpixPoolOptions options;
};
TORCH_MODULE(HealpixPool);

enum class UnpoolMode { kNearest, kIndices };
UnpoolMode parse_unpool_mode(const std::string& text);  ///< "nearest" | "indices"
std::string to_string(UnpoolMode mode);

struct HealpixUnpoolOptions {
  /* implicit */ HealpixUnpoolOptions(UnpoolMode mode = UnpoolMode::kNearest) : mode_(mode) {}
  /// Nearest: each parent's value to its 4 children. Indices: back to where a max pooling took it (max_unpool).
  TORCH_ARG(UnpoolMode, mode);
};

/// [B, C, V] → [B, C, 4V] (the output lives on grid.refined()).
class HealpixUnpoolImpl : public torch::nn::Cloneable<HealpixUnpoolImpl> {
 public:
  explicit HealpixUnpoolImpl(HealpixUnpoolOptions options = {});
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  /// `indices` (int64 [B, C, V], from HealpixPool::forward_with_indices) is required in mode kIndices and
  /// ignored in mode kNearest.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& indices = {});
  HealpixUnpoolOptions options;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(at::Tensor())})
};
TORCH_MODULE(HealpixUnpool);

// ---- Batch norm over pixels -----------------------------------------------------------------------------------

struct PixelBatchNormOptions {
  /* implicit */ PixelBatchNormOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(double, eps) = 1e-5;
  /// Weight of the current batch in the running statistics.
  TORCH_ARG(double, momentum) = 0.1;
  /// Learn a per-channel scale and shift (the shift is the bias of the layer before).
  TORCH_ARG(bool, affine) = true;
};

/// Batch normalisation per channel, statistics over the batch and all pixels: [B, C, V] → [B, C, V]
/// (also accepts [B, C]). Wraps torch::nn::BatchNorm1d (registered as `bn`: parameters bn.weight, bn.bias and
/// buffers bn.running_mean, bn.running_var, bn.num_batches_tracked are saved with the module).
class PixelBatchNormImpl : public torch::nn::Cloneable<PixelBatchNormImpl> {
 public:
  explicit PixelBatchNormImpl(PixelBatchNormOptions options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& x);
  PixelBatchNormOptions options;
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(PixelBatchNorm);

// ---- Global average pooling -----------------------------------------------------------------------------------

/// Mean over pixels: [B, C, V] → [B, C] (a rotation-invariant summary; DeepSphere's FCN head).
class GlobalAvgPoolImpl : public torch::nn::Cloneable<GlobalAvgPoolImpl> {
 public:
  GlobalAvgPoolImpl() = default;
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& x);
};
TORCH_MODULE(GlobalAvgPool);

}  // namespace sphaera::models
