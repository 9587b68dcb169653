#pragma once
/// Fast Fourier transforms of any length, in float64, for the rings of the spherical harmonic transform.
///
/// Why our own: a HEALPix grid has about nside distinct ring lengths (4, 8, ..., 4·nside, many with a large
/// prime factor), and each transform is needed once per ring. FFTW plans such lengths slowly (1024 of them
/// take 2.6 s here, longer than the whole transform), and LibTorch's FFT would load LibTorch. A plan here
/// costs O(n) (its twiddle factors): Stockham stages of radix 4 and 2 and direct butterflies for odd primes
/// up to kMaxDirectPrime, Bluestein's chirp-z algorithm (through a power-of-two transform) for lengths with a
/// larger prime factor, so every length takes O(n log n). Accurate to a few 1e-16 relative (tests).
///
/// Conventions as FFTW's and numpy's (unnormalised both ways):
///   forward  X_k = Σ_j x_j e^{−2πijk/n}
///   backward x_j = Σ_k X_k e^{+2πijk/n}
/// Complex values are interleaved (re, im) doubles.
///
/// RealFft also transforms lanes() sequences of one length at once, one per lane of the CPU's vectors: the
/// same arithmetic on vectors of doubles, so that a batch of maps runs at several times the speed of one map
/// after another (the ring transform's Fourier stage uses it for batches of two maps or more).
#include <cstdint>
#include <memory>
#include <vector>

namespace sphaera::transforms {

/// Prime factors up to this are handled by direct butterflies; a length with a larger one uses Bluestein.
constexpr int64_t kMaxDirectPrime = 13;

/// A complex transform of one length. Immutable and thread-safe once built.
class ComplexFft {
 public:
  friend struct FftKernels;
  explicit ComplexFft(int64_t n);
  ~ComplexFft();
  int64_t size() const { return n_; }
  /// out = forward (or backward) transform of in; in and out are n complex values each and must not overlap.
  /// `work`: at least work_size() doubles of scratch.
  void transform(const double* in, double* out, bool backward, double* work) const;
  int64_t work_size() const;

 private:
  struct Stage {
    int64_t radix, span;          // span: the length of the sub-transforms this stage splits (n / radices before)
    std::vector<double> twiddle;  // w_span^{k·t} for k < span / radix, t < radix, as [k][t] (re, im)
    std::vector<double> dft;      // e^{−2πi·r·t/radix} for r, t < radix, as [r][t] (re, im)
  };
  int64_t n_;
  std::vector<Stage> stages_;  // mixed radix (Stockham); empty when Bluestein
  // Bluestein: chirp c_k = e^{−iπk²/n} (k < n) and the transform of the conjugate chirp, wrapped to length m.
  std::shared_ptr<const ComplexFft> inner_;
  std::vector<double> chirp_, chirp_spectrum_;
};

/// Transforms of a real sequence of one length n ≥ 1 and its half spectrum (n/2 + 1 complex values).
/// Immutable and thread-safe once built.
class RealFft {
 public:
  friend struct FftKernels;
  explicit RealFft(int64_t n);
  ~RealFft();
  int64_t size() const { return n_; }
  /// spectrum[k] = X_k for k = 0..n/2 (the rest is their conjugate mirror).
  void forward(const double* x, double* spectrum, double* work) const;
  /// x_j = Σ_{k<n} X_k e^{+2πijk/n} with X_{n−k} = conj(X_k): the unnormalised inverse of forward (n·x back).
  /// The imaginary parts of X_0 and (n even) X_{n/2} are ignored. `spectrum` is left unchanged.
  void backward(const double* spectrum, double* x, double* work) const;
  /// Doubles of scratch that forward and backward need.
  int64_t work_size() const;

  /// How many sequences forward_lanes and backward_lanes take at once: the vector width in doubles at
  /// core::simd_level() (8 with AVX-512, 4 with AVX2, 2 otherwise).
  static int64_t lanes();
  /// forward of lanes() = L sequences at once, interleaved: x[j·L + v] is x_j of sequence v, and
  /// spectrum[(2k + c)·L + v] the real (c = 0) or imaginary (c = 1) part of its X_k. `work`: work_size() · L
  /// doubles. The same values as forward on each sequence, to rounding.
  void forward_lanes(const double* x, double* spectrum, double* work) const;
  /// backward of L sequences at once, laid out as forward_lanes'.
  void backward_lanes(const double* spectrum, double* x, double* work) const;

 private:
  int64_t n_;
  std::unique_ptr<ComplexFft> complex_;  // length n/2 for even n (packed pairs), n for odd n
  std::vector<double> twiddle_;          // e^{−2πik/n}, k ≤ n/2: the even-length packing's
};

/// The RealFft of length n, shared by every user in the process while any holds it (built on first use).
std::shared_ptr<const RealFft> shared_real_fft(int64_t n);

}  // namespace sphaera::transforms
