#pragma once
/// Spectral layers (Esteves et al. 2018): convolution with zonal filters, one weight per degree l for each
/// channel pair, computed by the spherical harmonic transform — exactly rotation equivariant on grids with a
/// sampling theorem — and spectral pooling (band-limit truncation and resampling on a coarser grid).
#include <cstdint>
#include <memory>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "sphaera/transforms/grid.h"
#include "sphaera/transforms/sht.h"

namespace sphaera::models {

struct SpectralConvOptions {
  SpectralConvOptions(int64_t in_channels, int64_t out_channels, int64_t lmax)
      : in_channels_(in_channels), out_channels_(out_channels), lmax_(lmax) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  /// Band limit of the layer: degrees above it are cut.
  TORCH_ARG(int64_t, lmax);
  /// 0: a free weight per degree (lmax + 1 per channel pair). n ≥ 2: weights at n anchor degrees
  /// l_i = i·lmax/(n − 1), linearly interpolated in between (smooth spectra: spatially localised filters).
  TORCH_ARG(int64_t, anchors) = 0;
  /// A learned constant per output channel (rotation invariant).
  TORCH_ARG(bool, bias) = true;
};

/// [B, Cin, V] → [B, Cout, V] on one ring grid: y_o = F⁻¹( Σ_c w[c, o, l] · F(x_c)_lm ) + b_o.
///
/// Parameters: `weight` [Cin, Cout, lmax + 1] (or [Cin, Cout, anchors]), `bias` [Cout]. Initialisation
/// std = sqrt(2 / Cin) (He: ReLU follows; with a flat spectrum the layer is a 1×1 convolution). The transform
/// plan is shared through transforms::cached_sht and never saved.
class SpectralConvImpl : public torch::nn::Cloneable<SpectralConvImpl> {
 public:
  SpectralConvImpl(SpectralConvOptions options, transforms::GridPtr grid, transforms::ShtOptions sht = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& input);
  /// The weight per degree [Cin, Cout, lmax + 1] (interpolated from the anchors when there are some).
  at::Tensor degree_weights() const;

  SpectralConvOptions options;
  at::Tensor weight;
  at::Tensor bias;

 private:
  transforms::GridPtr grid_;
  transforms::ShtOptions sht_options_;
  std::shared_ptr<const transforms::Sht> sht_;
  mutable at::Tensor interpolation_;  // anchors → degrees [anchors, lmax + 1], on the weight's device
};
TORCH_MODULE(SpectralConv);

/// Spectral pooling [B, C, V_in] → [B, C, V_out]: forward transform on the input grid up to `lmax`, inverse on
/// the output grid (coarser). Parameter-free.
class SpectralPoolImpl : public torch::nn::Cloneable<SpectralPoolImpl> {
 public:
  SpectralPoolImpl(transforms::GridPtr input, transforms::GridPtr output, int64_t lmax,
                   transforms::ShtOptions sht = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& x);

 private:
  transforms::GridPtr input_, output_;
  int64_t lmax_;
  transforms::ShtOptions sht_options_;
  std::shared_ptr<const transforms::Sht> analysis_, synthesis_;
};
TORCH_MODULE(SpectralPool);

/// The grid spectral pooling goes to: HEALPix nside/2 (full sky), Gauss–Legendre and equiangular grids for
/// half the band limit. Throws for grids without rings or already at the smallest size.
transforms::GridPtr coarser_ring_grid(const transforms::GridPtr& grid);

}  // namespace sphaera::models
