#include "sphaera/transforms/wigner.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "sphaera/core/check.h"
#include "sphaera/core/simd.h"

namespace sphaera::transforms {

namespace {

// Below ~1e-308 a d-matrix entry is irrelevant next to the O(1) ones, but x86 computes with subnormal numbers
// ~100x slower, and Risbo's recursion at large l fills whole regions of the matrix with them (e.g. d^l_{ll}(β) =
// cos^{2l}(β/2)). Flush them to zero on this thread while the recursion runs; restore the caller's mode after.
class FlushDenormals {
 public:
#if defined(__SSE2__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

// A barrier for a team that meets twice per degree. libgomp's own barriers spin for a long time before they
// sleep, which on an oversubscribed machine (other processes on our cores) loses a time slice at each meeting
// (measured: 10 s instead of 1 s at lmax 1024); this one spins briefly, then yields the core.
class YieldingBarrier {
 public:
  void reset(int count) {
    count_ = count;
    arrived_.store(0);
  }
  void wait() {
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spin = 0; generation_.load(std::memory_order_acquire) == generation; ++spin) {
      if (spin < 2000) {
#if defined(__SSE2__)
        _mm_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  int count_ = 1;
  std::atomic<int> arrived_{0};
  std::atomic<unsigned> generation_{0};
};

// One row of one half-step of Risbo's recursion.
//
// With n = 2j and indices i = j − m', k = j − m ∈ [0, n], D^n_{ik} = d^j_{m'm}(β) is the matrix of the
// representation of SU(2) on homogeneous polynomials of degree n in (x, y), basis x^{n−k} y^k / sqrt((n−k)! k!).
// Writing a degree-n monomial as a degree-(n−1) one times x (possible for k < n) or times y (for k > 0) gives
// two exact recursions, in the entries of U = d^{1/2}(β) = [[q, −p], [p, q]], q = cos(β/2), p = sin(β/2):
//   D^n_{ik} = (q √(n−i) D^{n−1}_{ik} + p √i D^{n−1}_{i−1,k}) / √(n−k)
//   D^n_{ik} = (−p √(n−i) D^{n−1}_{i,k−1} + q √i D^{n−1}_{i−1,k−1}) / √k.
// Risbo's form is their average with weights (n−k)/n and k/n, which has no division by a small √ and
// coefficients of magnitude ≤ 1:
//   D^n_{ik} = √(n−k)·(A D^{n−1}_{ik} + C D^{n−1}_{i−1,k}) + √k·(B D^{n−1}_{i,k−1} + E D^{n−1}_{i−1,k−1}),
//   A = q√(n−i)/n, C = p√i/n, B = −p√(n−i)/n, E = q√i/n.
// u = row i and v = row i−1 of D^{n−1}; out[k] for k0 ≤ k ≤ k1 (reads u and v at k0−1..k1).
// sqrt_rev[k] = √(n−k), sqrt_fwd[k] = √k.
struct RowArgs {
  double a, b, c, e;
  const double* sqrt_fwd;
  const double* sqrt_rev;
};

__attribute__((always_inline)) inline void risbo_row_impl(const RowArgs& r, int64_t k0, int64_t k1,
                                                          const double* __restrict u, const double* __restrict v,
                                                          double* __restrict out) {
  const double a = r.a, b = r.b, c = r.c, e = r.e;
  const double* __restrict sf = r.sqrt_fwd;
  const double* __restrict sr = r.sqrt_rev;
#pragma omp simd
  for (int64_t k = k0; k <= k1; ++k) {
    out[k] = sr[k] * (a * u[k] + c * v[k]) + sf[k] * (b * u[k - 1] + e * v[k - 1]);
  }
}

// Products of one row r[0..n) with one map's interleaved (real, imaginary) pairs a[2k], a[2k+1]:
// out = (Σ_k r[k] a[2k], Σ_k r[k] a[2k+1]).
__attribute__((always_inline)) inline void pair_dot_impl(const double* __restrict r, int64_t n,
                                                         const double* __restrict a, double* __restrict out) {
  double x = 0.0, y = 0.0;
#pragma omp simd reduction(+ : x, y)
  for (int64_t k = 0; k < n; ++k) {
    x += r[k] * a[2 * k];
    y += r[k] * a[2 * k + 1];
  }
  out[0] = x;
  out[1] = y;
}

// a[2k] += r[k] c[0], a[2k+1] += r[k] c[1] for k < n.
__attribute__((always_inline)) inline void pair_axpy_impl(const double* __restrict r, int64_t n,
                                                          const double* __restrict c, double* __restrict a) {
  const double cx = c[0], cy = c[1];
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    a[2 * k] += cx * r[k];
    a[2 * k + 1] += cy * r[k];
  }
}

struct Kernels {
  void (*row)(const RowArgs&, int64_t, int64_t, const double*, const double*, double*);
  void (*pair_dot)(const double*, int64_t, const double*, double*);
  void (*pair_axpy)(const double*, int64_t, const double*, double*);
};

#define SPHAERA_WIGNER_KERNELS(suffix, attr)                                                                        \
  attr void row_##suffix(const RowArgs& r, int64_t k0, int64_t k1, const double* u, const double* v, double* out) { \
    risbo_row_impl(r, k0, k1, u, v, out);                                                                           \
  }                                                                                                                 \
  attr void pair_dot_##suffix(const double* r, int64_t n, const double* a, double* out) {                           \
    pair_dot_impl(r, n, a, out);                                                                                    \
  }                                                                                                                 \
  attr void pair_axpy_##suffix(const double* r, int64_t n, const double* c, double* a) { pair_axpy_impl(r, n, c, a); }

#if defined(__x86_64__) && defined(__GNUC__)
SPHAERA_WIGNER_KERNELS(avx512, __attribute__((target("avx512f"))))
SPHAERA_WIGNER_KERNELS(avx2, __attribute__((target("avx2,fma"))))
#endif
SPHAERA_WIGNER_KERNELS(generic, )
#undef SPHAERA_WIGNER_KERNELS

Kernels pick_kernels() {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (core::simd_level()) {
    case core::SimdLevel::kAvx512: return {row_avx512, pair_dot_avx512, pair_axpy_avx512};
    case core::SimdLevel::kAvx2: return {row_avx2, pair_dot_avx2, pair_axpy_avx2};
    default: break;
  }
#endif
  return {row_generic, pair_dot_generic, pair_axpy_generic};
}

const Kernels& kernels() {
  static const Kernels k = pick_kernels();
  return k;
}

constexpr int64_t kMaxLmax = 65536;

}  // namespace

namespace detail {

// Risbo's recursion for all degrees up to lmax at one angle.
//
// Storage: of D^{2l} (= d^l) only the rows i = 0..l (m' = l − i ≥ 0) and in row i only the columns
// k = i..2l−i (|m| ≤ m'): the symmetries d_{m'm} = (−1)^{m'−m} d_{mm'} = d_{−m,−m'} give the rest, and
// D^n_{ik} = (−1)^{k−i} D^n_{ki} = D^n_{n−k,n−i} hold for half-integer degrees too. The recursion for row i,
// columns i..n−i of D^n reads row i−1 of D^{n−1} at columns i−1..n−i (all stored) and row i at the same
// columns, of which the two ends are "ghosts" outside the stored region, obtained before use as
// D^{n−1}_{i,i−1} = −D^{n−1}_{i−1,i} and D^{n−1}_{i,n−i} = D^{n−1}_{i−1,n−1−i}.
//
// Each degree l−1 → l goes through the half-integer degree (n = 2l−1) without storing it: rows are
// processed from i = l down to 0; the two rows of D^{2l−1} each needs are computed on the fly from rows of
// D^{2l−2} that are no longer needed once row i of D^{2l} overwrites them. Threads take contiguous blocks of
// rows of equal work; the two rows below each block, which the thread below overwrites meanwhile, are copied
// before the threads start.
class RisboTable {
 public:
  RisboTable(int64_t lmax, double beta) : lmax_(lmax), beta_(beta), stride_(2 * lmax + 3) {
    SPHAERA_CHECK(lmax >= 0 && lmax <= kMaxLmax, "Wigner d: lmax must be in [0, ", kMaxLmax, "], got ", lmax);
    SPHAERA_CHECK(std::isfinite(beta), "Wigner d: beta must be finite, got ", beta);
    // Rows of stride 2·lmax + 3 (columns −1..2·lmax+1), zero outside the stored region, so that the rows of a
    // degree form a dense matrix for BLAS. calloc: pages never touched (beyond the region) cost no memory.
    buf_.reset(static_cast<double*>(std::calloc(static_cast<size_t>((lmax + 1) * stride_), sizeof(double))));
    SPHAERA_CHECK(buf_ != nullptr, "Wigner d: cannot allocate the table for lmax = ", lmax);
    zero_.assign(static_cast<size_t>(stride_), 0.0);
    p_ = std::sin(beta / 2);
    q_ = std::cos(beta / 2);
    const int64_t top = 2 * lmax + 1;
    sqrt_fwd_.resize(static_cast<size_t>(top + 1));
    sqrt_rev_.resize(static_cast<size_t>(top + 1));
    for (int64_t x = 0; x <= top; ++x) {
      sqrt_fwd_[x] = std::sqrt(static_cast<double>(x));
      sqrt_rev_[x] = std::sqrt(static_cast<double>(top - x));
    }
    max_threads_ = std::max(1, omp_get_max_threads());
    scratch_.resize(static_cast<size_t>(max_threads_));
  }

  int64_t lmax() const { return lmax_; }
  double beta() const { return beta_; }
  int64_t l() const { return l_; }
  int max_threads() const { return max_threads_; }

  // Row i (0 ≤ i ≤ l) of the current D^{2l}: row(i)[k] = d^l_{l−i, l−k}(β) for i ≤ k ≤ 2l − i, zero for
  // other 0 ≤ k ≤ 2l. Rows are row_stride() apart: rows 0..l, columns 0..2l form a dense matrix at row(0).
  const double* row(int64_t i) const { return buf_.get() + i * stride_ + 1; }
  int64_t row_stride() const { return stride_; }

  // d^l_{m'm} for any |m'|, |m| ≤ l, from the stored region |m| ≤ m' by symmetry.
  double value(int64_t mp, int64_t m) const {
    const int64_t l = l_;
    const double sign = ((mp - m) & 1) ? -1.0 : 1.0;
    if (mp >= std::abs(m)) return row(l - mp)[l - m];
    if (-mp >= std::abs(m)) return sign * row(l + mp)[l + m];  // d_{m'm} = (−1)^{m'−m} d_{−m',−m}
    if (m >= std::abs(mp)) return sign * row(l - m)[l - mp];   // d_{m'm} = (−1)^{m'−m} d_{mm'}
    return row(l + m)[l + mp];                                 // d_{m'm} = d_{−m,−m'}
  }

  // Advances degree by degree up to `last`. For each degree l: before(l) (one thread), then
  // consume(block, i, row) for every row i of the new D^{2l} from the thread that computed it while the row is
  // still in cache (block < max_threads(): rows are split into blocks, each computed by one thread at a time),
  // then after(l) (one thread). before and after run on the calling thread.
  template <class Before, class Consume, class After>
  void run(int64_t last, Before&& before, Consume&& consume, After&& after) {
    SPHAERA_CHECK(last <= lmax_, "WignerDRecursion: cannot go past lmax = ", lmax_, " (asked for l = ", last, ")");
    // Threads only pay off from blocks of ≥ 64 rows (a block costs ~20 flops per row and column) and over
    // several degrees (starting a team costs more than a degree of a few hundred rows).
    const int64_t first_team_level = std::max<int64_t>(l_ + 1, 2 * 64 - 1);
    const bool use_team = max_threads_ > 1 && last >= first_team_level && last - l_ >= 8;
    const int64_t serial_last = use_team ? first_team_level - 1 : last;
    if (l_ < serial_last) {
      FlushDenormals ftz;
      while (l_ < serial_last) {
        const int64_t l = ++l_;
        before(l);
        if (l == 0) {
          row_mut(0)[0] = 1.0;
          consume(0, 0, row(0));
        } else {
          step(l, 0, 0, l, consume);
        }
        after(l);
      }
    }
    if (!use_team) return;
    YieldingBarrier barrier;
    // An exception must not leave the parallel region: the first one is kept, all threads stop at the next
    // meeting, and it is rethrown here.
    std::exception_ptr error;
    std::atomic<bool> failed{false};
#pragma omp parallel num_threads(max_threads_)
    {
      FlushDenormals ftz;
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
#pragma omp single
      barrier.reset(nt);
      for (int64_t l = first_team_level; l <= last; ++l) {
        const int blocks = static_cast<int>(std::clamp<int64_t>((l + 1) / 64, 1, nt));
        if (t == 0 && !failed.load()) {
          try {
            l_ = l;
            before(l);
            split_rows(l, blocks);
          } catch (...) {
            error = std::current_exception();
            failed.store(true);
          }
        }
        barrier.wait();
        if (failed.load()) break;
        // Blocks are independent (each has its own scratch and copies): any thread may take any block.
        for (int b = t; b < blocks; b += nt) step(l, b, block_first_[b], block_first_[b + 1] - 1, consume);
        barrier.wait();
        if (t == 0) {
          try {
            after(l);
          } catch (...) {
            error = std::current_exception();
            failed.store(true);
          }
        }
      }
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  // Blocks of rows of equal work for degree l: block b is rows [block_first_[b], block_first_[b+1]); the
  // cumulative work Σ_{r<i} (2(l−r)+1) = i(2l+2−i). Each block but the first gets a copy of the two rows of
  // D^{2l−2} below it, which the block below overwrites meanwhile.
  void split_rows(int64_t l, int blocks) {
    block_first_.assign(static_cast<size_t>(blocks + 1), 0);
    block_first_[blocks] = l + 1;
    for (int b = 1; b < blocks; ++b) {
      const double target = static_cast<double>(b) / blocks * static_cast<double>((l + 1) * (l + 1));
      int64_t i = block_first_[b - 1];
      while (i < l && static_cast<double>(i * (2 * l + 2 - i)) < target) ++i;
      block_first_[b] = std::max<int64_t>(i, block_first_[b - 1] + 1);
    }
    for (int b = 1; b < blocks; ++b) {
      std::vector<double>& s = scratch(b);
      for (int j = 0; j < 2; ++j) {
        const int64_t r = block_first_[b] - 1 - j;
        if (r < 0) continue;
        double* dst = s.data() + (2 + j) * stride_ + 1;
        std::copy(row(r) + r - 1, row(r) + 2 * l - r, dst + r - 1);  // columns r−1..2l−1−r
      }
    }
  }

  double* row_mut(int64_t i) { return const_cast<double*>(row(i)); }

  std::vector<double>& scratch(int t) {
    std::vector<double>& s = scratch_[static_cast<size_t>(t)];
    if (s.size() < static_cast<size_t>(4 * stride_)) s.assign(static_cast<size_t>(4 * stride_), 0.0);
    return s;
  }

  RowArgs args(int64_t n, int64_t i) const {
    const double inv_n = 1.0 / static_cast<double>(n);
    const double sni = std::sqrt(static_cast<double>(n - i)) * inv_n;
    const double si = std::sqrt(static_cast<double>(i)) * inv_n;
    return RowArgs{q_ * sni, -p_ * sni, p_ * si, q_ * si, sqrt_fwd_.data(), sqrt_rev_.data() + (2 * lmax_ + 1 - n)};
  }

  // Rows [lo, hi] of D^{2l} (thread t; its copies of rows lo−1 and lo−2 of D^{2l−2} are in its scratch).
  template <class Consume>
  void step(int64_t l, int t, int64_t lo, int64_t hi, Consume& consume) {
    std::vector<double>& s = scratch(t);
    double* tmp[2] = {s.data() + 1, s.data() + stride_ + 1};
    double* snap[2] = {s.data() + 2 * stride_ + 1, s.data() + 3 * stride_ + 1};
    const double* zero = zero_.data() + 1;
    // Row r of D^{2l−2} (writable: its ghosts are set before use).
    auto prev_row = [&](int64_t r) -> double* {
      if (r >= lo) return row_mut(r);
      return snap[lo - 1 - r];
    };
    const int64_t n = 2 * l;
    const int64_t n_odd = n - 1;
    // Row ip of D^{2l−1} into dst (columns ip..n_odd−ip); the zero row for ip < 0.
    auto odd_row = [&](int64_t ip, double* dst) -> const double* {
      if (ip < 0) return zero;
      double* u = prev_row(ip);
      const double* v = ip >= 1 ? prev_row(ip - 1) : zero;
      u[ip - 1] = -v[ip];
      u[n_odd - ip] = v[n_odd - 1 - ip];
      kernels().row(args(n_odd, ip), ip, n_odd - ip, u, v, dst);
      u[ip - 1] = 0.0;  // keep the matrix zero left of the region
      return dst;
    };
    double* cur = tmp[0];        // row i of D^{2l−1}
    const double* below = zero;  // row i−1 of D^{2l−1}
    for (int64_t i = hi; i >= lo; --i) {
      if (i == hi) {
        // Row l of D^{2l−1} has no stored columns (only its two ghosts).
        if (hi < l) odd_row(hi, cur);
        below = odd_row(hi - 1, tmp[1]);
      } else {
        double* free_tmp = cur;
        cur = const_cast<double*>(below);  // a scratch row: i ≥ 0 here
        below = odd_row(i - 1, free_tmp);
      }
      cur[i - 1] = -below[i];
      cur[n - i] = below[n_odd - i];
      double* out = row_mut(i);
      kernels().row(args(n, i), i, n - i, cur, below, out);
      consume(t, i, static_cast<const double*>(out));
    }
  }

  int64_t lmax_;
  double beta_;
  int64_t stride_;  // of rows (table and scratch): columns −1..2·lmax+1
  int64_t l_ = -1;
  double p_ = 0.0, q_ = 1.0;
  struct Free {
    void operator()(double* p) const { std::free(p); }
  };
  std::unique_ptr<double, Free> buf_;  // rows 0..lmax of D^{2l}
  std::vector<double> zero_;
  std::vector<double> sqrt_fwd_, sqrt_rev_;
  int max_threads_ = 1;
  std::vector<std::vector<double>> scratch_;  // per block: 2 rows of D^{2l−1}, 2 copied rows of D^{2l−2}
  std::vector<int64_t> block_first_;
};

}  // namespace detail

namespace {

// d^l of a table's current degree as float64 [2l+1, 2l+1], entry [m'+l, m+l] = d^l_{m'm}.
at::Tensor full_matrix(const detail::RisboTable& table) {
  const int64_t l = table.l();
  const int64_t size = 2 * l + 1;
  at::Tensor out = at::empty({size, size}, at::TensorOptions().dtype(at::kDouble));
  double* o = out.data_ptr<double>();
  for (int64_t mp = -l; mp <= l; ++mp) {
    for (int64_t m = -l; m <= l; ++m) o[(mp + l) * size + m + l] = table.value(mp, m);
  }
  return out;
}

void ignore_rows(int, int64_t, const double*) {}
void ignore_degree(int64_t) {}

}  // namespace

// ---- WignerDRecursion ----

WignerDRecursion::WignerDRecursion(int64_t lmax, double beta)
    : table_(std::make_unique<detail::RisboTable>(lmax, beta)) {}
WignerDRecursion::~WignerDRecursion() = default;
WignerDRecursion::WignerDRecursion(WignerDRecursion&&) noexcept = default;
WignerDRecursion& WignerDRecursion::operator=(WignerDRecursion&&) noexcept = default;

int64_t WignerDRecursion::lmax() const { return table_->lmax(); }
double WignerDRecursion::beta() const { return table_->beta(); }
int64_t WignerDRecursion::l() const { return table_->l(); }

void WignerDRecursion::advance() { table_->run(table_->l() + 1, ignore_degree, ignore_rows, ignore_degree); }

void WignerDRecursion::advance_to(int64_t l) {
  SPHAERA_CHECK(l >= table_->l(), "WignerDRecursion: cannot go back from l = ", table_->l(), " to ", l);
  table_->run(l, ignore_degree, ignore_rows, ignore_degree);
}

double WignerDRecursion::operator()(int64_t mp, int64_t m) const {
  const int64_t l = table_->l();
  SPHAERA_CHECK(l >= 0, "WignerDRecursion: call advance() before reading d^l");
  SPHAERA_CHECK(std::abs(mp) <= l && std::abs(m) <= l, "WignerDRecursion: (m', m) = (", mp, ", ", m,
                ") out of range for l = ", l);
  return table_->value(mp, m);
}

at::Tensor WignerDRecursion::matrix() const {
  SPHAERA_CHECK(table_->l() >= 0, "WignerDRecursion: call advance() before reading d^l");
  return full_matrix(*table_);
}

at::Tensor WignerDRecursion::next() {
  advance();
  return matrix();
}

at::Tensor wigner_d(int64_t l, double beta) {
  SPHAERA_CHECK(l >= 0 && l <= kMaxLmax, "wigner_d: l must be in [0, ", kMaxLmax, "], got ", l);
  SPHAERA_CHECK(std::isfinite(beta), "wigner_d: beta must be finite, got ", beta);
  detail::RisboTable table(l, beta);
  table.run(l, ignore_degree, ignore_rows, ignore_degree);
  return full_matrix(table);
}

// ---- rotations of coefficients ----

namespace {

using cdouble = c10::complex<double>;

// For every degree l and batch element b:
//   out[b, l, m'] = e^{i m' post} (M^l z)_{m'},  z_m = e^{i m pre} in[b, l, m],  0 ≤ m, m' ≤ l,
// where M^l is the real-linear map of the stored entries (m ≥ 0) that d^l(θ) induces on coefficients of real
// maps: with z_{−m} = (−1)^m conj(z_m), x = Re z, y = Im z, s_m = (−1)^m,
//   Σ_{m=−l}^{l} d_{m'm} z_m = Σ_{m=0}^{l} P_{m'm} x_m + i Q_{m'm} y_m,
//   P_{m'm} = d_{m'm} + s_m d_{m',−m},  Q_{m'm} = d_{m'm} − s_m d_{m',−m}  (m ≥ 1),
//   P_{m'0} = Q_{m'0} = d_{m'0}  (z_0 enters complex-linearly, as in HEALPix C++).
// With `transpose`, M^l is replaced by its transpose (x, y) → (Pᵀx, Qᵀy): the adjoint for the real inner
// product Re Σ conj(a) b.
//
// The table holds row m' of d^l only at |m| ≤ m': r_{m'}[k] = d_{m', l−k}, l−m' ≤ k ≤ l+m' (zero elsewhere).
// Entries with m ≤ m' come from row m' itself, those with m > m' from row m by the symmetries
//   P_{m'm} = s_m ((−1)^{m'} r_m[l−m'] + r_m[l+m']),  Q_{m'm} = s_m ((−1)^{m'} r_m[l−m'] − r_m[l+m'])  (m > m').
// So each degree needs two products with the matrix R (rows r_m, m = 0..l, as rows i = l − m; columns
// k = 0..2l), over all maps at once (w = 2·batch interleaved real and imaginary parts):
//   A = R V,   B = Rᵀ C,   C[row m] = c_m z_m  (c_m = s_m forward, 1 transpose),
// with V[k] = (x_{l−k}, y_{l−k}) for k ≤ l, (s x_{k−l}, −s y_{k−l}) for k > l (forward, s = s_{k−l}), or
// G[k] = (s x_{l−k}, s y_{l−k}) for k < l (s = s_{l−k}), (2 x_0, 0) at k = l, (x_{k−l}, −y_{k−l}) for k > l
// (transpose). Then, with r = r_m:
//   forward:   out_m = (A_x − x_m (r[l−m] + s_m r[l+m]) + s_m B_x[l−m] + B_x[l+m],
//                       A_y − y_m (r[l−m] − s_m r[l+m]) + s_m B_y[l−m] − B_y[l+m])
//   transpose: out_m = (s_m (A_x − r[l−m] G_x[l−m] − r[l+m] G_x[l+m]) + B_x[l−m] + s_m B_x[l+m], same for y
//                       with B_y[l−m] − s_m B_y[l+m]),  m ≥ 1;  out_0 = (B_x[l], B_y[l]).
// (The subtracted terms remove the ends of row m, counted in both A and B.) For one map the products are done
// row by row as the recursion produces the rows (still in cache), B accumulated per thread block; for two maps
// or more by BLAS on the finished degree (the zeros of R included: measured faster from two maps on).
void rotate_kernel(const cdouble* in, cdouble* out, int64_t batch, int64_t lmax, double pre, double theta, double post,
                   bool transpose) {
  const Kernels& kern = kernels();
  const int64_t n1 = lmax + 1;
  const int64_t width = 2 * lmax + 1;
  const int64_t w = 2 * batch;
  const bool use_blas = batch >= 2;
  detail::RisboTable table(lmax, theta);
  std::vector<cdouble> pre_phase(static_cast<size_t>(n1)), post_phase(static_cast<size_t>(n1));
  for (int64_t m = 0; m <= lmax; ++m) {
    pre_phase[m] = cdouble(std::cos(m * pre), std::sin(m * pre));
    post_phase[m] = cdouble(std::cos(m * post), std::sin(m * post));
  }
  auto parity = [](int64_t m) { return (m & 1) ? -1.0 : 1.0; };
  std::vector<double> c(static_cast<size_t>(n1 * w));     // [row i][w]: C
  std::vector<double> v(static_cast<size_t>(width * w));  // [k][w]: V or G
  std::vector<double> a(static_cast<size_t>(n1 * w));     // [row i][w]: A
  std::vector<std::vector<double>> b_parts(static_cast<size_t>(use_blas ? 1 : table.max_threads()));
  for (auto& bp : b_parts) bp.assign(static_cast<size_t>(width * w), 0.0);  // [k][w]: B (per thread block)
  const auto options = at::TensorOptions().dtype(at::kDouble);

  auto before = [&](int64_t l) {
    for (int64_t m = 0; m <= l; ++m) {
      double* cm = c.data() + (l - m) * w;
      double* lo = v.data() + (l - m) * w;
      double* hi = v.data() + (l + m) * w;
      const double s = parity(m);
      const double coef = transpose ? 1.0 : s;
      for (int64_t b = 0; b < batch; ++b) {
        const cdouble z = in[(b * n1 + l) * n1 + m] * pre_phase[m];
        const double x = z.real(), y = z.imag();
        cm[2 * b] = coef * x;
        cm[2 * b + 1] = coef * y;
        if (!transpose) {
          lo[2 * b] = x;
          lo[2 * b + 1] = y;
          if (m > 0) {
            hi[2 * b] = s * x;
            hi[2 * b + 1] = -s * y;
          }
        } else if (m == 0) {
          lo[2 * b] = 2 * x;
          lo[2 * b + 1] = 0.0;
        } else {
          lo[2 * b] = s * x;
          lo[2 * b + 1] = s * y;
          hi[2 * b] = x;
          hi[2 * b + 1] = -y;
        }
      }
    }
    if (!use_blas) {
      for (auto& bp : b_parts) std::fill(bp.begin(), bp.begin() + (2 * l + 1) * w, 0.0);
    }
  };

  auto consume = [&](int t, int64_t i, const double* r) {
    if (use_blas) return;
    const int64_t m = table.l() - i;
    kern.pair_dot(r + i, 2 * m + 1, v.data() + i * w, a.data() + i * w);
    kern.pair_axpy(r + i, 2 * m + 1, c.data() + i * w, b_parts[static_cast<size_t>(t)].data() + i * w);
  };

  auto after = [&](int64_t l) {
    if (use_blas) {
      const int64_t rows = l + 1, cols = 2 * l + 1;
      const at::Tensor r =
          at::from_blob(const_cast<double*>(table.row(0)), {rows, cols}, {table.row_stride(), 1}, options);
      at::Tensor av = at::from_blob(a.data(), {rows, w}, options);
      at::Tensor bv = at::from_blob(b_parts[0].data(), {cols, w}, options);
      at::mm_out(av, r, at::from_blob(v.data(), {cols, w}, options));
      at::mm_out(bv, r.t(), at::from_blob(c.data(), {rows, w}, options));
    }
    for (int64_t m = 0; m <= l; ++m) {
      const double s = parity(m);
      const double* r = table.row(l - m);
      const double* am = a.data() + (l - m) * w;
      for (int64_t b = 0; b < batch; ++b) {
        double sx = 0.0, sy = 0.0;
        for (const auto& bp : b_parts) {
          const double* lo = bp.data() + (l - m) * w + 2 * b;
          const double* hi = bp.data() + (l + m) * w + 2 * b;
          if (!transpose) {
            sx += s * lo[0] + hi[0];
            sy += s * lo[1] - hi[1];
          } else if (m == 0) {
            sx += lo[0];
            sy += lo[1];
          } else {
            sx += lo[0] + s * hi[0];
            sy += lo[1] - s * hi[1];
          }
        }
        if (!transpose) {
          // x_m, y_m are the entries of V at column l − m.
          const double x = v[(l - m) * w + 2 * b], y = v[(l - m) * w + 2 * b + 1];
          sx += am[2 * b] - x * (r[l - m] + s * r[l + m]);
          sy += am[2 * b + 1] - y * (r[l - m] - s * r[l + m]);
        } else if (m > 0) {
          const double* glo = v.data() + (l - m) * w + 2 * b;
          const double* ghi = v.data() + (l + m) * w + 2 * b;
          sx += s * (am[2 * b] - r[l - m] * glo[0] - r[l + m] * ghi[0]);
          sy += s * (am[2 * b + 1] - r[l - m] * glo[1] - r[l + m] * ghi[1]);
        }
        out[(b * n1 + l) * n1 + m] = cdouble(sx, sy) * post_phase[m];
      }
    }
  };
  table.run(lmax, before, consume, after);
}

void check_alm(const at::Tensor& alm, const char* what) {
  SPHAERA_CHECK(alm.defined(), what, ": alm is an undefined tensor");
  SPHAERA_CHECK(alm.scalar_type() == at::kComplexFloat || alm.scalar_type() == at::kComplexDouble, what,
                ": alm must be complex64 or complex128, got ", alm.scalar_type());
  SPHAERA_CHECK(alm.dim() >= 2 && alm.size(-1) == alm.size(-2) && alm.size(-1) >= 1, what,
                ": alm must be [..., lmax+1, lmax+1] (indexed [l, m], square in its last two dims), got ", alm.sizes());
  SPHAERA_CHECK(alm.size(-1) - 1 <= kMaxLmax, what, ": lmax must be at most ", kMaxLmax, ", got ", alm.size(-1) - 1);
}

// Forward (transpose = false): the rotation; transpose = true: its adjoint. Result has alm's dtype and device.
at::Tensor rotate_raw(const at::Tensor& alm, double psi, double theta, double phi, bool transpose) {
  const at::Tensor x = alm.detach().to(at::kCPU, at::kComplexDouble).resolve_conj().resolve_neg().contiguous();
  at::Tensor out = at::zeros_like(x);
  const int64_t n1 = x.size(-1);
  const int64_t batch = x.numel() / (n1 * n1);
  if (batch > 0) {
    rotate_kernel(x.data_ptr<cdouble>(), out.data_ptr<cdouble>(), batch, n1 - 1, transpose ? phi : -psi, theta,
                  transpose ? psi : -phi, transpose);
  }
  return out.to(alm.device(), alm.scalar_type());
}

class RotateAlmFunction : public torch::autograd::Function<RotateAlmFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& alm, double psi, double theta,
                            double phi, bool transpose) {
    ctx->saved_data["psi"] = psi;
    ctx->saved_data["theta"] = theta;
    ctx->saved_data["phi"] = phi;
    ctx->saved_data["transpose"] = transpose;
    return rotate_raw(alm, psi, theta, phi, transpose);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor& g = grads[0];
    at::Tensor grad_alm;
    if (g.defined()) {
      // The adjoint is itself a Function (with the forward as its adjoint): double backward works.
      grad_alm = RotateAlmFunction::apply(g, ctx->saved_data["psi"].toDouble(), ctx->saved_data["theta"].toDouble(),
                                          ctx->saved_data["phi"].toDouble(), !ctx->saved_data["transpose"].toBool());
    }
    return {grad_alm, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor rotate_alm(const at::Tensor& alm, double psi, double theta, double phi) {
  check_alm(alm, "rotate_alm");
  SPHAERA_CHECK(std::isfinite(psi) && std::isfinite(theta) && std::isfinite(phi),
                "rotate_alm: Euler angles must be finite, got (psi, theta, phi) = (", psi, ", ", theta, ", ", phi, ")");
  return RotateAlmFunction::apply(alm, psi, theta, phi, false);
}

// ---- Euler angles ----

at::Tensor euler_rotation_matrix(double psi, double theta, double phi) {
  auto rz = [](double a) {
    const double c = std::cos(a), s = std::sin(a);
    return std::array<double, 9>{c, -s, 0, s, c, 0, 0, 0, 1};
  };
  const double c = std::cos(theta), s = std::sin(theta);
  const std::array<double, 9> ry{c, 0, s, 0, 1, 0, -s, 0, c};
  auto mul = [](const std::array<double, 9>& a, const std::array<double, 9>& b) {
    std::array<double, 9> r{};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 3; ++k) r[3 * i + j] += a[3 * i + k] * b[3 * k + j];
    return r;
  };
  const std::array<double, 9> m = mul(rz(phi), mul(ry, rz(psi)));
  at::Tensor out = at::empty({3, 3}, at::TensorOptions().dtype(at::kDouble));
  std::copy(m.begin(), m.end(), out.data_ptr<double>());
  return out;
}

std::array<double, 3> euler_angles(const at::Tensor& rotation) {
  SPHAERA_CHECK(rotation.defined() && rotation.dim() == 2 && rotation.size(0) == 3 && rotation.size(1) == 3,
                "euler_angles: rotation must be a [3, 3] matrix, got ",
                rotation.defined() ? rotation.sizes() : at::IntArrayRef{});
  const at::Tensor r = rotation.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* m = r.data_ptr<double>();
  auto at_ = [&](int i, int j) { return m[3 * i + j]; };
  // R = R_z(φ) R_y(θ) R_z(ψ): third column (cos φ sin θ, sin φ sin θ, cos θ), third row (−sin θ cos ψ,
  // sin θ sin ψ, cos θ).
  const double s = std::hypot(at_(0, 2), at_(1, 2));
  const double theta = std::atan2(s, at_(2, 2));
  if (s < 1e-14) {  // θ = 0 or π: only φ ± ψ is defined; put it all in φ (R_01 = −sin φ, R_11 = cos φ)
    return {0.0, theta, std::atan2(-at_(0, 1), at_(1, 1))};
  }
  return {std::atan2(at_(2, 1), -at_(2, 0)), theta, std::atan2(at_(1, 2), at_(0, 2))};
}

}  // namespace sphaera::transforms
