#pragma once
/// The Legendre stage of the spherical harmonic transform: for each order m, the real-linear map between
/// coefficients a_lm (l = m..lmax) and per-ring Fourier coefficients F_m(θ_r) = Σ_l λ_lm(θ_r) a_lm.
///
/// λ_lm(θ) = sqrt((2l+1)/4π · (l-m)!/(l+m)!) P_lm(cos θ), Condon–Shortley phase included (healpy, s2fft), so
/// that Y_lm(θ, φ) = λ_lm(θ) e^{imφ}. Computed in float64 by the three-term recurrence in l seeded from λ_mm,
/// with exponent scaling (values below 2^-800 tracked as mantissa and power of 2^800) so that nothing
/// underflows near the poles at high m. Values still scaled (below about 2^-400, far below float64's relative
/// precision of the sums they enter) count as 0; a block of rings whose values provably stay there up to lmax
/// is skipped (as libsharp skips rings beyond its m limit, but with a proof instead of an estimate).
///
/// Rings symmetric about the equator share one recurrence (λ_lm(π−θ) = (−1)^{l+m} λ_lm(θ)). Two modes with
/// the same results: tables of λ precomputed once (memory O(L²·rings), read instead of recomputed) or
/// the recurrence recomputed on every call (memory O(L·rings); vectorised by hand, AVX-512 or AVX2 chosen at
/// run time). From 8 columns (4 maps) on, each order's λ for a block of ring pairs is laid out once and applied to
/// all columns as small matrix products vectorised over the columns (the batched kernels); fewer columns take
/// one pass of the recurrence per group of columns.
#include <cstdint>
#include <vector>

namespace sphaera::transforms {

/// Where coefficient (l, m) of column c lives: m·m + l·l + (c / 2)·map + c % 2 (doubles). Columns come in
/// pairs, the real and imaginary parts of one map, e.g. complex [maps, lmax+1, mmax+1] viewed as real:
/// {l = 2(mmax+1), m = 2, map = 2(lmax+1)(mmax+1)}.
struct AlmStrides {
  int64_t l = 0, m = 0, map = 0;
};

/// Legendre stage for given ring colatitudes and band limits. Immutable after construction; thread-safe.
class LegendrePlan {
 public:
  /// `theta`: colatitude of each ring in [0, π], any order. `precompute`: build the tables now.
  LegendrePlan(std::vector<double> theta, int64_t lmax, int64_t mmax, bool precompute);

  int64_t lmax() const { return lmax_; }
  int64_t mmax() const { return mmax_; }
  int64_t rings() const { return static_cast<int64_t>(theta_.size()); }
  bool precomputed() const { return !table_.empty(); }
  /// Bytes the tables take (or would take) for these rings and band limits.
  static int64_t table_bytes(const std::vector<double>& theta, int64_t lmax, int64_t mmax);

  /// ring[m][r][k] = Σ_{l=m}^{lmax} λ_lm(θ_r) alm(l, m, k) for k < ncols (ncols even; columns are
  /// independent real vectors, e.g. the real and imaginary parts of several maps). Layouts: alm by `strides`
  /// (entries l < m are ignored), ring [mmax+1][rings][ncols]; all of ring is written.
  void synthesis(const double* alm, const AlmStrides& strides, double* ring, int64_t ncols) const;
  /// The transpose: alm(l, m, k) = Σ_r λ_lm(θ_r) ring[m][r][k] (entries l < m are set to zero).
  void analysis(const double* ring, double* alm, const AlmStrides& strides, int64_t ncols) const;
  /// Strides of the layout [mmax+1][lmax+1][ncols].
  static AlmStrides packed(int64_t lmax, int64_t ncols);

  /// λ_lm(θ) for one θ, all 0 ≤ m ≤ l ≤ lmax, as [lmax+1][lmax+1] (row l, column m; zero for m > l).
  static std::vector<double> values(double theta, int64_t lmax);

  /// The recurrence these tables come from, for other implementations of it (the tensor path): for l ≥ m + 2,
  /// λ_lm = a[l] x λ_{l−1,m} − ab[l] λ_{l−2,m} (x = cos θ), a and ab of size lmax + 1 (zero below m + 2);
  /// seeds λ_mm = (−1)^m 2^(log2_seed[m]) sin^m θ and λ_{m+1,m} = x sqrt(2m + 3) λ_mm.
  static void recurrence(int64_t m, int64_t lmax, std::vector<double>& a, std::vector<double>& ab);
  /// log2_seed[m] = log2 (λ_mm / sin^m θ) without the sign, for m ≤ mmax.
  static std::vector<double> log2_seeds(int64_t mmax);

 private:
  struct Pairs {
    std::vector<double> cos_theta, sin_theta, log2_sin_theta;  // of the northern ring of each pair
    std::vector<int64_t> north, south;                         // ring indices; south −1 when unpaired
  };
  void build_tables();
  const double* table(int64_t m) const { return table_.data() + table_offset_[m]; }

  std::vector<double> theta_;
  int64_t lmax_, mmax_;
  Pairs pairs_;
  std::vector<double> log2_norm_;        // log2 λ_mm(π/2) / sin^m, per m (sign excluded)
  std::vector<double> table_;            // per m, per 32 pairs: rows l = m, m+2, ... then m+1, m+3, ... of 32
  std::vector<int64_t> table_offset_;
};

}  // namespace sphaera::transforms
