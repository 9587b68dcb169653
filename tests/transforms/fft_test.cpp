// transforms/fft: every length against the definition, summed in long double.
#include "sphaera/transforms/fft.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <vector>

namespace {

using sphaera::transforms::ComplexFft;
using sphaera::transforms::RealFft;
using sphaera::transforms::shared_real_fft;
using Cplx = std::complex<long double>;

// A floating-point FFT of length n errs by O(ε log n) relative to the spectrum's norm (ε = 2^-53); 1e-14 is
// that bound with a margin of about 10 at the longest lengths tested (and more for the short ones).
constexpr double kTolerance = 1e-14;

// Lengths: all up to 160 (every radix and prime path, odd and even), HEALPix ring lengths 4i (with large
// prime factors: Bluestein), and long ones of each kind.
std::vector<int64_t> lengths() {
  std::vector<int64_t> n;
  for (int64_t i = 1; i <= 160; ++i) n.push_back(i);
  for (int64_t i : {1021, 2 * 1021, 4 * 1021, 4 * 997, 4096, 4 * 1023, 3 * 5 * 7 * 11, 7 * 11 * 13, 4093})
    n.push_back(i);
  return n;
}

// X_k = Σ_j x_j e^{sign·2πijk/n}, in long double, with jk reduced mod n exactly.
std::vector<Cplx> dft(const std::vector<double>& x, int64_t n, int sign) {
  const long double two_pi = 6.283185307179586476925286766559005768L;
  std::vector<Cplx> root(n);
  for (int64_t j = 0; j < n; ++j) {
    const long double angle = sign * two_pi * static_cast<long double>(j) / static_cast<long double>(n);
    root[j] = Cplx(std::cos(angle), std::sin(angle));
  }
  std::vector<Cplx> X(n);
  for (int64_t k = 0; k < n; ++k) {
    Cplx sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += Cplx(x[2 * j], x[2 * j + 1]) * root[(j * k) % n];
    X[k] = sum;
  }
  return X;
}

// ||a − b|| / ||b|| over the first `count` complex values.
double relative_error(const double* a, const std::vector<Cplx>& b, int64_t count) {
  long double err = 0, norm = 0;
  for (int64_t k = 0; k < count; ++k) {
    err += std::norm(Cplx(a[2 * k], a[2 * k + 1]) - b[k]);
    norm += std::norm(b[k]);
  }
  return static_cast<double>(std::sqrt(err / norm));
}

TEST(Fft, ComplexEqualsTheDefinitionBothWaysForEveryLength) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  for (int64_t n : lengths()) {
    std::vector<double> x(2 * n), y(2 * n);
    for (double& v : x) v = normal(rng);
    const ComplexFft fft(n);
    std::vector<double> work(fft.work_size());
    for (int sign : {-1, 1}) {
      fft.transform(x.data(), y.data(), sign > 0, work.data());
      EXPECT_LT(relative_error(y.data(), dft(x, n, sign), n), kTolerance) << "n = " << n << ", sign " << sign;
    }
  }
}

TEST(Fft, RealForwardIsTheHalfSpectrumAndBackwardInvertsItTimesN) {
  std::mt19937_64 rng(12);
  std::normal_distribution<double> normal;
  for (int64_t n : lengths()) {
    std::vector<double> x(n), as_complex(2 * n, 0.0), spectrum(2 * (n / 2 + 1)), back(n);
    for (int64_t j = 0; j < n; ++j) x[j] = as_complex[2 * j] = normal(rng);
    const RealFft fft(n);
    std::vector<double> work(fft.work_size());
    fft.forward(x.data(), spectrum.data(), work.data());
    EXPECT_LT(relative_error(spectrum.data(), dft(as_complex, n, -1), n / 2 + 1), kTolerance) << "n = " << n;
    const std::vector<double> kept = spectrum;
    fft.backward(spectrum.data(), back.data(), work.data());
    EXPECT_EQ(spectrum, kept) << "backward changed its input, n = " << n;
    double err = 0, norm = 0;
    for (int64_t j = 0; j < n; ++j) {
      err += std::pow(back[j] / static_cast<double>(n) - x[j], 2);
      norm += x[j] * x[j];
    }
    EXPECT_LT(std::sqrt(err / norm), kTolerance) << "n = " << n;
  }
}

TEST(Fft, RealBackwardEqualsTheHermitianSumAndIgnoresImaginaryPartsOfRealBins) {
  std::mt19937_64 rng(13);
  std::normal_distribution<double> normal;
  for (int64_t n : {1, 2, 7, 8, 30, 4 * 1021}) {
    const int64_t bins = n / 2 + 1;
    std::vector<double> spectrum(2 * bins), full(2 * n, 0.0), x(n);
    for (double& v : spectrum) v = normal(rng);
    // The Hermitian spectrum it stands for: imaginary parts of X_0 and X_{n/2} (n even) dropped.
    for (int64_t k = 0; k < bins; ++k) {
      const bool real_bin = k == 0 || 2 * k == n;
      full[2 * k] = spectrum[2 * k];
      full[2 * k + 1] = real_bin ? 0.0 : spectrum[2 * k + 1];
      if (k > 0 && !real_bin) {
        full[2 * (n - k)] = spectrum[2 * k];
        full[2 * (n - k) + 1] = -spectrum[2 * k + 1];
      }
    }
    const RealFft fft(n);
    std::vector<double> work(fft.work_size());
    fft.backward(spectrum.data(), x.data(), work.data());
    const std::vector<Cplx> expected = dft(full, n, 1);
    long double err = 0, norm = 0;
    for (int64_t j = 0; j < n; ++j) {
      EXPECT_LT(std::abs(static_cast<double>(expected[j].imag())),
                1e-12 * std::sqrt(static_cast<double>(n)));  // a real sequence
      err += std::pow(x[j] - expected[j].real(), 2);
      norm += std::norm(expected[j]);
    }
    EXPECT_LT(static_cast<double>(std::sqrt(err / norm)), kTolerance) << "n = " << n;
  }
}

// The lanes path runs the same arithmetic on vectors: each lane must give what the one-sequence path gives for
// its sequence (to rounding: the vector code may fuse multiply-adds the scalar code does not), both ways, and
// the lanes must not mix (each sequence differs, and one lane holds zeros).
TEST(Fft, LanesTransformEachSequenceAsOneAtATime) {
  std::mt19937_64 rng(14);
  std::normal_distribution<double> normal;
  const int64_t L = RealFft::lanes();
  ASSERT_TRUE(L == 2 || L == 4 || L == 8) << L;
  for (int64_t n : lengths()) {
    const RealFft fft(n);
    const int64_t bins = n / 2 + 1, w = fft.work_size();
    std::vector<double> x(n * L), spectrum(2 * bins * L), back(n * L), work(w * L);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t v = 0; v + 1 < L; ++v) x[j * L + v] = normal(rng);  // the last lane stays zero
    fft.forward_lanes(x.data(), spectrum.data(), work.data());
    std::vector<double> spectrum_with_real_bins = spectrum;
    for (int64_t v = 0; v < L; ++v) {  // imaginary parts the backward transforms must ignore
      spectrum_with_real_bins[L + v] = 1.0;
      if (n % 2 == 0) spectrum_with_real_bins[(2 * (n / 2) + 1) * L + v] = -1.0;
    }
    fft.backward_lanes(spectrum_with_real_bins.data(), back.data(), work.data());
    for (int64_t v = 0; v < L; ++v) {
      std::vector<double> one(n), one_spectrum(2 * bins), one_back(n), one_work(w);
      for (int64_t j = 0; j < n; ++j) one[j] = x[j * L + v];
      fft.forward(one.data(), one_spectrum.data(), one_work.data());
      fft.backward(one_spectrum.data(), one_back.data(), one_work.data());
      double err = 0, norm = 0, back_err = 0, back_norm = 0;
      for (int64_t k = 0; k < 2 * bins; ++k) {
        err += std::pow(spectrum[k * L + v] - one_spectrum[k], 2);
        norm += one_spectrum[k] * one_spectrum[k];
      }
      for (int64_t j = 0; j < n; ++j) {
        back_err += std::pow(back[j * L + v] - one_back[j], 2);
        back_norm += one_back[j] * one_back[j];
      }
      if (v + 1 == L) {  // the zero lane
        EXPECT_EQ(norm, 0.0) << "n = " << n;
        EXPECT_EQ(err, 0.0) << "n = " << n;
        EXPECT_EQ(back_err, 0.0) << "n = " << n;
        continue;
      }
      EXPECT_LE(std::sqrt(err / norm), kTolerance) << "forward, n = " << n << ", lane " << v;
      EXPECT_LE(std::sqrt(back_err / back_norm), kTolerance) << "backward, n = " << n << ", lane " << v;
    }
  }
}

TEST(Fft, SharedPlansAreOnePerLengthWhileHeld) {
  const auto a = shared_real_fft(4 * 1021);
  const auto b = shared_real_fft(4 * 1021);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(a->size(), 4 * 1021);
  EXPECT_NE(shared_real_fft(4 * 1020).get(), a.get());
}

TEST(Fft, RejectsLengthsOutOfRange) {
  EXPECT_THROW(ComplexFft(0), std::invalid_argument);
  EXPECT_THROW(RealFft(-3), std::invalid_argument);
}

}  // namespace
