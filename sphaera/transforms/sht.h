#pragma once
/// The spherical harmonic transform of real maps on grids with iso-latitude rings (HEALPix, Gauss–Legendre,
/// Driscoll–Healy, McEwen–Wiaux), differentiable: the backward of each transform is its exact adjoint.
///
/// Conventions (CONVENTIONS.md): orthonormal spherical harmonics with the Condon–Shortley phase, as healpy;
/// maps [..., V] (HEALPix in NEST order in memory, permuted to RING inside); coefficients complex
/// [..., lmax+1, lmax+1] indexed [l, m], 0 ≤ m ≤ l (entries m > l are zero). The synthesis reads the real part
/// of a_l0 only (a real map has real a_l0).
///
/// Adjoints are taken for the real inner products that autograd uses: Σ_v x_v y_v on maps and
/// Re Σ_{l, m≥0} conj(a_lm) b_lm on the stored coefficients. So the adjoint of the inverse transform is not
/// the forward transform: it has no quadrature weights and counts each m > 0 twice (its negative-m partner
/// is implied).
///
/// Forward transforms: exact quadrature on Gauss–Legendre and Driscoll–Healy up to their band limit; on
/// McEwen–Wiaux the exact transform through the extension of the sphere to the torus (McEwen & Wiaux 2011),
/// resampled onto Gauss–Legendre nodes; on HEALPix, as healpy: quadrature with uniform or ring weights, then
/// `iterations` steps of refinement a ← a + F(map − F⁻¹ a).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sphaera/transforms/grid.h"

namespace sphaera::transforms {

class LegendrePlan;
class RingFourier;

enum class ShtMode {
  kAuto,        ///< precompute when the Legendre tables fit in the memory budget, else on the fly
  kPrecompute,  ///< Legendre tables computed once, cached per (grid, lmax), memory O(L²·rings)
  kOnTheFly,    ///< recurrence recomputed on every call (vectorised), memory O(L·rings)
};

/// "auto", "precompute", "on_the_fly".
std::string to_string(ShtMode mode);
/// Parses the names of to_string(); throws core::InvalidArgument listing them.
ShtMode parse_sht_mode(const std::string& name);

/// Which implementation of the stages runs a transform. Both compute the same maps (to rounding).
enum class ShtPath {
  kAuto,    ///< host kernels for maps on the CPU, tensor operations for maps on any other device
  kHost,    ///< plain-array kernels on the CPU in float64 (ring_transform.h, legendre.h); maps elsewhere are
            ///< copied to the host and back
  kTensor,  ///< LibTorch operations on the maps' own device and dtype (cuFFT and cuBLAS on CUDA), Legendre
            ///< tables kept on that device, or (on the fly, or over memory_budget in auto mode) the
            ///< recurrence run there on every call, in blocks of degrees
};

/// "auto", "host", "tensor".
std::string to_string(ShtPath path);
/// Parses the names of to_string(); throws core::InvalidArgument listing them.
ShtPath parse_sht_path(const std::string& name);

struct ShtOptions {
  /// Band limit; −1: the grid's sampling theorem (Gauss–Legendre nrings − 1, equiangular L − 1), HEALPix
  /// 3·nside − 1 (healpy's default). More than the sampling theorem allows is an error (not on HEALPix).
  int64_t lmax = -1;
  ShtMode mode = ShtMode::kAuto;
  /// Bytes the precomputed tables may take in auto mode (default 1 GiB).
  int64_t memory_budget = int64_t{1} << 30;
  /// HEALPix forward transform: refinement steps (healpy's `iter`); −1: 3 on HEALPix (healpy's default).
  /// Other grids have exact forward transforms and accept only 0 or −1.
  int iterations = -1;
  /// HEALPix: quadrature weights per ring from healpy-data (`weight_ring_n<nside>.fits`), healpy's
  /// use_weights=True.
  bool ring_weights = false;
  /// Where the ring weight files are (Debian's healpy-data).
  std::string healpy_data_dir = "/usr/share/healpy/data";
  /// Host kernels or tensor operations (auto: by the device of the maps).
  ShtPath path = ShtPath::kAuto;
};

/// A transform plan for one grid and band limit. Immutable and thread-safe; Legendre tables are shared
/// between plans of the same grid and lmax.
class Sht {
 public:
  /// Throws core::InvalidArgument when the grid has no rings (partial skies, arbitrary points), lmax exceeds
  /// the grid's sampling theorem (the message names the limit), or an option is out of range.
  explicit Sht(GridPtr grid, ShtOptions options = {});
  ~Sht();

  /// Forward transform (analysis): real maps [..., V] (float32/float64) → coefficients [..., L+1, L+1]
  /// (complex64/complex128 accordingly).
  at::Tensor forward(const at::Tensor& map) const;
  /// Inverse transform (synthesis): coefficients [..., L+1, L+1] (complex) → real maps [..., V].
  at::Tensor inverse(const at::Tensor& alm) const;
  /// The adjoint of forward() (what its backward applies): coefficients → maps.
  at::Tensor forward_adjoint(const at::Tensor& alm) const;
  /// The adjoint of inverse() (what its backward applies): maps → coefficients.
  at::Tensor inverse_adjoint(const at::Tensor& map) const;

  int64_t lmax() const { return lmax_; }
  /// precompute or on-the-fly, as resolved from the options for the host kernels (the tensor path resolves
  /// auto against its own table size, tensor_table_bytes).
  ShtMode mode() const { return mode_; }
  int iterations() const { return iterations_; }
  const GridPtr& grid() const { return grid_; }
  /// Bytes of Legendre tables this plan uses on the host (0 on the fly).
  int64_t table_bytes() const;
  /// Bytes of Legendre tables the tensor path keeps on a device per dtype of the given element size.
  int64_t tensor_table_bytes(int64_t element_size) const;

 private:
  struct Stages;
  // The stages of the tensor path for one device and dtype, built on first use and kept.
  std::shared_ptr<const Stages> tensor_stages(at::Device device, at::ScalarType real_type) const;
  bool tensor_path(const at::Tensor& input) const;
  // maps [n, V] (memory order) ↔ coefficients as real [n, L+1, L+1, 2], through either set of stages
  at::Tensor analysis_packed(const Stages& stages, const at::Tensor& maps) const;  // one quadrature step
  at::Tensor synthesis_packed(const Stages& stages, const at::Tensor& alm) const;

  GridPtr grid_;
  std::shared_ptr<const RingLayout> layout_;
  int64_t lmax_;
  ShtMode mode_;
  int iterations_;
  std::shared_ptr<const RingFourier> analysis_stage_, synthesis_stage_;  // Fourier stages along the rings
  std::shared_ptr<const LegendrePlan> synthesis_plan_;
  std::shared_ptr<const LegendrePlan> analysis_plan_;  // differs only on McEwen–Wiaux (Gauss–Legendre nodes)
  at::Tensor torus_even_, torus_odd_;  // McEwen–Wiaux: ring samples → Gauss–Legendre nodes, by parity of m
  at::Tensor torus_weight_;            // McEwen–Wiaux: Gauss–Legendre weights · 2π / nphi per node
  std::shared_ptr<const Stages> host_stages_;
  ShtOptions options_;
  std::vector<double> analysis_theta_;  // colatitudes of the analysis nodes (the rings, or Gauss–Legendre)
  struct FourierFactors {
    std::vector<double> ring, order;  // per ring w_r, per order c_m (ring_transform.h)
  };
  FourierFactors analysis_factors_, synthesis_factors_;
  mutable std::mutex tensor_mutex_;
  mutable std::map<std::string, std::shared_ptr<const Stages>> tensor_stages_;
};

/// The plan for (grid, options), built once and shared (by every layer on the same grid and band limit).
std::shared_ptr<const Sht> cached_sht(const GridPtr& grid, const ShtOptions& options);

/// The natural band limit of a grid for learned spectral layers: its sampling theorem where it has one,
/// 2·nside on HEALPix (within healpy's 3·nside − 1, where its quadrature is still accurate). Throws for grids
/// without rings.
int64_t natural_lmax(const Grid& grid);

}  // namespace sphaera::transforms
