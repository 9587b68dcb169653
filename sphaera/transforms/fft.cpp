#include "sphaera/transforms/fft.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <mutex>

#include "sphaera/core/check.h"

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
void stockham_stage(int64_t p, int64_t span, int64_t s, const double* tw, const double* dft, double sign,
                    const double* x, double* y) {
  const int64_t m = span / p;
  if (p == 2) {
    for (int64_t k = 0; k < m; ++k) {
      const double wr = tw[2 * (2 * k + 1)], wi = sign * tw[2 * (2 * k + 1) + 1];
      const double* a = x + 2 * s * k;
      const double* b = x + 2 * s * (k + m);
      double* y0 = y + 2 * s * (2 * k);
      double* y1 = y + 2 * s * (2 * k + 1);
      for (int64_t q = 0; q < s; ++q) {
        const double ar = a[2 * q], ai = a[2 * q + 1], br = b[2 * q], bi = b[2 * q + 1];
        const double dr = ar - br, di = ai - bi;
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
      const double* x0 = x + 2 * s * k;
      const double* x1 = x + 2 * s * (k + m);
      const double* x2 = x + 2 * s * (k + 2 * m);
      const double* x3 = x + 2 * s * (k + 3 * m);
      double* y0 = y + 2 * s * (4 * k);
      double* y1 = y + 2 * s * (4 * k + 1);
      double* y2 = y + 2 * s * (4 * k + 2);
      double* y3 = y + 2 * s * (4 * k + 3);
      for (int64_t q = 0; q < s; ++q) {
        const double a0r = x0[2 * q] + x2[2 * q], a0i = x0[2 * q + 1] + x2[2 * q + 1];
        const double a1r = x0[2 * q] - x2[2 * q], a1i = x0[2 * q + 1] - x2[2 * q + 1];
        const double b0r = x1[2 * q] + x3[2 * q], b0i = x1[2 * q + 1] + x3[2 * q + 1];
        const double b1r = x1[2 * q] - x3[2 * q], b1i = x1[2 * q + 1] - x3[2 * q + 1];
        const double cr = sign * b1i, ci = -sign * b1r;  // ∓i·b1
        const double t1r = a1r + cr, t1i = a1i + ci;     // t = 1
        const double t2r = a0r - b0r, t2i = a0i - b0i;   // t = 2
        const double t3r = a1r - cr, t3i = a1i - ci;     // t = 3
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
  double b[2 * kMaxDirectPrime];
  for (int64_t k = 0; k < m; ++k) {
    for (int64_t q = 0; q < s; ++q) {
      for (int64_t t = 0; t < p; ++t) {
        double br = 0.0, bi = 0.0;
        for (int64_t r = 0; r < p; ++r) {
          const double* a = x + 2 * (q + s * (k + r * m));
          const double dr = dft[2 * (r * p + t)], di = sign * dft[2 * (r * p + t) + 1];
          br += a[0] * dr - a[1] * di;
          bi += a[0] * di + a[1] * dr;
        }
        b[2 * t] = br;
        b[2 * t + 1] = bi;
      }
      for (int64_t t = 0; t < p; ++t) {
        const double wr = tw[2 * (k * p + t)], wi = sign * tw[2 * (k * p + t) + 1];
        double* out = y + 2 * (q + s * (p * k + t));
        out[0] = b[2 * t] * wr - b[2 * t + 1] * wi;
        out[1] = b[2 * t] * wi + b[2 * t + 1] * wr;
      }
    }
  }
}

}  // namespace

void ComplexFft::transform(const double* in, double* out, bool backward, double* work) const {
  const double sign = backward ? -1.0 : 1.0;
  if (!inner_) {
    if (stages_.empty()) {  // n = 1
      out[0] = in[0];
      out[1] = in[1];
      return;
    }
    // Ping-pong between out and work, arranged so that the last stage writes into out.
    const size_t count = stages_.size();
    const double* x = in;
    int64_t s = 1;
    for (size_t i = 0; i < count; ++i) {
      double* y = (count - 1 - i) % 2 == 0 ? out : work;
      const Stage& st = stages_[i];
      stockham_stage(st.radix, st.span, s, st.twiddle.data(), st.dft.data(), sign, x, y);
      x = y;
      s *= st.radix;
    }
    return;
  }
  // Bluestein. Backward = conj(forward(conj(x))): the conjugations are folded into the chirp products.
  const int64_t m = inner_->size();
  double* a = work;
  double* A = work + 2 * m;
  double* inner_work = work + 4 * m;
  for (int64_t k = 0; k < n_; ++k) {  // a_k = x_k c_k (forward) or conj(x_k) c_k (backward)
    const double xr = in[2 * k], xi = sign * in[2 * k + 1];
    const double cr = chirp_[2 * k], ci = chirp_[2 * k + 1];
    a[2 * k] = xr * cr - xi * ci;
    a[2 * k + 1] = xr * ci + xi * cr;
  }
  std::fill(a + 2 * n_, a + 2 * m, 0.0);
  inner_->transform(a, A, false, inner_work);
  for (int64_t k = 0; k < m; ++k) {
    const double ar = A[2 * k], ai = A[2 * k + 1];
    const double br = chirp_spectrum_[2 * k], bi = chirp_spectrum_[2 * k + 1];
    A[2 * k] = ar * br - ai * bi;
    A[2 * k + 1] = ar * bi + ai * br;
  }
  inner_->transform(A, a, true, inner_work);
  for (int64_t k = 0; k < n_; ++k) {  // X_k = c_k (a ⊛ b)_k, conjugated back for backward
    const double vr = a[2 * k], vi = a[2 * k + 1];
    const double cr = chirp_[2 * k], ci = chirp_[2 * k + 1];
    out[2 * k] = vr * cr - vi * ci;
    out[2 * k + 1] = sign * (vr * ci + vi * cr);
  }
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
  if (n_ % 2 == 1) {
    double* z = work;
    double* Z = work + 2 * n_;
    for (int64_t j = 0; j < n_; ++j) z[2 * j] = x[j], z[2 * j + 1] = 0.0;
    complex_->transform(z, Z, false, work + 4 * n_);
    std::copy(Z, Z + 2 * (n_ / 2 + 1), spectrum);
    return;
  }
  // z_j = x_2j + i x_2j+1 (x itself, read as complex), Z = its length-h transform; then
  // X_k = E_k + w^k O_k with E_k = (Z_k + conj Z_{h−k}) / 2 and O_k = (Z_k − conj Z_{h−k}) / 2i.
  const int64_t h = n_ / 2;
  double* Z = work;
  complex_->transform(x, Z, false, work + n_ + 2);
  for (int64_t k = 0; k <= h; ++k) {
    const int64_t a = k % h, b = (h - k) % h;
    const double zr = Z[2 * a], zi = Z[2 * a + 1], cr = Z[2 * b], ci = -Z[2 * b + 1];
    const double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
    const double orr = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);  // (Z − conj Z') / 2i
    const double wr = twiddle_[2 * k], wi = twiddle_[2 * k + 1];
    spectrum[2 * k] = er + orr * wr - oi * wi;
    spectrum[2 * k + 1] = ei + orr * wi + oi * wr;
  }
}

void RealFft::backward(const double* spectrum, double* x, double* work) const {
  const int64_t half = n_ / 2;
  // X_k with the imaginary parts of X_0 and (n even) X_{n/2} dropped, as a Hermitian spectrum has none.
  auto bin = [&](int64_t k, double& re, double& im) {
    re = spectrum[2 * k];
    im = (k == 0 || 2 * k == n_) ? 0.0 : spectrum[2 * k + 1];
  };
  if (n_ % 2 == 1) {
    double* Z = work;
    double* z = work + 2 * n_;
    for (int64_t k = 0; k <= half; ++k) {
      double re, im;
      bin(k, re, im);
      Z[2 * k] = re, Z[2 * k + 1] = im;
      if (k > 0) Z[2 * (n_ - k)] = re, Z[2 * (n_ - k) + 1] = -im;
    }
    complex_->transform(Z, z, true, work + 4 * n_);
    for (int64_t j = 0; j < n_; ++j) x[j] = z[2 * j];
    return;
  }
  // Z_k = E_k + i O_k with E_k = X_k + conj X_{h−k}, O_k = (X_k − conj X_{h−k}) e^{+2πik/n}; the backward
  // length-h transform of Z is x_2j + i x_2j+1 (written into x read as complex).
  double* Z = work;
  for (int64_t k = 0; k < half; ++k) {
    double xr, xi, yr, yi;
    bin(k, xr, xi);
    bin(half - k, yr, yi);
    yi = -yi;  // conj X_{h−k}
    const double er = xr + yr, ei = xi + yi;
    const double dr = xr - yr, di = xi - yi;
    const double wr = twiddle_[2 * k], wi = -twiddle_[2 * k + 1];  // e^{+2πik/n}
    const double orr = dr * wr - di * wi, oi = dr * wi + di * wr;
    Z[2 * k] = er - oi;  // E + i·O
    Z[2 * k + 1] = ei + orr;
  }
  complex_->transform(Z, x, true, work + n_ + 2);
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
