#pragma once
/// Samplings of the sphere behind one interface. A map on a grid is a tensor [batch, channels, size()].
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

namespace sphaera::transforms {

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
};

using GridPtr = std::shared_ptr<const Grid>;

}  // namespace sphaera::transforms
