#pragma once
/// The HEALPix sampling (Górski et al. 2005) on HEALPix C++, NEST order in memory, full or partial sky.
#include <memory>

#include "sphaera/transforms/grid.h"
#include "sphaera/transforms/healpix_nest.h"  // check_nside

namespace sphaera::transforms {

/// Full sky, DeepSphere patch, or any NEST pixel subset at one nside. Immutable; directions and neighbours
/// are computed on first use and kept (thread-safe), so share grids through GridPtr.
class HealpixGrid : public Grid {
 public:
  /// Full sky at `nside` (a power of two, 1 ≤ nside ≤ 8192), NEST order.
  explicit HealpixGrid(int64_t nside);
  /// Partial sky: the given NEST pixels (int64, strictly increasing, each in [0, 12 nside²)).
  HealpixGrid(int64_t nside, at::Tensor nest_pixels);
  /// DeepSphere's split of the sphere into 12·order² equal NEST patches (order a power of two ≤ nside):
  /// patch `index` ∈ [0, 12·order²) holds the (nside/order)² pixels of NEST pixel `index` at nside `order`,
  /// i.e. NEST pixels [index·n, (index+1)·n) with n = (nside/order)².
  static std::shared_ptr<HealpixGrid> patch(int64_t nside, int64_t order, int64_t index);

  int64_t size() const override;
  at::Tensor directions() const override;
  /// Uniform: 4π / (12 nside²) for every point (HEALPix pixels have equal areas).
  at::Tensor quadrature_weights() const override;
  /// "healpix(nside=8,nest)" (full sky), "healpix(nside=8,nest,patch=3,order=1)" (patch 3 of 12·1²),
  /// "healpix(nside=8,nest,pixels=100,hash=0123456789abcdef)" (other subsets: count and 64-bit FNV-1a hash of
  /// the pixel list).
  std::string key() const override;
  /// Full sky: the 4·nside − 1 HEALPix rings (RING order; ring_order = ring_to_nest()), uniform weights, no
  /// band limit. Partial skies: null.
  std::shared_ptr<const RingLayout> rings() const override;

  int64_t nside() const { return nside_; }
  int64_t npix_full_sky() const { return 12 * nside_ * nside_; }
  bool is_full_sky() const;
  /// Patch order and index for grids made by patch() (and their coarsened/refined versions), else 0 and -1.
  int64_t patch_order() const { return patch_order_; }
  int64_t patch_index() const { return patch_index_; }
  /// NEST index of each point, int64 [V], strictly increasing (on the full sky made on first use: an
  /// nside 8192 grid does not hold 6 GB of indices it never needs).
  const at::Tensor& nest_pixels() const;
  /// Position in this grid of a NEST pixel, or -1 when it is not part of the grid.
  int64_t position_of(int64_t nest_pixel) const;
  /// The 8 HEALPix neighbours of each point (SW, W, NW, N, NE, E, SE, S) as positions in this grid,
  /// int64 [V, 8]; -1 where HEALPix has none (for nside ≥ 2, 24 pixels of the full sky have 7: the corner
  /// pixels at the 8 vertices where only three base pixels meet) or the neighbour is outside a partial sky.
  at::Tensor neighbours() const;
  /// The grid one level coarser (nside / 2) whose pixels are the parents of this grid's pixels. Requires each
  /// parent's 4 NEST children present (they are then consecutive in memory).
  std::shared_ptr<HealpixGrid> coarsened() const;
  /// The grid one level finer (nside · 2): the 4 NEST children of every pixel.
  std::shared_ptr<HealpixGrid> refined() const;
  /// Full sky only: for each RING index its NEST index, int64 [V] (map_ring = map_nest[..., ring_to_nest]).
  at::Tensor ring_to_nest() const;
  /// Full sky only: for each NEST index its RING index, int64 [V] (map_nest = map_ring[..., nest_to_ring]).
  at::Tensor nest_to_ring() const;

 private:
  struct Lazy;
  void init();
  int64_t nside_;
  int64_t size_;
  at::Tensor nest_pixels_;  // undefined on the full sky until asked for
  int64_t patch_order_ = 0;
  int64_t patch_index_ = -1;
  std::shared_ptr<Lazy> lazy_;
};

/// The full-sky HEALPix sampling with maps stored in RING order, as most HEALPix FITS files hold them: a
/// transform of such a map needs no reordering. It offers what the spherical harmonic transform needs (rings,
/// directions, weights); graphs, pooling and patches work on HealpixGrid (NEST).
class HealpixRingOrderGrid : public Grid {
 public:
  /// Full sky at `nside` (a power of two, 1 ≤ nside ≤ 8192), RING order.
  explicit HealpixRingOrderGrid(int64_t nside);
  int64_t size() const override { return 12 * nside_ * nside_; }
  at::Tensor directions() const override;
  at::Tensor quadrature_weights() const override;
  /// "healpix(nside=8,ring)".
  std::string key() const override;
  /// The 4·nside − 1 HEALPix rings; memory order is ring order.
  std::shared_ptr<const RingLayout> rings() const override { return layout_; }
  int64_t nside() const { return nside_; }

 private:
  int64_t nside_;
  std::shared_ptr<const RingLayout> layout_;
};

/// nside of a full-sky HEALPix grid (HealpixGrid or HealpixRingOrderGrid), else 0.
int64_t full_sky_healpix_nside(const Grid& grid);

}  // namespace sphaera::transforms
