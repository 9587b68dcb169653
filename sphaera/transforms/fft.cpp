#include "sphaera/transforms/fft.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <mutex>

#include "sphaera/core/check.h"
#include "sphaera/core/simd.h"

// The kernels are templates over the value type T: double (one sequence) or a GCC vector of doubles (one
// sequence per lane), inlined all the way into the functions that carry an instruction set's target attribute.
#define SPHAERA_FFT_INLINE __attribute__((always_inline)) inline
#define SPHAERA_FFT_LAMBDA __attribute__((always_inline))

namespace sphaera::transforms {

namespace {

// e^{−2πij/n} for j < count, as (re, im) pairs. Only angles up to π/2 are evaluated (when 4 | n): the
// rest follows exactly from w_{j+n/4} = −i·w_j and w_{n−j} = conj(w_j).
std::vector<double> roots(int64_t n, int64_t count) {
  std::vector<double> w(2 * count);
  for (int64_t j = 0; j < count; ++j) {
    if (n % 4 == 0 && 4 * j > n && 2 * j <= n) {
      const int64_t t = j - n / 4;
      w[2 * j] = w[2 * t + 1];
      w[2 * j + 1] = -w[2 * t];
    } else if (2 * j <= n) {
      const double angle = -2.0 * M_PI * static_cast<double>(j) / static_cast<double>(n);
      w[2 * j] = std::cos(angle);
      w[2 * j + 1] = std::sin(angle);
    } else {
      w[2 * j] = w[2 * (n - j)];
      w[2 * j + 1] = -w[2 * (n - j) + 1];
    }
  }
  return w;
}

// Inner transforms shared by every Bluestein plan of the process.
std::shared_ptr<const ComplexFft> shared_plan(int64_t m) {
  static std::mutex mutex;
  static std::map<int64_t, std::shared_ptr<const ComplexFft>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& plan = cache[m];
  if (!plan) plan = std::make_shared<const ComplexFft>(m);
  return plan;
}

}  // namespace

// The smallest power of two ≥ n: Bluestein's inner transform (radix 4 and 2 only, the fastest stages; a
// 2·3·5-smooth length would be shorter but its radix-3 and -5 stages cost more than the length saves).
int64_t inner_length(int64_t n) {
  int64_t m = 1;
  while (m < n) m *= 2;
  return m;
}

ComplexFft::ComplexFft(int64_t n) : n_(n) {
  SPHAERA_CHECK(n >= 1 && n <= (int64_t{1} << 30), "ComplexFft: length must be in [1, 2^30], got ", n);
  std::vector<int64_t> radices;
  int64_t rest = n;
  while (rest % 4 == 0) {
    radices.push_back(4);
    rest /= 4;
  }
  while (rest % 2 == 0) {
    radices.push_back(2);
    rest /= 2;
  }
  for (int64_t p = 3; p <= kMaxDirectPrime && rest > 1; p += 2) {
    while (rest % p == 0) {
      radices.push_back(p);
      rest /= p;
    }
  }
  if (rest == 1) {
    const std::vector<double> w = roots(n, n);  // w_n^j; w_span^i = w_n^{i·n/span}
    int64_t span = n;
    for (int64_t p : radices) {
      Stage stage{p, span, {}, {}};
      const int64_t m = span / p, step = n / span;
      stage.twiddle.resize(2 * m * p);
      for (int64_t k = 0; k < m; ++k)
        for (int64_t t = 0; t < p; ++t) {
          const int64_t j = k * t * step;
          stage.twiddle[2 * (k * p + t)] = w[2 * j];
          stage.twiddle[2 * (k * p + t) + 1] = w[2 * j + 1];
        }
      stage.dft.resize(2 * p * p);
      for (int64_t r = 0; r < p; ++r)
        for (int64_t t = 0; t < p; ++t) {
          const int64_t j = ((r * t) % p) * (n / p);
          stage.dft[2 * (r * p + t)] = w[2 * j];
          stage.dft[2 * (r * p + t) + 1] = w[2 * j + 1];
        }
      stages_.push_back(std::move(stage));
      span = m;
    }
    return;
  }
  // Bluestein: X_k = c_k Σ_j (x_j c_j) conj(c_{k−j}), a cyclic convolution of length m ≥ 2n − 1.
  const int64_t m = inner_length(2 * n - 1);
  inner_ = shared_plan(m);
  chirp_.resize(2 * n);
  for (int64_t k = 0; k < n; ++k) {
    // π k² / n with k² reduced modulo 2n exactly, so that the angle stays accurate for large k.
    const int64_t r = (k * k) % (2 * n);
    const double angle = -M_PI * static_cast<double>(r) / static_cast<double>(n);
    chirp_[2 * k] = std::cos(angle);
    chirp_[2 * k + 1] = std::sin(angle);
  }
  std::vector<double> b(2 * m, 0.0), work(inner_->work_size());
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t at : {k, (m - k) % m}) {
      b[2 * at] = chirp_[2 * k];
      b[2 * at + 1] = -chirp_[2 * k + 1];
    }
  }
  chirp_spectrum_.resize(2 * m);
  inner_->transform(b.data(), chirp_spectrum_.data(), false, work.data());
  for (double& v : chirp_spectrum_) v /= static_cast<double>(m);  // the inverse transform's 1/m, folded in
}

ComplexFft::~ComplexFft() = default;

int64_t ComplexFft::work_size() const {
  if (!inner_) return 2 * n_;  // the other buffer of the Stockham ping-pong
  return 4 * inner_->size() + inner_->work_size();
}

namespace {

// One Stockham stage (decimation in frequency): for k < m = span / p and q < s,
//   y[q + s(p·k + t)] = w_span^{k·t} Σ_r x[q + s(k + r·m)] e^{∓2πi·r·t/p}.
// `sign` is +1 forward, −1 backward (the tables hold e^{−...}; backward conjugates them).
template <class T>
SPHAERA_FFT_INLINE void stockham_stage(int64_t p, int64_t span, int64_t s, const double* tw, const double* dft,
                                       double sign, const T* x, T* y) {
  const int64_t m = span / p;
  if (p == 2) {
    for (int64_t k = 0; k < m; ++k) {
      const double wr = tw[2 * (2 * k + 1)], wi = sign * tw[2 * (2 * k + 1) + 1];
      const T* a = x + 2 * s * k;
      const T* b = x + 2 * s * (k + m);
      T* y0 = y + 2 * s * (2 * k);
      T* y1 = y + 2 * s * (2 * k + 1);
      for (int64_t q = 0; q < s; ++q) {
        const T ar = a[2 * q], ai = a[2 * q + 1], br = b[2 * q], bi = b[2 * q + 1];
        const T dr = ar - br, di = ai - bi;
        y0[2 * q] = ar + br;
        y0[2 * q + 1] = ai + bi;
        y1[2 * q] = dr * wr - di * wi;
        y1[2 * q + 1] = dr * wi + di * wr;
      }
    }
    return;
  }
  if (p == 4) {
    for (int64_t k = 0; k < m; ++k) {
      const double w1r = tw[2 * (4 * k + 1)], w1i = sign * tw[2 * (4 * k + 1) + 1];
      const double w2r = tw[2 * (4 * k + 2)], w2i = sign * tw[2 * (4 * k + 2) + 1];
      const double w3r = tw[2 * (4 * k + 3)], w3i = sign * tw[2 * (4 * k + 3) + 1];
      const T* x0 = x + 2 * s * k;
      const T* x1 = x + 2 * s * (k + m);
      const T* x2 = x + 2 * s * (k + 2 * m);
      const T* x3 = x + 2 * s * (k + 3 * m);
      T* y0 = y + 2 * s * (4 * k);
      T* y1 = y + 2 * s * (4 * k + 1);
      T* y2 = y + 2 * s * (4 * k + 2);
      T* y3 = y + 2 * s * (4 * k + 3);
      for (int64_t q = 0; q < s; ++q) {
        const T a0r = x0[2 * q] + x2[2 * q], a0i = x0[2 * q + 1] + x2[2 * q + 1];
        const T a1r = x0[2 * q] - x2[2 * q], a1i = x0[2 * q + 1] - x2[2 * q + 1];
        const T b0r = x1[2 * q] + x3[2 * q], b0i = x1[2 * q + 1] + x3[2 * q + 1];
        const T b1r = x1[2 * q] - x3[2 * q], b1i = x1[2 * q + 1] - x3[2 * q + 1];
        const T cr = sign * b1i, ci = -sign * b1r;  // ∓i·b1
        const T t1r = a1r + cr, t1i = a1i + ci;     // t = 1
        const T t2r = a0r - b0r, t2i = a0i - b0i;   // t = 2
        const T t3r = a1r - cr, t3i = a1i - ci;     // t = 3
        y0[2 * q] = a0r + b0r;
        y0[2 * q + 1] = a0i + b0i;
        y1[2 * q] = t1r * w1r - t1i * w1i;
        y1[2 * q + 1] = t1r * w1i + t1i * w1r;
        y2[2 * q] = t2r * w2r - t2i * w2i;
        y2[2 * q + 1] = t2r * w2i + t2i * w2r;
        y3[2 * q] = t3r * w3r - t3i * w3i;
        y3[2 * q + 1] = t3r * w3i + t3i * w3r;
      }
    }
    return;
  }
  // Any other small prime: the direct length-p transform, O(p²).
  T b[2 * kMaxDirectPrime];
  for (int64_t k = 0; k < m; ++k) {
    for (int64_t q = 0; q < s; ++q) {
      for (int64_t t = 0; t < p; ++t) {
        T br{}, bi{};
        for (int64_t r = 0; r < p; ++r) {
          const T* a = x + 2 * (q + s * (k + r * m));
          const double dr = dft[2 * (r * p + t)], di = sign * dft[2 * (r * p + t) + 1];
          br += a[0] * dr - a[1] * di;
          bi += a[0] * di + a[1] * dr;
        }
        b[2 * t] = br;
        b[2 * t + 1] = bi;
      }
      for (int64_t t = 0; t < p; ++t) {
        const double wr = tw[2 * (k * p + t)], wi = sign * tw[2 * (k * p + t) + 1];
        T* out = y + 2 * (q + s * (p * k + t));
        out[0] = b[2 * t] * wr - b[2 * t + 1] * wi;
        out[1] = b[2 * t] * wi + b[2 * t + 1] * wr;
      }
    }
  }
}

}  // namespace

// The transforms themselves, for T = double or a vector of doubles (then each lane is one sequence and every
// array below holds T values: a complex value is two T, re then im). Offsets into `work` count T values.
struct FftKernels {
  // The mixed-radix path: ping-pong between out and work, arranged so that the last stage writes into out.
  template <class T>
  static SPHAERA_FFT_INLINE void stockham(const ComplexFft& f, const T* in, T* out, double sign, T* work) {
    if (f.stages_.empty()) {  // n = 1
      out[0] = in[0];
      out[1] = in[1];
      return;
    }
    const size_t count = f.stages_.size();
    const T* x = in;
    int64_t s = 1;
    for (size_t i = 0; i < count; ++i) {
      T* y = (count - 1 - i) % 2 == 0 ? out : work;
      const ComplexFft::Stage& st = f.stages_[i];
      stockham_stage(st.radix, st.span, s, st.twiddle.data(), st.dft.data(), sign, x, y);
      x = y;
      s *= st.radix;
    }
  }

  template <class T>
  static SPHAERA_FFT_INLINE void complex(const ComplexFft& f, const T* in, T* out, bool backward, T* work) {
    const double sign = backward ? -1.0 : 1.0;
    if (!f.inner_) {
      stockham(f, in, out, sign, work);
      return;
    }
    // Bluestein (the inner length is a power of two: Stockham). Backward = conj(forward(conj(x))): the
    // conjugations are folded into the chirp products.
    const ComplexFft& inner = *f.inner_;
    const int64_t n = f.n_, m = inner.n_;
    const double* chirp = f.chirp_.data();
    const double* spectrum = f.chirp_spectrum_.data();
    T* a = work;
    T* A = work + 2 * m;
    T* inner_work = work + 4 * m;
    for (int64_t k = 0; k < n; ++k) {  // a_k = x_k c_k (forward) or conj(x_k) c_k (backward)
      const T xr = in[2 * k], xi = sign * in[2 * k + 1];
      const double cr = chirp[2 * k], ci = chirp[2 * k + 1];
      a[2 * k] = xr * cr - xi * ci;
      a[2 * k + 1] = xr * ci + xi * cr;
    }
    std::fill(a + 2 * n, a + 2 * m, T{});
    stockham(inner, a, A, 1.0, inner_work);
    for (int64_t k = 0; k < m; ++k) {
      const T ar = A[2 * k], ai = A[2 * k + 1];
      const double br = spectrum[2 * k], bi = spectrum[2 * k + 1];
      A[2 * k] = ar * br - ai * bi;
      A[2 * k + 1] = ar * bi + ai * br;
    }
    stockham(inner, A, a, -1.0, inner_work);
    for (int64_t k = 0; k < n; ++k) {  // X_k = c_k (a ⊛ b)_k, conjugated back for backward
      const T vr = a[2 * k], vi = a[2 * k + 1];
      const double cr = chirp[2 * k], ci = chirp[2 * k + 1];
      out[2 * k] = vr * cr - vi * ci;
      out[2 * k + 1] = sign * (vr * ci + vi * cr);
    }
  }

  template <class T>
  static SPHAERA_FFT_INLINE void forward(const RealFft& f, const T* x, T* spectrum, T* work) {
    const int64_t n = f.n_;
    if (n % 2 == 1) {
      T* z = work;
      T* Z = work + 2 * n;
      for (int64_t j = 0; j < n; ++j) z[2 * j] = x[j], z[2 * j + 1] = T{};
      complex(*f.complex_, z, Z, false, work + 4 * n);
      std::copy(Z, Z + 2 * (n / 2 + 1), spectrum);
      return;
    }
    // z_j = x_2j + i x_2j+1 (x itself, read as complex), Z = its length-h transform; then
    // X_k = E_k + w^k O_k with E_k = (Z_k + conj Z_{h−k}) / 2 and O_k = (Z_k − conj Z_{h−k}) / 2i.
    const int64_t h = n / 2;
    const double* twiddle = f.twiddle_.data();
    T* Z = work;
    complex(*f.complex_, x, Z, false, work + n + 2);
    for (int64_t k = 0; k <= h; ++k) {
      const int64_t a = k % h, b = (h - k) % h;
      const T zr = Z[2 * a], zi = Z[2 * a + 1], cr = Z[2 * b], ci = -Z[2 * b + 1];
      const T er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
      const T orr = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);  // (Z − conj Z') / 2i
      const double wr = twiddle[2 * k], wi = twiddle[2 * k + 1];
      spectrum[2 * k] = er + orr * wr - oi * wi;
      spectrum[2 * k + 1] = ei + orr * wi + oi * wr;
    }
  }

  template <class T>
  static SPHAERA_FFT_INLINE void backward(const RealFft& f, const T* spectrum, T* x, T* work) {
    const int64_t n = f.n_, half = n / 2;
    // X_k with the imaginary parts of X_0 and (n even) X_{n/2} dropped, as a Hermitian spectrum has none.
    auto bin = [&](int64_t k, T& re, T& im) SPHAERA_FFT_LAMBDA {
      re = spectrum[2 * k];
      im = (k == 0 || 2 * k == n) ? T{} : spectrum[2 * k + 1];
    };
    if (n % 2 == 1) {
      T* Z = work;
      T* z = work + 2 * n;
      for (int64_t k = 0; k <= half; ++k) {
        T re, im;
        bin(k, re, im);
        Z[2 * k] = re, Z[2 * k + 1] = im;
        if (k > 0) Z[2 * (n - k)] = re, Z[2 * (n - k) + 1] = -im;
      }
      complex(*f.complex_, Z, z, true, work + 4 * n);
      for (int64_t j = 0; j < n; ++j) x[j] = z[2 * j];
      return;
    }
    // Z_k = E_k + i O_k with E_k = X_k + conj X_{h−k}, O_k = (X_k − conj X_{h−k}) e^{+2πik/n}; the backward
    // length-h transform of Z is x_2j + i x_2j+1 (written into x read as complex).
    const double* twiddle = f.twiddle_.data();
    T* Z = work;
    for (int64_t k = 0; k < half; ++k) {
      T xr, xi, yr, yi;
      bin(k, xr, xi);
      bin(half - k, yr, yi);
      yi = -yi;  // conj X_{h−k}
      const T er = xr + yr, ei = xi + yi;
      const T dr = xr - yr, di = xi - yi;
      const double wr = twiddle[2 * k], wi = -twiddle[2 * k + 1];  // e^{+2πik/n}
      const T orr = dr * wr - di * wi, oi = dr * wi + di * wr;
      Z[2 * k] = er - oi;  // E + i·O
      Z[2 * k + 1] = ei + orr;
    }
    complex(*f.complex_, Z, x, true, work + n + 2);
  }
};

void ComplexFft::transform(const double* in, double* out, bool backward, double* work) const {
  FftKernels::complex(*this, in, out, backward, work);
}

// ---- real sequences ----

RealFft::RealFft(int64_t n) : n_(n) {
  SPHAERA_CHECK(n >= 1 && n <= (int64_t{1} << 30), "RealFft: length must be in [1, 2^30], got ", n);
  if (n % 2 == 0) {
    complex_ = std::make_unique<ComplexFft>(n / 2);
    twiddle_ = roots(n, n / 2 + 1);
  } else {
    complex_ = std::make_unique<ComplexFft>(n);
  }
}

RealFft::~RealFft() = default;

int64_t RealFft::work_size() const {
  // Even: the packed spectrum (n/2 complex). Odd: the complex input and its transform (2 × n complex).
  return (n_ % 2 == 0 ? n_ + 2 : 4 * n_) + complex_->work_size();
}

void RealFft::forward(const double* x, double* spectrum, double* work) const {
  FftKernels::forward(*this, x, spectrum, work);
}

void RealFft::backward(const double* spectrum, double* x, double* work) const {
  FftKernels::backward(*this, spectrum, x, work);
}

namespace {

// Vectors of 2, 4 and 8 doubles that may sit at any double's address (the callers' arrays are not aligned).
using Lanes2 = double __attribute__((vector_size(16), aligned(8)));
using Lanes4 = double __attribute__((vector_size(32), aligned(8)));
using Lanes8 = double __attribute__((vector_size(64), aligned(8)));

// One function per direction and instruction set: the target attribute must sit on the function that holds
// the vector code.
#define SPHAERA_FFT_LANES(isa, target_spec, V)                                                                \
  target_spec void forward_##isa(const RealFft& f, const double* x, double* spectrum, double* work) {         \
    FftKernels::forward(f, reinterpret_cast<const V*>(x), reinterpret_cast<V*>(spectrum),                     \
                        reinterpret_cast<V*>(work));                                                          \
  }                                                                                                           \
  target_spec void backward_##isa(const RealFft& f, const double* spectrum, double* x, double* work) {        \
    FftKernels::backward(f, reinterpret_cast<const V*>(spectrum), reinterpret_cast<V*>(x),                    \
                         reinterpret_cast<V*>(work));                                                         \
  }

SPHAERA_FFT_LANES(avx512, __attribute__((target("avx512f"))), Lanes8)
SPHAERA_FFT_LANES(avx2, __attribute__((target("avx2,fma"))), Lanes4)
SPHAERA_FFT_LANES(generic, , Lanes2)

}  // namespace

int64_t RealFft::lanes() {
  switch (core::simd_level()) {
    case core::SimdLevel::kAvx512: return 8;
    case core::SimdLevel::kAvx2: return 4;
    default: return 2;
  }
}

void RealFft::forward_lanes(const double* x, double* spectrum, double* work) const {
  switch (core::simd_level()) {
    case core::SimdLevel::kAvx512: return forward_avx512(*this, x, spectrum, work);
    case core::SimdLevel::kAvx2: return forward_avx2(*this, x, spectrum, work);
    default: return forward_generic(*this, x, spectrum, work);
  }
}

void RealFft::backward_lanes(const double* spectrum, double* x, double* work) const {
  switch (core::simd_level()) {
    case core::SimdLevel::kAvx512: return backward_avx512(*this, spectrum, x, work);
    case core::SimdLevel::kAvx2: return backward_avx2(*this, spectrum, x, work);
    default: return backward_generic(*this, spectrum, x, work);
  }
}

std::shared_ptr<const RealFft> shared_real_fft(int64_t n) {
  static std::mutex mutex;
  static std::map<int64_t, std::weak_ptr<const RealFft>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto plan = cache[n].lock()) return plan;
  }
  auto plan = std::make_shared<const RealFft>(n);  // built outside the lock: plans of other lengths go on
  std::lock_guard<std::mutex> lock(mutex);
  if (auto other = cache[n].lock()) return other;
  cache[n] = plan;
  return plan;
}

}  // namespace sphaera::transforms
