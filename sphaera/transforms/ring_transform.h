#pragma once
/// The spherical harmonic transform on plain arrays, without LibTorch: the Fourier stage along iso-latitude
/// rings (fft.h) and, composed with the Legendre stage (legendre.h), whole forward and inverse transforms.
///
/// Sht (sht.h) records these same stages as autograd nodes; the command line's map2alm and alm2map call them
/// directly, so that those verbs run without loading LibTorch (whose start-up alone takes 0.6 s here).
/// Everything here is float64 and thread-safe once constructed (OpenMP over groups of rings).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sphaera::transforms {

class LegendrePlan;
class RealFft;

/// One ring of iso-latitude points: nphi points at colatitude theta, longitudes phi0 + 2πj/nphi.
struct Ring {
  double theta = 0.0;
  int64_t nphi = 0;
  double phi0 = 0.0;
  int64_t first = 0;    ///< position of the ring's first point in ring order
  double weight = 0.0;  ///< quadrature weight of each point of the ring
};

/// The 4·nside − 1 rings of the full-sky HEALPix grid, north to south, in RING order, each point weighing
/// 4π / (12 nside²).
std::vector<Ring> healpix_rings(int64_t nside);

/// healpy's ring weights (use_weights=True): the quadrature weight of the points of each of the 4·nside − 1
/// rings, 4π / (12 nside²) · (1 + w_ring), w read from `weight_ring_n<nside>.fits` in `healpy_data_dir`
/// (Debian's healpy-data). Throws core::InvalidArgument naming the file when it cannot be read.
std::vector<double> healpix_ring_weights(int64_t nside, const std::string& healpy_data_dir);

/// The Fourier stage along rings, a real-linear map between maps [n][V] (points in memory order) and per-ring
/// Fourier coefficients F [mmax+1][R][n][2] (real, imaginary):
///   analysis  F_m(r) = c_m w_r Σ_j f(π(r, j)) e^{−imφ_j}
///   adjoint   f(π(r, j)) = Re Σ_{m≥0} c_m w_r F_m(r) e^{imφ_j}
/// with per-ring factors w_r, per-order factors c_m and π the memory position of ring r's j-th point. Rings
/// with fewer than 2·mmax + 1 points alias: frequency m lands on bin m mod nphi.
class RingFourier {
 public:
  /// `ring_order`: memory position of each ring-order point ([points] int64), or null when memory order is
  /// ring order; it must outlive nothing: the shared pointer keeps it (and whatever owns it) alive.
  RingFourier(std::vector<Ring> rings, std::shared_ptr<const int64_t> ring_order, int64_t mmax, int64_t points,
              std::vector<double> ring_factor, std::vector<double> order_factor);
  ~RingFourier();

  int64_t mmax() const { return mmax_; }
  int64_t rings() const { return static_cast<int64_t>(rings_.size()); }
  int64_t points() const { return points_; }

  /// F = analysis(maps) for n maps: maps [n][points], F [mmax+1][rings][n][2] (all of F is written).
  void analysis(const double* maps, double* F, int64_t n) const;
  /// maps = the adjoint of analysis applied to F (all of maps is written).
  void adjoint(const double* F, double* maps, int64_t n) const;

 private:
  struct Run {  // consecutive rings of equal nphi
    int64_t first_ring, count, nphi;
  };
  struct Group {  // consecutive rings, contiguous in ring order: the unit of work of one thread
    int64_t first_ring, count, first_point, length;
    std::vector<Run> runs;
  };
  // The half spectra of a group's rings for n maps, transformed `lanes` maps at a time (RealFft::lanes(), 1
  // for a single map) in `groups` = ⌈n / lanes⌉ groups of maps, the last padded with zero maps: the real
  // (c = 0) or imaginary (c = 1) part of ring i's bin k of map b = q·lanes + v lies at
  // offset[i] + ((q·bins[i] + k)·2 + c)·lanes + v of `size` doubles; `work`: the scratch its FFTs need
  // (plus one ring of samples per lane).
  struct Spectra {
    std::vector<int64_t> offset, bins, nphi;
    int64_t size = 0, work = 0, lanes = 1, groups = 0;
  };
  Spectra spectra_of(const Group& g, int64_t n) const;
  // e^{±imφ0} c_m w_r of a group's rings, as [count][mmax+1] (re, im) pairs.
  void group_factors(const Group& g, double sign, std::vector<double>& out) const;

  std::vector<Ring> rings_;
  std::shared_ptr<const int64_t> ring_order_;
  int64_t mmax_, points_;
  std::vector<double> ring_factor_, order_factor_;
  std::vector<Group> groups_;
  std::vector<std::shared_ptr<const RealFft>> fft_;  // per ring (rings of one length share theirs)
};

/// For each RING index of the full-sky HEALPix grid its NEST index: the `ring_order` of NEST maps.
std::shared_ptr<const int64_t> healpix_ring_to_nest(int64_t nside);

/// Forward and inverse spherical harmonic transforms of full-sky maps on a ring grid (e.g. HEALPix), on plain
/// arrays. Coefficients are [n][lmax+1][lmax+1][2] (l, m, re/im; entries m > l zero), as Sht's complex
/// [n, lmax+1, lmax+1] viewed as real.
class RingTransform {
 public:
  /// `rings` with their quadrature weights (used by the forward transform); `ring_order` as RingFourier's
  /// (null: maps are stored in ring order); `precompute`: Legendre tables (LegendrePlan).
  RingTransform(std::vector<Ring> rings, std::shared_ptr<const int64_t> ring_order, int64_t lmax, bool precompute);
  ~RingTransform();

  int64_t lmax() const { return lmax_; }
  int64_t points() const { return points_; }
  /// Quadrature, then `iterations` steps of refinement a ← a + F(map − F⁻¹ a) (healpy's iter).
  void forward(const double* maps, int64_t n, int iterations, double* alm) const;
  /// Synthesis: maps [n][points] from alm [n][lmax+1][lmax+1][2] (the imaginary part of a_l0 is ignored).
  void inverse(const double* alm, int64_t n, double* maps) const;

 private:
  int64_t lmax_, points_;
  std::unique_ptr<RingFourier> analysis_, synthesis_;
  std::shared_ptr<const LegendrePlan> plan_;
};

}  // namespace sphaera::transforms
