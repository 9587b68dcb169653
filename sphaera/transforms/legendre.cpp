#include "sphaera/transforms/legendre.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>


#include "sphaera/core/check.h"

namespace sphaera::transforms {

namespace {

#define SPHAERA_ALWAYS_INLINE __attribute__((always_inline)) inline
#define SPHAERA_INLINE_LAMBDA __attribute__((always_inline))

constexpr int kLanes = 32;         // ring pairs per block, held as kLanes / VL SIMD vectors
constexpr int64_t kMaxCols = 8;    // columns (maps × re, im) accumulated per pass over the degrees
constexpr double kScaleStep = 800;  // values are mantissa · 2^(800·scale), scale ≤ 0
constexpr double kBig = 0x1p400;    // a scaled lane whose mantissa exceeds this moves one scale up
constexpr double kShrink = 0x1p-800;

// Recurrence coefficients of order m: λ_l = a_l x λ_{l−1} − (a_l b_l) λ_{l−2}, for l = m+2 .. lmax+3 (the
// unrolled loop computes up to two degrees beyond lmax, never used).
void recurrence_coefficients(int64_t m, int64_t lmax, std::vector<double>& a, std::vector<double>& ab) {
  a.assign(lmax + 4, 0.0);
  ab.assign(lmax + 4, 0.0);
  for (int64_t l = m + 2; l <= lmax + 3; ++l) {
    const double ld = static_cast<double>(l), md = static_cast<double>(m);
    a[l] = std::sqrt((4.0 * ld * ld - 1.0) / ((ld - md) * (ld + md)));
    const double lm1 = ld - 1.0;
    ab[l] = a[l] * std::sqrt((lm1 * lm1 - md * md) / (4.0 * lm1 * lm1 - 1.0));
  }
}

// Per-block inputs of the recurrence.
struct Block {
  int64_t m, lmax;
  int64_t first, count;  // pairs [first, first + count)
  const double* cos_theta;
  const double* sin_theta;
  const double* log2_sin_theta;
  double log2_norm;  // log2 of λ_mm / sin^m θ (without the sign)
  const double* a;
  const double* ab;
  const double* table = nullptr;  // precomputed λ of this m (rows l = m, m+2, ..., m+1, m+3, ...; × pairs), or null
  int64_t pairs = 0;              // row length of the table
};

// Runs the recurrence for one block of ring pairs and order m and calls visit(l, parity, lam) for every
// degree l = m..lmax, where lam[NV] holds λ_lm of the block's lanes (0 for lanes still below 2^-400, whose
// contributions are negligible) and parity = (l − m) mod 2.
template <class V, int NV, class Visit>
SPHAERA_ALWAYS_INLINE void recurrence_block(const Block& b, Visit&& visit) {
  constexpr int VL = kLanes / NV;
  alignas(64) double xs[kLanes], p0s[kLanes], p1s[kLanes], scs[kLanes];
  const int64_t m = b.m;
  const double sign = (m & 1) ? -1.0 : 1.0;
  const double seed1 = std::sqrt(2.0 * static_cast<double>(m) + 3.0);
  for (int i = 0; i < kLanes; ++i) {
    xs[i] = 0.0, p0s[i] = 0.0, p1s[i] = 0.0, scs[i] = 0.0;
    if (i >= b.count) continue;
    const int64_t p = b.first + i;
    xs[i] = b.cos_theta[p];
    if (b.sin_theta[p] == 0.0 && m > 0) continue;  // poles: λ_lm = 0 for m > 0
    const double e = b.log2_norm + (m > 0 ? static_cast<double>(m) * b.log2_sin_theta[p] : 0.0);
    const double scale = std::min(0.0, std::ceil(e / kScaleStep));
    p0s[i] = sign * std::exp2(e - kScaleStep * scale);
    p1s[i] = xs[i] * seed1 * p0s[i];
    scs[i] = scale;
  }
  V x[NV], p0[NV], p1[NV], sc[NV];
  for (int v = 0; v < NV; ++v) {
    std::memcpy(&x[v], xs + v * VL, sizeof(V));
    std::memcpy(&p0[v], p0s + v * VL, sizeof(V));
    std::memcpy(&p1[v], p1s + v * VL, sizeof(V));
    std::memcpy(&sc[v], scs + v * VL, sizeof(V));
  }
  const V zero = V{} * 0.0;
  auto advance = [&](int64_t l) SPHAERA_INLINE_LAMBDA {  // (λ_l, λ_{l+1}) → (λ_{l+2}, λ_{l+3})
    const double a2 = b.a[l + 2], ab2 = b.ab[l + 2], a3 = b.a[l + 3], ab3 = b.ab[l + 3];
    for (int v = 0; v < NV; ++v) p0[v] = a2 * (x[v] * p1[v]) - ab2 * p0[v];
    for (int v = 0; v < NV; ++v) p1[v] = a3 * (x[v] * p0[v]) - ab3 * p1[v];
  };
  auto all_unscaled = [&]() SPHAERA_INLINE_LAMBDA {
    V s = sc[0];
    for (int v = 1; v < NV; ++v) s = s < sc[v] ? s : sc[v];
    for (int i = 0; i < VL; ++i)
      if (s[i] < 0.0) return false;
    return true;
  };
  int64_t l = m;
  // Phase 1: some lanes still scaled. Visit with those lanes zeroed; rescale lanes that grew large.
  while (l <= b.lmax && !all_unscaled()) {
    V q0[NV], q1[NV];
    bool any = false;
    for (int v = 0; v < NV; ++v) {
      q0[v] = sc[v] == zero ? p0[v] : zero;
      q1[v] = sc[v] == zero ? p1[v] : zero;
      for (int i = 0; i < VL; ++i) any |= sc[v][i] == 0.0;
    }
    if (any) {
      visit(l, 0, q0);
      if (l + 1 <= b.lmax) visit(l + 1, 1, q1);
    }
    advance(l);
    for (int v = 0; v < NV; ++v) {
      const V ap0 = p0[v] < zero ? -p0[v] : p0[v];
      const V ap1 = p1[v] < zero ? -p1[v] : p1[v];
      const auto grow = (ap0 > kBig) | (ap1 > kBig);
      p0[v] = grow ? p0[v] * kShrink : p0[v];
      p1[v] = grow ? p1[v] * kShrink : p1[v];
      sc[v] = grow ? sc[v] + 1.0 : sc[v];
    }
    l += 2;
  }
  // Phase 2: every lane holds true values.
  for (; l + 1 <= b.lmax; l += 2) {
    visit(l, 0, p0);
    visit(l + 1, 1, p1);
    advance(l);
  }
  if (l == b.lmax) visit(l, 0, p0);
}

// Calls visit(l, parity, lam) for l = m..lmax with λ_lm of the block's lanes: read from the precomputed
// table when there is one (lanes beyond the block read finite padding, never used), else by the recurrence.
template <class V, int NV, class Visit>
SPHAERA_ALWAYS_INLINE void degrees_block(const Block& b, Visit&& visit) {
  if (b.table == nullptr) return recurrence_block<V, NV>(b, visit);
  constexpr int VL = kLanes / NV;
  const int64_t m = b.m, even_rows = (b.lmax - m) / 2 + 1;
  V lam[NV];
  for (int64_t l = m; l <= b.lmax; ++l) {
    const int par = static_cast<int>((l - m) & 1);
    const int64_t row = par == 0 ? (l - m) / 2 : even_rows + (l - m - 1) / 2;
    const double* src = b.table + row * b.pairs + b.first;
    for (int v = 0; v < NV; ++v) std::memcpy(&lam[v], src + v * VL, sizeof(V));
    visit(l, par, lam);
  }
}


struct Problem {
  int64_t lmax, mmax, pairs, rings, ncols;
  AlmStrides alm;  // where coefficient (l, m) of column c is: m·alm.m + l·alm.l + (c/2)·alm.map + c%2
  const double* cos_theta;
  const double* sin_theta;
  const double* log2_sin_theta;
  const int64_t* north;
  const int64_t* south;
  const double* log2_norm;
  const int64_t* offsets;  // tables: where each m starts
  const double* table;     // precomputed λ, or null (recurrence)
};

Block make_block(const Problem& pr, int64_t m, int64_t first, const std::vector<double>& a,
                 const std::vector<double>& ab) {
  return Block{m,
               pr.lmax,
               first,
               std::min<int64_t>(kLanes, pr.pairs - first),
               pr.cos_theta,
               pr.sin_theta,
               pr.log2_sin_theta,
               pr.log2_norm[m],
               a.data(),
               ab.data(),
               pr.table ? pr.table + pr.offsets[m] : nullptr,
               pr.pairs};
}

// ring[m] = Λ_m alm[m] for one m by the recurrence.
template <class V, int NV>
SPHAERA_ALWAYS_INLINE void synthesis_m(const Problem& pr, int64_t m, const std::vector<double>& a,
                                       const std::vector<double>& ab, const double* alm, double* ring) {
  constexpr int VL = kLanes / NV;
  alignas(64) V acc[2][kMaxCols][NV];
  const double* alm_m = alm + m * pr.alm.m;
  double* ring_m = ring + m * pr.rings * pr.ncols;
  for (int64_t first = 0; first < pr.pairs; first += kLanes) {
    const Block b = make_block(pr, m, first, a, ab);
    for (int64_t c0 = 0; c0 < pr.ncols; c0 += kMaxCols) {
      const int64_t nc = std::min(kMaxCols, pr.ncols - c0);
      int64_t column[kMaxCols];
      for (int64_t c = 0; c < nc; ++c) column[c] = ((c0 + c) >> 1) * pr.alm.map + ((c0 + c) & 1);
      for (int par = 0; par < 2; ++par)
        for (int64_t c = 0; c < nc; ++c)
          for (int v = 0; v < NV; ++v) acc[par][c][v] = V{} * 0.0;
      degrees_block<V, NV>(b, [&](int64_t l, int par, const V* lam) SPHAERA_INLINE_LAMBDA {
        const double* row = alm_m + l * pr.alm.l;
        for (int64_t c = 0; c < nc; ++c) {
          const double coef = row[column[c]];
          for (int v = 0; v < NV; ++v) acc[par][c][v] += lam[v] * coef;
        }
      });
      for (int64_t i = 0; i < b.count; ++i) {
        const int64_t p = first + i;
        double* north = ring_m + pr.north[p] * pr.ncols + c0;
        double* south = pr.south[p] >= 0 ? ring_m + pr.south[p] * pr.ncols + c0 : nullptr;
        for (int64_t c = 0; c < nc; ++c) {
          const double even = acc[0][c][i / VL][i % VL], odd = acc[1][c][i / VL][i % VL];
          north[c] = even + odd;
          if (south) south[c] = even - odd;
        }
      }
    }
  }
}

// alm[m] = Λ_mᵀ ring[m] for one m by the recurrence.
template <class V, int NV>
SPHAERA_ALWAYS_INLINE void analysis_m(const Problem& pr, int64_t m, const std::vector<double>& a,
                                      const std::vector<double>& ab, const double* ring, double* alm) {
  constexpr int VL = kLanes / NV;
  alignas(64) V in[2][kMaxCols][NV];
  // Per degree and column, a vector of partial sums over all blocks: one horizontal sum per (l, column) at the
  // end instead of one per block.
  // (Doubles, not a vector of V: std::vector's members are not compiled for this function's instruction set.)
  static thread_local std::vector<double> partial;
  double* alm_m = alm + m * pr.alm.m;
  const double* ring_m = ring + m * pr.rings * pr.ncols;
  for (int64_t l = 0; l < m; ++l)  // rows l < m are zero
    for (int64_t c = 0; c < pr.ncols; ++c) alm_m[l * pr.alm.l + (c >> 1) * pr.alm.map + (c & 1)] = 0.0;
  for (int64_t c0 = 0; c0 < pr.ncols; c0 += kMaxCols) {
    const int64_t nc = std::min(kMaxCols, pr.ncols - c0);
    int64_t column[kMaxCols];
    for (int64_t c = 0; c < nc; ++c) column[c] = ((c0 + c) >> 1) * pr.alm.map + ((c0 + c) & 1);
    partial.assign((pr.lmax + 1) * nc * VL, 0.0);
    for (int64_t first = 0; first < pr.pairs; first += kLanes) {
      const Block b = make_block(pr, m, first, a, ab);
      alignas(64) double ins[2][kMaxCols][kLanes] = {};
      for (int64_t i = 0; i < b.count; ++i) {
        const int64_t p = first + i;
        const double* north = ring_m + pr.north[p] * pr.ncols + c0;
        const double* south = pr.south[p] >= 0 ? ring_m + pr.south[p] * pr.ncols + c0 : nullptr;
        for (int64_t c = 0; c < nc; ++c) {
          const double s = south ? south[c] : 0.0;
          ins[0][c][i] = north[c] + s;
          ins[1][c][i] = north[c] - s;
        }
      }
      for (int par = 0; par < 2; ++par)
        for (int64_t c = 0; c < nc; ++c)
          for (int v = 0; v < NV; ++v) std::memcpy(&in[par][c][v], &ins[par][c][v * VL], sizeof(V));
      degrees_block<V, NV>(b, [&](int64_t l, int par, const V* lam) SPHAERA_INLINE_LAMBDA {
        double* acc = partial.data() + l * nc * VL;
        for (int64_t c = 0; c < nc; ++c) {
          V t;
          std::memcpy(&t, acc + c * VL, sizeof(V));
          for (int v = 0; v < NV; ++v) t += lam[v] * in[par][c][v];
          std::memcpy(acc + c * VL, &t, sizeof(V));
        }
      });
    }
    for (int64_t l = m; l <= pr.lmax; ++l) {
      double* row = alm_m + l * pr.alm.l;
      const double* acc = partial.data() + l * nc * VL;
      for (int64_t c = 0; c < nc; ++c) {
        double sum = 0.0;
        for (int i = 0; i < VL; ++i) sum += acc[c * VL + i];
        row[column[c]] = sum;
      }
    }
  }
}

// Tables of one m: rows (l = m, m+2, ..., then m+1, m+3, ...) × pairs, at table + offsets[m].
template <class V, int NV>
SPHAERA_ALWAYS_INLINE void tables_m(const Problem& pr, int64_t m, const std::vector<double>& a,
                                    const std::vector<double>& ab, const double* /*unused*/, double* table) {
  constexpr int VL = kLanes / NV;
  double* t = table + pr.offsets[m];
  const int64_t even_rows = (pr.lmax - m) / 2 + 1;
  for (int64_t first = 0; first < pr.pairs; first += kLanes) {
    const Block b = make_block(pr, m, first, a, ab);
    recurrence_block<V, NV>(b, [&](int64_t l, int par, const V* lam) SPHAERA_INLINE_LAMBDA {
      const int64_t row = par == 0 ? (l - m) / 2 : even_rows + (l - m - 1) / 2;
      alignas(64) double vals[kLanes];
      for (int v = 0; v < NV; ++v) std::memcpy(vals + v * VL, &lam[v], sizeof(V));
      std::memcpy(t + row * pr.pairs + first, vals, sizeof(double) * b.count);
    });
  }
}

using V2 = double __attribute__((vector_size(16)));
using V4 = double __attribute__((vector_size(32)));
using V8 = double __attribute__((vector_size(64)));
using Coefficients = std::vector<double>;
using OrderKernel = void (*)(const Problem&, int64_t, const Coefficients&, const Coefficients&, const double*,
                             double*);

// One function per kernel and instruction set. The target attribute must sit on the function that holds the
// vector code: OpenMP regions are outlined into functions of their own, which do not inherit it, so the
// threads loop over m outside (run_orders) and call these.
#define SPHAERA_KERNEL_FOR_ISAS(kernel)                                                                        \
  __attribute__((target("avx512f"))) void kernel##_avx512(const Problem& pr, int64_t m, const Coefficients& a, \
                                                          const Coefficients& ab, const double* in,            \
                                                          double* out) {                                       \
    kernel<V8, kLanes / 8>(pr, m, a, ab, in, out);                                                              \
  }                                                                                                            \
  __attribute__((target("avx2,fma"))) void kernel##_avx2(const Problem& pr, int64_t m, const Coefficients& a,  \
                                                         const Coefficients& ab, const double* in,             \
                                                         double* out) {                                        \
    kernel<V4, kLanes / 4>(pr, m, a, ab, in, out);                                                              \
  }                                                                                                            \
  void kernel##_generic(const Problem& pr, int64_t m, const Coefficients& a, const Coefficients& ab,           \
                        const double* in, double* out) {                                                       \
    kernel<V2, kLanes / 2>(pr, m, a, ab, in, out);                                                              \
  }

SPHAERA_KERNEL_FOR_ISAS(synthesis_m)
SPHAERA_KERNEL_FOR_ISAS(analysis_m)
SPHAERA_KERNEL_FOR_ISAS(tables_m)

enum class Isa { kAvx512, kAvx2, kGeneric };
Isa detect_isa() {
  if (std::getenv("SPHAERA_NO_AVX512") == nullptr && __builtin_cpu_supports("avx512f")) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
  return Isa::kGeneric;
}
Isa isa() {
  static const Isa value = detect_isa();
  return value;
}

OrderKernel pick(OrderKernel avx512, OrderKernel avx2, OrderKernel generic) {
  switch (isa()) {
    case Isa::kAvx512: return avx512;
    case Isa::kAvx2: return avx2;
    default: return generic;
  }
}

// Runs kernel(m) for m = 0..mmax on all threads, dynamically (orders differ in cost: lmax + 1 − m degrees).
// Small problems stay on the calling thread: a parallel region costs more than their work, and far more on a
// busy machine, where it waits for its slowest thread to be scheduled.
void run_orders(const Problem& pr, OrderKernel kernel, const double* in, double* out) {
  const double degrees = static_cast<double>(pr.lmax + 1), orders = static_cast<double>(pr.mmax + 1);
  const double work = degrees * orders * static_cast<double>(pr.pairs) * static_cast<double>(std::max<int64_t>(pr.ncols, 2));
#pragma omp parallel if (work > 2e5)
  {
    Coefficients a, ab;
#pragma omp for schedule(dynamic, 1)
    for (int64_t m = 0; m <= pr.mmax; ++m) {
      recurrence_coefficients(m, pr.lmax, a, ab);
      kernel(pr, m, a, ab, in, out);
    }
  }
}

}  // namespace

LegendrePlan::LegendrePlan(std::vector<double> theta, int64_t lmax, int64_t mmax, bool precompute)
    : theta_(std::move(theta)), lmax_(lmax), mmax_(mmax) {
  SPHAERA_CHECK(lmax >= 0 && lmax <= 1 << 16, "Legendre transform: lmax must be in [0, 65536], got ", lmax);
  SPHAERA_CHECK(mmax >= 0 && mmax <= lmax, "Legendre transform: mmax must be in [0, lmax = ", lmax, "], got ",
                mmax);
  SPHAERA_CHECK(!theta_.empty(), "Legendre transform: no rings");
  const double pi = M_PI;
  for (double t : theta_)
    SPHAERA_CHECK(t >= 0.0 && t <= pi, "Legendre transform: ring colatitude ", t, " outside [0, π]");
  // Pair rings θ and π − θ (to 1e-12 rad); a ring without a mirror is its own pair.
  const int64_t n = rings();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return theta_[i] < theta_[j]; });
  int64_t lo = 0, hi = n - 1;
  auto add_pair = [&](int64_t north, int64_t south) {
    const double t = theta_[north];
    pairs_.north.push_back(north);
    pairs_.south.push_back(south);
    pairs_.cos_theta.push_back(std::cos(t));
    const double s = std::sin(t);
    pairs_.sin_theta.push_back(t == 0.0 || t == pi ? 0.0 : s);
    pairs_.log2_sin_theta.push_back(t == 0.0 || t == pi ? -INFINITY : std::log2(s));
  };
  while (lo <= hi) {
    const double a = theta_[order[lo]], b = theta_[order[hi]];
    if (lo < hi && std::abs(a + b - pi) < 1e-12) {
      add_pair(order[lo++], order[hi--]);
    } else if (a + b < pi) {  // the northern one has no mirror
      add_pair(order[lo++], -1);
    } else {
      add_pair(order[hi--], -1);
    }
  }
  // log2 λ_mm / sin^m = log2 sqrt((2m+1)/4π · Π_{k≤m} (2k−1)/2k), accumulated in long double.
  log2_norm_.resize(mmax_ + 1);
  long double log_product = 0.0L;
  for (int64_t m = 0; m <= mmax_; ++m) {
    if (m > 0) log_product += std::log2l((2.0L * m - 1.0L) / (2.0L * m));
    log2_norm_[m] = static_cast<double>(
        0.5L * (std::log2l((2.0L * m + 1.0L) / (4.0L * static_cast<long double>(M_PI))) + log_product));
  }
  if (precompute) build_tables();
}

int64_t LegendrePlan::table_bytes(const std::vector<double>& theta, int64_t lmax, int64_t mmax) {
  // Pairs: about half the rings (an upper bound counts every ring whose mirror is missing).
  int64_t pairs = 0;
  std::vector<double> sorted(theta);
  std::sort(sorted.begin(), sorted.end());
  int64_t lo = 0, hi = static_cast<int64_t>(sorted.size()) - 1;
  while (lo <= hi) {
    ++pairs;
    if (lo < hi && std::abs(sorted[lo] + sorted[hi] - M_PI) < 1e-12) {
      ++lo, --hi;
    } else if (sorted[lo] + sorted[hi] < M_PI) {
      ++lo;
    } else {
      --hi;
    }
  }
  int64_t rows = 0;
  for (int64_t m = 0; m <= mmax; ++m) rows += lmax + 1 - m;
  return rows * pairs * static_cast<int64_t>(sizeof(double));
}

namespace {
Problem make_problem(int64_t lmax, int64_t mmax, int64_t rings, int64_t ncols, const std::vector<double>& cos_t,
                     const std::vector<double>& sin_t, const std::vector<double>& log2_sin,
                     const std::vector<int64_t>& north, const std::vector<int64_t>& south,
                     const std::vector<double>& log2_norm) {
  return Problem{lmax,         mmax,        static_cast<int64_t>(cos_t.size()), rings, ncols, AlmStrides{}, cos_t.data(),
                 sin_t.data(), log2_sin.data(), north.data(), south.data(), log2_norm.data(), nullptr, nullptr};
}
}  // namespace

void LegendrePlan::build_tables() {
  const int64_t npairs = static_cast<int64_t>(pairs_.north.size());
  table_offset_.resize(mmax_ + 1);
  int64_t offset = 0;
  for (int64_t m = 0; m <= mmax_; ++m) {
    table_offset_[m] = offset;
    offset += (lmax_ + 1 - m) * npairs;
  }
  table_.assign(offset + kLanes, 0.0);  // padding: blocks read whole SIMD vectors past the last pair
  Problem pr = make_problem(lmax_, mmax_, rings(), 0, pairs_.cos_theta, pairs_.sin_theta, pairs_.log2_sin_theta,
                            pairs_.north, pairs_.south, log2_norm_);
  pr.offsets = table_offset_.data();
  run_orders(pr, pick(tables_m_avx512, tables_m_avx2, tables_m_generic), nullptr, table_.data());
}

AlmStrides LegendrePlan::packed(int64_t lmax, int64_t ncols) { return AlmStrides{ncols, (lmax + 1) * ncols, 2}; }

void LegendrePlan::synthesis(const double* alm, const AlmStrides& strides, double* ring, int64_t ncols) const {
  Problem pr = make_problem(lmax_, mmax_, rings(), ncols, pairs_.cos_theta, pairs_.sin_theta, pairs_.log2_sin_theta,
                            pairs_.north, pairs_.south, log2_norm_);
  pr.alm = strides;
  if (precomputed()) pr.offsets = table_offset_.data(), pr.table = table_.data();
  run_orders(pr, pick(synthesis_m_avx512, synthesis_m_avx2, synthesis_m_generic), alm, ring);
}

void LegendrePlan::analysis(const double* ring, double* alm, const AlmStrides& strides, int64_t ncols) const {
  Problem pr = make_problem(lmax_, mmax_, rings(), ncols, pairs_.cos_theta, pairs_.sin_theta, pairs_.log2_sin_theta,
                            pairs_.north, pairs_.south, log2_norm_);
  pr.alm = strides;
  if (precomputed()) pr.offsets = table_offset_.data(), pr.table = table_.data();
  run_orders(pr, pick(analysis_m_avx512, analysis_m_avx2, analysis_m_generic), ring, alm);
}

std::vector<double> LegendrePlan::values(double theta, int64_t lmax) {
  const LegendrePlan plan({theta}, lmax, lmax, /*precompute=*/true);
  std::vector<double> out((lmax + 1) * (lmax + 1), 0.0);
  for (int64_t m = 0; m <= lmax; ++m) {
    const int64_t even_rows = (lmax - m) / 2 + 1;
    const double* t = plan.table(m);
    for (int64_t l = m; l <= lmax; ++l) {
      const int64_t row = (l - m) % 2 == 0 ? (l - m) / 2 : even_rows + (l - m - 1) / 2;
      out[l * (lmax + 1) + m] = t[row];
    }
  }
  return out;
}

}  // namespace sphaera::transforms
