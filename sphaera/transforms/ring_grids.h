#pragma once
/// Latitude-longitude samplings with a sampling theorem: Gauss–Legendre and equiangular (Driscoll–Healy,
/// McEwen–Wiaux). Points are stored ring by ring, north to south, longitudes φ_j = 2πj/nphi (memory order is
/// ring order).
#include <memory>
#include <vector>

#include "sphaera/transforms/grid.h"

namespace sphaera::transforms {

/// Gauss–Legendre nodes x (descending, in (−1, 1)) and weights w (summing to 2) of order n ≥ 1: exact for
/// polynomials of degree ≤ 2n − 1.
void gauss_legendre(int64_t n, std::vector<double>& x, std::vector<double>& w);

/// Rings at the Gauss–Legendre nodes in cos θ: `nrings` rings of `nphi` points (default 2·nrings − 1). The
/// forward transform is exact for lmax ≤ min(nrings − 1, (nphi − 1)/2).
class GaussLegendreGrid : public Grid {
 public:
  explicit GaussLegendreGrid(int64_t nrings, int64_t nphi = -1);
  /// The smallest Gauss–Legendre grid exact at `lmax`: lmax + 1 rings of 2·lmax + 1 points.
  static std::shared_ptr<GaussLegendreGrid> for_lmax(int64_t lmax);
  int64_t size() const override { return nrings_ * nphi_; }
  at::Tensor directions() const override;
  at::Tensor quadrature_weights() const override;
  std::string key() const override;
  std::shared_ptr<const RingLayout> rings() const override { return layout_; }
  int64_t nrings() const { return nrings_; }
  int64_t nphi() const { return nphi_; }

 private:
  int64_t nrings_, nphi_;
  std::shared_ptr<RingLayout> layout_;
};

/// Equiangular samplings for band limit L (lmax = L − 1), 2L − 1 points per ring:
/// - Driscoll–Healy: 2L rings θ_j = πj/(2L), j = 0..2L−1 (north pole included, south pole not), with the
///   Driscoll–Healy quadrature weights (exact for lmax = L − 1);
/// - McEwen–Wiaux: L rings θ_j = π(2j+1)/(2L−1), j = 0..L−1 (south pole included), exact forward transform
///   through the extension of the sphere to the torus (McEwen & Wiaux 2011); its `quadrature_weights()`
///   are the Driscoll–Healy-like ring areas, for integrals only.
class EquiangularGrid : public Grid {
 public:
  enum class Kind { kDriscollHealy, kMcEwenWiaux };
  EquiangularGrid(int64_t band_limit, Kind kind);
  int64_t size() const override { return nrings_ * nphi_; }
  at::Tensor directions() const override;
  at::Tensor quadrature_weights() const override;
  std::string key() const override;
  std::shared_ptr<const RingLayout> rings() const override { return layout_; }
  Kind kind() const { return kind_; }
  int64_t band_limit() const { return band_limit_; }

 private:
  int64_t band_limit_;
  Kind kind_;
  int64_t nrings_, nphi_;
  std::shared_ptr<RingLayout> layout_;
};

/// Directions [V, 3] of the points of a ring layout, in memory order (ring order permuted back).
at::Tensor ring_directions(const RingLayout& layout, int64_t size);
/// Quadrature weights [V] of a ring layout, in memory order.
at::Tensor ring_weights(const RingLayout& layout, int64_t size);

}  // namespace sphaera::transforms
