#pragma once
/// Samplings of the sphere behind one interface. A map on a grid is a tensor [batch, channels, size()].
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "sphaera/transforms/ring_transform.h"  // Ring

namespace sphaera::transforms {

/// The iso-latitude structure of a grid, what the spherical harmonic transform needs.
struct RingLayout {
  std::vector<Ring> rings;  ///< north to south; together they hold every point once
  /// Memory position of each point in ring order (map_in_ring_order = map[..., ring_order]), int64 [V];
  /// undefined when memory order is ring order.
  at::Tensor ring_order;
  /// Largest lmax whose forward transform is exact on this grid (its sampling theorem), or −1 when there is
  /// none (HEALPix: quadrature only approximate, any lmax accepted).
  int64_t band_limit = -1;
  /// McEwen–Wiaux sampling: no exact per-ring quadrature; the forward transform extends the sphere to the
  /// torus instead (the ring weights are then unused).
  bool torus_forward = false;
};

/// A sampling of the sphere: points with directions and quadrature weights.
class Grid {
 public:
  virtual ~Grid() = default;
  /// Number of points V: the last dimension of maps on this grid.
  virtual int64_t size() const = 0;
  /// Unit vectors of the points, float64 [V, 3], in memory order.
  virtual at::Tensor directions() const = 0;
  /// Quadrature weights, float64 [V] (summing to 4π on a full sphere).
  virtual at::Tensor quadrature_weights() const = 0;
  /// Identifies the grid and all its parameters, e.g. "healpix(nside=32,nest,patch=2/4/0)": used as cache key
  /// and in messages.
  virtual std::string key() const = 0;
  /// The rings of iso-latitude points when the grid has them (full-sky HEALPix, Gauss–Legendre,
  /// equiangular), else null (partial skies, arbitrary points): only grids with rings have an SHT.
  virtual std::shared_ptr<const RingLayout> rings() const { return nullptr; }
};

using GridPtr = std::shared_ptr<const Grid>;

}  // namespace sphaera::transforms
