#include "sphaera/models/spectral_conv.h"

#include <cmath>
#include <ostream>

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/functional.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/ring_grids.h"

namespace sphaera::models {

namespace {

transforms::ShtOptions with_lmax(transforms::ShtOptions options, int64_t lmax) {
  options.lmax = lmax;
  return options;
}

// [anchors, lmax + 1]: row i holds the hat function of anchor degree l_i = i·lmax/(anchors − 1).
at::Tensor interpolation(int64_t anchors, int64_t lmax) {
  at::Tensor p = at::zeros({anchors, lmax + 1}, at::kDouble);
  auto a = p.accessor<double, 2>();
  const double step = static_cast<double>(lmax) / static_cast<double>(anchors - 1);
  for (int64_t l = 0; l <= lmax; ++l) {
    const double position = lmax == 0 ? 0.0 : static_cast<double>(l) / step;
    const int64_t i = std::min<int64_t>(static_cast<int64_t>(std::floor(position)), anchors - 2);
    const double t = position - static_cast<double>(i);
    a[i][l] += 1.0 - t;
    a[i + 1][l] += t;
  }
  return p;
}

}  // namespace

SpectralConvImpl::SpectralConvImpl(SpectralConvOptions options_, transforms::GridPtr grid, transforms::ShtOptions sht)
    : options(std::move(options_)), grid_(std::move(grid)), sht_options_(std::move(sht)) {
  SPHAERA_CHECK(options.in_channels() >= 1 && options.out_channels() >= 1,
                "SpectralConv: in_channels and out_channels must be at least 1, got ", options.in_channels(), ", ",
                options.out_channels());
  SPHAERA_CHECK(options.lmax() >= 0, "SpectralConv: lmax must be ≥ 0, got ", options.lmax());
  SPHAERA_CHECK(options.anchors() == 0 || (options.anchors() >= 2 && options.anchors() <= options.lmax() + 1),
                "SpectralConv: anchors must be 0 (a weight per degree) or in [2, lmax + 1 = ", options.lmax() + 1,
                "], got ", options.anchors());
  sht_ = transforms::cached_sht(grid_, with_lmax(sht_options_, options.lmax()));
  reset();
}

void SpectralConvImpl::reset() {
  const int64_t cin = options.in_channels(), cout = options.out_channels();
  const int64_t nw = options.anchors() > 0 ? options.anchors() : options.lmax() + 1;
  weight = register_parameter("weight", torch::randn({cin, cout, nw}) * std::sqrt(2.0 / static_cast<double>(cin)));
  bias = options.bias() ? register_parameter("bias", torch::zeros({cout})) : at::Tensor();
}

void SpectralConvImpl::pretty_print(std::ostream& stream) const {
  stream << "sphaera::models::SpectralConv(" << options.in_channels() << ", " << options.out_channels()
         << ", lmax=" << options.lmax();
  if (options.anchors() > 0) stream << ", anchors=" << options.anchors();
  stream << ", bias=" << (options.bias() ? "true" : "false") << ")";
}

at::Tensor SpectralConvImpl::degree_weights() const {
  if (options.anchors() == 0) return weight;
  // Built on the host once, moved to the weight's device and dtype once: no host copy per forward.
  if (!interpolation_.defined() || interpolation_.device() != weight.device() ||
      interpolation_.scalar_type() != weight.scalar_type()) {
    interpolation_ = interpolation(options.anchors(), options.lmax()).to(weight.options().requires_grad(false));
  }
  return at::matmul(weight, interpolation_);
}

at::Tensor SpectralConvImpl::forward(const at::Tensor& input) {
  SPHAERA_CHECK(input.dim() == 3 && input.size(1) == options.in_channels() && input.size(2) == grid_->size(),
                "SpectralConv: input must be [B, ", options.in_channels(), ", ", grid_->size(), "] on ", grid_->key(),
                ", got ", input.sizes());
  // Mixed precision: transforms and the complex mix per degree run in the weight's precision, outside
  // autocast (there is no bfloat16 complex type).
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const at::Tensor x = at::isReducedFloatingType(input.scalar_type()) ? input.to(weight.scalar_type()) : input;
  const at::Tensor alm = sht_->forward(x);                         // [B, Cin, L+1, L+1] complex
  const at::Tensor w = degree_weights().to(at::toRealValueType(alm.scalar_type()));  // [Cin, Cout, L+1]
  at::Tensor y = sht_->inverse(degree_mix(alm, w));  // [B, Cout, V]
  if (bias.defined()) y = y + bias.to(y.scalar_type()).view({1, -1, 1});
  return y;
}

SpectralPoolImpl::SpectralPoolImpl(transforms::GridPtr input, transforms::GridPtr output, int64_t lmax,
                                   transforms::ShtOptions sht)
    : input_(std::move(input)), output_(std::move(output)), lmax_(lmax), sht_options_(std::move(sht)) {
  analysis_ = transforms::cached_sht(input_, with_lmax(sht_options_, lmax_));
  synthesis_ = transforms::cached_sht(output_, with_lmax(sht_options_, lmax_));
}

void SpectralPoolImpl::reset() {}

void SpectralPoolImpl::pretty_print(std::ostream& stream) const {
  stream << "sphaera::models::SpectralPool(" << input_->key() << " -> " << output_->key() << ", lmax=" << lmax_
         << ")";
}

at::Tensor SpectralPoolImpl::forward(const at::Tensor& x) {
  SPHAERA_CHECK(x.dim() == 3 && x.size(2) == input_->size(), "SpectralPool: input must be [B, C, ", input_->size(),
                "] on ", input_->key(), ", got ", x.sizes());
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  return synthesis_->inverse(analysis_->forward(at::isReducedFloatingType(x.scalar_type()) ? x.to(at::kFloat) : x));
}

transforms::GridPtr coarser_ring_grid(const transforms::GridPtr& grid) {
  SPHAERA_CHECK(grid != nullptr && grid->rings() != nullptr, "spectral pooling needs a full-sky ring grid, not ",
                grid ? grid->key() : std::string("null"));
  if (const auto* healpix = dynamic_cast<const transforms::HealpixGrid*>(grid.get())) {
    SPHAERA_CHECK(healpix->nside() >= 2, "spectral pooling cannot coarsen ", grid->key(), " (nside 1)");
    return std::make_shared<transforms::HealpixGrid>(healpix->nside() / 2);
  }
  if (const auto* gl = dynamic_cast<const transforms::GaussLegendreGrid*>(grid.get())) {
    const int64_t lmax = (gl->rings()->band_limit + 1) / 2 - 1;
    SPHAERA_CHECK(lmax >= 0, "spectral pooling cannot coarsen ", grid->key());
    return transforms::GaussLegendreGrid::for_lmax(lmax);
  }
  if (const auto* eq = dynamic_cast<const transforms::EquiangularGrid*>(grid.get())) {
    SPHAERA_CHECK(eq->band_limit() >= 2, "spectral pooling cannot coarsen ", grid->key());
    return std::make_shared<transforms::EquiangularGrid>(eq->band_limit() / 2, eq->kind());
  }
  SPHAERA_CHECK(false, "spectral pooling does not know a coarser grid for ", grid->key());
  return nullptr;
}

}  // namespace sphaera::models
