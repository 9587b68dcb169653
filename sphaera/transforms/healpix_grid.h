#pragma once
/// The HEALPix sampling (Górski et al. 2005) on HEALPix C++, NEST order in memory, full or partial sky.
#include "sphaera/transforms/grid.h"

namespace sphaera::transforms {

class HealpixGrid : public Grid {
 public:
  /// Full sky at `nside` (a power of two, 1 ≤ nside ≤ 8192), NEST order.
  explicit HealpixGrid(int64_t nside);
  /// Partial sky: the given NEST pixels (int64, strictly increasing, each in [0, 12 nside²)).
  HealpixGrid(int64_t nside, at::Tensor nest_pixels);
  /// DeepSphere's split of the sphere into 12·order² equal NEST patches (order a power of two ≤ nside):
  /// patch `index` ∈ [0, 12·order²) holds the (nside/order)² pixels of NEST pixel `index` at nside `order`.
  static std::shared_ptr<HealpixGrid> patch(int64_t nside, int64_t order, int64_t index);

  int64_t size() const override;
  at::Tensor directions() const override;
  at::Tensor quadrature_weights() const override;
  std::string key() const override;

  int64_t nside() const { return nside_; }
  int64_t npix_full_sky() const { return 12 * nside_ * nside_; }
  bool is_full_sky() const;
  /// NEST index of each point, int64 [V], strictly increasing.
  const at::Tensor& nest_pixels() const { return nest_pixels_; }
  /// The 8 HEALPix neighbours of each point (SW, W, NW, N, NE, E, SE, S) as positions in this grid,
  /// int64 [V, 8]; -1 where HEALPix has none (8 pixels of the full sky have 7) or the neighbour is outside a
  /// partial sky.
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
  int64_t nside_;
  at::Tensor nest_pixels_;
  std::string patch_label_;
};

/// Checks that nside is a power of two in [1, 8192]; `what` names the setting in the error message.
void check_nside(int64_t nside, const std::string& what = "nside");

}  // namespace sphaera::transforms
