#include "sphaera/models/layers.h"

#include <ostream>

#include <torch/torch.h>

#include "sphaera/core/check.h"

namespace sphaera::models {

// ---- HealpixPool ----

HealpixPoolImpl::HealpixPoolImpl(HealpixPoolOptions options_) : options(options_) {}

void HealpixPoolImpl::pretty_print(std::ostream& stream) const {
  stream << "sphaera::models::HealpixPool(mode=" << to_string(options.mode()) << ")";
}

at::Tensor HealpixPoolImpl::forward(const at::Tensor& x) { return healpix_pool(x, options.mode()).values; }

PoolResult HealpixPoolImpl::forward_with_indices(const at::Tensor& x) { return healpix_pool(x, options.mode()); }

// ---- HealpixUnpool ----

UnpoolMode parse_unpool_mode(const std::string& text) {
  if (text == "nearest") return UnpoolMode::kNearest;
  if (text == "indices") return UnpoolMode::kIndices;
  SPHAERA_CHECK(false, "HEALPix unpooling: unknown mode '", text, "' (known: nearest, indices)");
  return UnpoolMode::kNearest;
}

std::string to_string(UnpoolMode mode) { return mode == UnpoolMode::kNearest ? "nearest" : "indices"; }

HealpixUnpoolImpl::HealpixUnpoolImpl(HealpixUnpoolOptions options_) : options(options_) {}

void HealpixUnpoolImpl::pretty_print(std::ostream& stream) const {
  stream << "sphaera::models::HealpixUnpool(mode=" << to_string(options.mode()) << ")";
}

at::Tensor HealpixUnpoolImpl::forward(const at::Tensor& x, const at::Tensor& indices) {
  if (options.mode() == UnpoolMode::kNearest) return healpix_unpool(x);
  SPHAERA_CHECK(indices.defined(), "HealpixUnpool: mode 'indices' needs the indices of a max pooling");
  return healpix_unpool(x, indices);
}

// ---- PixelBatchNorm ----

PixelBatchNormImpl::PixelBatchNormImpl(PixelBatchNormOptions options_) : options(options_) {
  SPHAERA_CHECK(options.channels() >= 1, "PixelBatchNorm: channels must be at least 1, got ", options.channels());
  reset();
}

void PixelBatchNormImpl::reset() {
  bn = register_module("bn", torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(options.channels())
                                                        .eps(options.eps())
                                                        .momentum(options.momentum())
                                                        .affine(options.affine())
                                                        .track_running_stats(true)));
}

void PixelBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "sphaera::models::PixelBatchNorm(" << options.channels() << ", eps=" << options.eps()
         << ", momentum=" << options.momentum() << ", affine=" << (options.affine() ? "true" : "false") << ")";
}

at::Tensor PixelBatchNormImpl::forward(const at::Tensor& x) {
  SPHAERA_CHECK(x.defined() && (x.dim() == 3 || x.dim() == 2) && x.size(1) == options.channels(),
                "PixelBatchNorm: input must be [B, ", options.channels(), ", V] or [B, ", options.channels(), "], got ",
                x.defined() ? x.sizes() : c10::IntArrayRef{});
  // A graph layer's output is stored [V, B, C] (a [B, C, V] view, see models::cheb_conv): normalised as the
  // [V·B, C] matrix it is, with the same statistics over batch and pixels. LibTorch's batch norm takes its fast
  // path there; on the strided view it is about 20 times slower (it was half of a DeepSphere training step).
  if (x.dim() == 3 && x.size(0) * x.size(2) > 1) {
    const at::Tensor pixels_first = x.permute({2, 0, 1});  // [V, B, C]
    if (pixels_first.is_contiguous()) {
      const int64_t b = x.size(0), c = x.size(1), v = x.size(2);
      return bn->forward(pixels_first.view({v * b, c})).view({v, b, c}).permute({1, 2, 0});
    }
  }
  return bn->forward(x);
}

// ---- GlobalAvgPool ----

void GlobalAvgPoolImpl::pretty_print(std::ostream& stream) const { stream << "sphaera::models::GlobalAvgPool()"; }

at::Tensor GlobalAvgPoolImpl::forward(const at::Tensor& x) { return global_avg_pool(x); }

}  // namespace sphaera::models
