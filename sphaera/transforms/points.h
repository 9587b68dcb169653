#pragma once
/// Arbitrary points on the sphere (weather stations, irregular samplings) and the evaluation of spherical
/// harmonic coefficients at them, with its exact adjoint: what NFFT's nfsft_trafo / nfsft_adjoint compute,
/// batched and differentiable.
///
/// Conventions as the SHT (sht.h): orthonormal harmonics with the Condon–Shortley phase; coefficients of real
/// fields complex [..., lmax+1, lmax+1] indexed [l, m], 0 ≤ m ≤ l (entries m > l are ignored, the imaginary
/// part of a_l0 too), so that evaluate() computes exactly what Sht::inverse computes at a grid's points:
///   f(θ, φ) = Σ_l λ_l0(θ) Re a_l0 + 2 Re Σ_{l, 0<m≤l} λ_lm(θ) a_lm e^{imφ}.
/// The adjoint is taken for the real inner products autograd uses (Σ x y on values, Re Σ conj(a) b over the
/// stored entries m ≤ l): b_lm = c_m Σ_i y_i λ_lm(θ_i) e^{−imφ_i}, c_0 = 1, c_m = 2 (no quadrature weights).
///
/// Cost O(M·L²) for M points: the Legendre recurrence (LegendrePlan, float64, underflow-safe) runs once per
/// distinct colatitude (points on one ring of latitude share it), the longitudes enter through e^{imφ} by a
/// rotation re-anchored with sin/cos every 64 orders. Colatitudes are processed in chunks of at most 4096
/// (working memory about 64 MB per chunk for one map, (L+1)·chunk·2·maps doubles). Threads: OpenMP (small
/// problems run on the calling thread). Measured on this 2-core machine, one map, M = 10⁵ random points,
/// lmax 256: evaluate ≈ 1.1 s and evaluate_adjoint ≈ 1.7 s of CPU time (three quarters of it the Legendre
/// kernels of LegendrePlan).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sphaera/transforms/grid.h"

namespace sphaera::transforms {

/// M arbitrary points on the unit sphere, in the order given (memory order). No iso-latitude rings (no SHT:
/// use evaluate / evaluate_adjoint); the graph path (graph.h, V2 with an explicit kernel_width) works on it.
/// Immutable; cheap to share through GridPtr.
class PointGrid : public Grid {
 public:
  /// Points from directions [M, 3] (any floating dtype, any device; M ≥ 1), normalised to unit length.
  /// `weights`: quadrature weights [M] (finite, ≥ 0); undefined: 4π/M each. Zero, non-finite or
  /// wrongly-shaped input throws core::InvalidArgument naming the first bad point.
  explicit PointGrid(const at::Tensor& directions, const at::Tensor& weights = {});
  /// Points from colatitude θ ∈ [0, π] and longitude φ (finite, any range), in radians, [M] each. The given
  /// angles are used as they are by evaluate() (no round trip through unit vectors).
  static std::shared_ptr<PointGrid> from_colatitude_longitude(const at::Tensor& theta, const at::Tensor& phi,
                                                              const at::Tensor& weights = {});
  /// Points from latitude ∈ [−90, 90] and longitude (finite, any range, e.g. [−180, 180] or [0, 360)) in
  /// degrees, [M] each: what station lists give. Multiples of 90° map to exact 0 and ±1 coordinates.
  static std::shared_ptr<PointGrid> from_latitude_longitude_degrees(const at::Tensor& latitude,
                                                                    const at::Tensor& longitude,
                                                                    const at::Tensor& weights = {});

  int64_t size() const override;
  /// Unit vectors float64 [M, 3], memory order.
  at::Tensor directions() const override;
  /// float64 [M]: as given, or 4π/M each.
  at::Tensor quadrature_weights() const override;
  /// "points(n=1000,hash=0123456789abcdef)": count and 64-bit FNV-1a hash of the unit vectors' bytes;
  /// ",weights=<hash>" is appended when weights were given.
  std::string key() const override;

  /// Colatitude θ ∈ [0, π] and longitude φ of each point, float64 [M] (φ as given by the angle factories, else
  /// atan2(y, x) ∈ (−π, π]).
  at::Tensor colatitudes() const;
  at::Tensor longitudes() const;
  /// How many distinct colatitudes (rings of one or more points) the Legendre recurrence runs for. Sorted
  /// colatitudes within 4·10⁻¹⁵ rad of a ring's smallest one join it and are evaluated there (a shift of a few
  /// ulp, as small as what atan2 resolves from unit vectors: points of one latitude given as unit vectors still
  /// share a ring).
  int64_t distinct_colatitudes() const;

  /// What evaluate() needs, shared with the autograd graph (which may outlive this grid).
  struct Geometry;
  const std::shared_ptr<const Geometry>& geometry() const { return geometry_; }

 private:
  struct Parts;
  PointGrid(Parts parts, const at::Tensor& weights);
  at::Tensor directions_, theta_, phi_, weights_;
  std::string key_;
  std::shared_ptr<const Geometry> geometry_;
};

/// Values of real fields at the points: coefficients complex [..., lmax+1, lmax+1] (complex64/complex128)
/// → real [..., M] (float32/float64 accordingly; recurrences in float64), on the coefficients' device.
/// Equals Sht::inverse at the points of a ring grid (given in its memory order) to rounding. Differentiable;
/// its backward is evaluate_adjoint (and that one's is evaluate, so double backward works).
at::Tensor evaluate(const at::Tensor& alm, const PointGrid& points);

/// The exact adjoint of evaluate() for the real inner products above: values real [..., M] (float32/float64)
/// → coefficients complex [..., lmax+1, lmax+1], b_lm = c_m Σ_i y_i λ_lm(θ_i) e^{−imφ_i} (c_0 = 1, c_m>0 = 2;
/// Im b_l0 = 0; zero for m > l). Not a quadrature (no weights): a least-squares fit or a weighted projection
/// is built from the two. Differentiable; its backward is evaluate.
at::Tensor evaluate_adjoint(const at::Tensor& values, const PointGrid& points, int64_t lmax);

}  // namespace sphaera::transforms
