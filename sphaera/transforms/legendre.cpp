#include "sphaera/transforms/legendre.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>


#include "sphaera/core/buffer.h"
#include "sphaera/core/check.h"
#include "sphaera/core/simd.h"

namespace sphaera::transforms {

namespace {

#define SPHAERA_ALWAYS_INLINE __attribute__((always_inline)) inline
#define SPHAERA_INLINE_LAMBDA __attribute__((always_inline))

constexpr int kLanes = 32;          // the most ring pairs per block (the tables are padded by this much)
constexpr double kScaleStep = 800;  // values are mantissa · 2^(800·scale), scale ≤ 0
constexpr double kBig = 0x1p400;    // a scaled lane whose mantissa exceeds this moves one scale up
constexpr double kShrink = 0x1p-800;

// Recurrence coefficients of order m: λ_l = a_l x λ_{l−1} − (a_l b_l) λ_{l−2}, for l = m+2 .. lmax+3 (the
// unrolled loop computes up to two degrees beyond lmax, never used), and growth[l] = Σ_{j=l}^{lmax} log2(a_j +
// ab_j): since |x| ≤ 1 and a_j ≥ 1, max(|λ_j|, |λ_{j−1}|) grows by at most a_j + ab_j per degree, so
// |λ_j| ≤ max(|λ_{l−1}|, |λ_{l−2}|) · 2^growth[l] for every j in [l, lmax].
struct Recurrence {
  std::vector<double> a, ab, growth;
};

void recurrence_coefficients(int64_t m, int64_t lmax, Recurrence& r) {
  r.a.assign(lmax + 4, 0.0);
  r.ab.assign(lmax + 4, 0.0);
  r.growth.assign(lmax + 4, 0.0);
  for (int64_t l = m + 2; l <= lmax + 3; ++l) {
    const double ld = static_cast<double>(l), md = static_cast<double>(m);
    r.a[l] = std::sqrt((4.0 * ld * ld - 1.0) / ((ld - md) * (ld + md)));
    const double lm1 = ld - 1.0;
    r.ab[l] = r.a[l] * std::sqrt((lm1 * lm1 - md * md) / (4.0 * lm1 * lm1 - 1.0));
  }
  for (int64_t l = lmax; l >= m + 2; --l) r.growth[l] = r.growth[l + 1] + std::log2(r.a[l] + r.ab[l]);
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
  const double* growth;
  const double* table = nullptr;  // precomputed λ of the block's first pair at l = m (rows kLanes apart), or null
};

// 64-bit integer vectors of a given size in bytes.
template <int Bytes>
struct IntVector;
template <>
struct IntVector<16> {
  using type = long long __attribute__((vector_size(16)));
};
template <>
struct IntVector<32> {
  using type = long long __attribute__((vector_size(32)));
};
template <>
struct IntVector<64> {
  using type = long long __attribute__((vector_size(64)));
};

// Runs the recurrence for one block of ring pairs and order m and calls visit(l, parity, lam) for every
// degree l = m..lmax, where lam[NV] holds λ_lm of the block's lanes (0 for lanes still below about 2^-400,
// whose contributions are negligible) and parity = (l − m) mod 2.
template <class V, int NV, class Visit>
SPHAERA_ALWAYS_INLINE void recurrence_block(const Block& b, Visit&& visit) {
  constexpr int VL = sizeof(V) / sizeof(double), lanes = NV * VL;
  static_assert(lanes <= kLanes);
  using I = typename IntVector<sizeof(V)>::type;  // lane masks and bit patterns
  alignas(64) double xs[lanes], p0s[lanes], p1s[lanes], scs[lanes];
  const int64_t m = b.m;
  const double sign = (m & 1) ? -1.0 : 1.0;
  const double seed1 = std::sqrt(2.0 * static_cast<double>(m) + 3.0);
  for (int i = 0; i < lanes; ++i) {
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
  V x[NV], p0[NV], p1[NV], sc[NV], live[NV];
  for (int v = 0; v < NV; ++v) {
    std::memcpy(&x[v], xs + v * VL, sizeof(V));
    std::memcpy(&p0[v], p0s + v * VL, sizeof(V));
    std::memcpy(&p1[v], p1s + v * VL, sizeof(V));
    std::memcpy(&sc[v], scs + v * VL, sizeof(V));
  }
  const V zero = V{} * 0.0, one = zero + 1.0;
  // (λ_l, λ_{l+1}) → (λ_{l+2}, λ_{l+3}). (a x) and (ab λ_{l−2}) do not depend on the previous step: one fused
  // multiply-subtract per degree on the dependency chain.
  auto advance = [&](int64_t l) SPHAERA_INLINE_LAMBDA {
    const double a2 = b.a[l + 2], ab2 = b.ab[l + 2], a3 = b.a[l + 3], ab3 = b.ab[l + 3];
    for (int v = 0; v < NV; ++v) p0[v] = (a2 * x[v]) * p1[v] - ab2 * p0[v];
    for (int v = 0; v < NV; ++v) p1[v] = (a3 * x[v]) * p0[v] - ab3 * p1[v];
  };
  // Moves lanes whose mantissa exceeds 2^400 one scale up and sets live (1 for unscaled lanes, else 0).
  // Returns 2 when every lane is unscaled, 1 when some are, 0 when none is.
  auto rescale = [&]() SPHAERA_INLINE_LAMBDA {
    const I abs_mask = I{} + 0x7fffffffffffffffLL;
    bool all = true, some = false;
    for (int v = 0; v < NV; ++v) {
      const I grow = ((V)((I)p0[v] & abs_mask) > kBig) | ((V)((I)p1[v] & abs_mask) > kBig);
      p0[v] = (V)(((I)(p0[v] * kShrink) & grow) | ((I)p0[v] & ~grow));
      p1[v] = (V)(((I)(p1[v] * kShrink) & grow) | ((I)p1[v] & ~grow));
      sc[v] += (V)((I)one & grow);
      live[v] = (V)((I)one & (sc[v] == zero));
      for (int i = 0; i < VL; ++i) {
        all &= sc[v][i] == 0.0;
        some |= sc[v][i] == 0.0;
      }
    }
    return all ? 2 : (some ? 1 : 0);
  };
  // With no lane unscaled at degree l: can one still reach 2^-400 (and so become unscaled) by lmax?
  auto can_wake = [&](int64_t l) SPHAERA_INLINE_LAMBDA {
    if (l + 2 > b.lmax) return false;
    alignas(64) double q0[lanes], q1[lanes], s[lanes];
    for (int v = 0; v < NV; ++v) {
      std::memcpy(q0 + v * VL, &p0[v], sizeof(V));
      std::memcpy(q1 + v * VL, &p1[v], sizeof(V));
      std::memcpy(s + v * VL, &sc[v], sizeof(V));
    }
    for (int i = 0; i < lanes; ++i) {
      const int e = std::max(std::ilogb(q0[i]), std::ilogb(q1[i])) + 1;  // |λ| < 2^e (ilogb(0) is very negative)
      if (static_cast<double>(e) + kScaleStep * s[i] + b.growth[l + 2] >= -400.0) return true;
    }
    return false;
  };
  int64_t l = m;
  // Phase 1: some lanes still scaled. Visit with those lanes zeroed, rescale every 8 degrees (growth between
  // checks stays far below 2^600: a_l ≤ sqrt(2l)), and stop early when no lane can become unscaled.
  for (int state = rescale(), steps = 1; state != 2 && l <= b.lmax; ++steps) {
    if (state == 1) {
      V q[NV];
      for (int v = 0; v < NV; ++v) q[v] = p0[v] * live[v];
      visit(l, 0, q);
      if (l + 1 <= b.lmax) {
        for (int v = 0; v < NV; ++v) q[v] = p1[v] * live[v];
        visit(l + 1, 1, q);
      }
    }
    advance(l);
    l += 2;
    if (steps % 4 == 0) {
      state = rescale();
      if (state == 0 && steps % 16 == 0 && !can_wake(l)) return;
    }
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
  constexpr int VL = sizeof(V) / sizeof(double);
  const int64_t m = b.m, even_rows = (b.lmax - m) / 2 + 1;
  const double* even = b.table;
  const double* odd = b.table + even_rows * kLanes;
  V lam[NV];
  int64_t l = m;
  for (; l + 1 <= b.lmax; l += 2, even += kLanes, odd += kLanes) {  // constant parities: registers stay put
    for (int v = 0; v < NV; ++v) std::memcpy(&lam[v], even + v * VL, sizeof(V));
    visit(l, 0, lam);
    for (int v = 0; v < NV; ++v) std::memcpy(&lam[v], odd + v * VL, sizeof(V));
    visit(l + 1, 1, lam);
  }
  if (l == b.lmax) {
    for (int v = 0; v < NV; ++v) std::memcpy(&lam[v], even + v * VL, sizeof(V));
    visit(l, 0, lam);
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

// Tables: per m, per group of kLanes pairs, rows l = m, m+2, ..., then m+1, m+3, ... of kLanes values (a block
// reads one contiguous stretch). Where pair `first` of order m starts:
int64_t table_position(const Problem& pr, int64_t m, int64_t first) {
  return pr.offsets[m] + (first / kLanes) * (pr.lmax + 1 - m) * kLanes + first % kLanes;
}

Block make_block(const Problem& pr, int64_t m, int64_t first, int64_t lanes, const Recurrence& rec) {
  return Block{m,
               pr.lmax,
               first,
               std::min<int64_t>(lanes, pr.pairs - first),
               pr.cos_theta,
               pr.sin_theta,
               pr.log2_sin_theta,
               pr.log2_norm[m],
               rec.a.data(),
               rec.ab.data(),
               rec.growth.data(),
               pr.table ? pr.table + table_position(pr, m, first) : nullptr};
}

// Columns are processed in groups of NC (a compile-time count, so that the accumulators of a group stay in
// registers), over blocks of NV SIMD vectors of ring pairs: 2·NC·NV accumulators plus the recurrence's 3·NV
// vectors must fit the register file (32 vector registers with AVX-512, 16 otherwise).
template <class V>
constexpr int kMaxGroup = sizeof(V) == 64 ? 8 : 4;
template <class V, int NC>
constexpr int kVectors = NC <= (sizeof(V) == 64 ? 4 : 2) ? 2 : 1;
// The analysis adds each degree's products into memory (one load and store per column and degree): pairs of
// columns over more vectors amortise those best (measured at nside 512 against groups of 4 and 8).
template <class V>
constexpr int kMaxAnalysisGroup = 2;
template <class V>
constexpr int kAnalysisVectors = sizeof(V) == 64 ? 4 : 2;

// Calls group<NC>(c0) over the columns [0, ncols) (ncols even) in groups of at most Max.
template <int Max, class Group>
SPHAERA_ALWAYS_INLINE void column_groups(int64_t ncols, Group&& group) {
  int64_t c0 = 0;
  for (; c0 + Max <= ncols; c0 += Max) group(std::integral_constant<int, Max>{}, c0);
  const int64_t rest = ncols - c0;
  if constexpr (Max > 6) {
    if (rest == 6) return group(std::integral_constant<int, 6>{}, c0);
  }
  if constexpr (Max > 4) {
    if (rest == 4) return group(std::integral_constant<int, 4>{}, c0);
  }
  if (rest == 2) group(std::integral_constant<int, 2>{}, c0);
}

// ---- Batched kernels: many columns (several maps) per order ----
//
// With ncols ≥ kBatchedColumns, λ of a block of kLanes ring pairs is laid out once per order as the precomputed
// tables are (rows by parity, kLanes values each): read from those tables, or written by the recurrence into a
// scratch block (run once for all columns, not once per column group). The products are then small matrix
// products vectorised over the columns: kRowTile rows (analysis: degrees; synthesis: pairs) by up to
// kColumnVectors vectors of columns, held in registers while the inner dimension runs (pairs; degrees).
constexpr int64_t kBatchedColumns = 8;
constexpr int kRowTile = 4;
template <class V>
constexpr int kColumnVectors = sizeof(V) == 64 ? 4 : 2;

int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

// One order's λ block of kLanes pairs from `first`, rows by parity: even rows (l = m, m+2, ...) then odd ones,
// each padded to a multiple of kRowTile, kLanes doubles per row. Rows below `first_row` (the same for both
// parities) are not used: their λ stay below 2^-400 over the whole block.
struct LambdaBlock {
  const double* rows = nullptr;
  int64_t even_rows = 0, odd_rows = 0, padded_even = 0, padded_odd = 0, first_row = 0;
  const double* parity(int par) const { return rows + (par == 0 ? 0 : padded_even) * kLanes; }
};

// Fills `scratch` (at least (padded even + padded odd rows)·kLanes doubles) with λ of the pairs [first, first +
// count) by the recurrence, kAnalysisVectors at a time; lanes past count are 0. Returns false when every λ of
// the block stays negligible up to lmax (nothing to do).
template <class V>
SPHAERA_ALWAYS_INLINE bool recurrence_into(const Problem& pr, int64_t m, int64_t first, const Recurrence& rec,
                                           double* scratch, LambdaBlock& out) {
  constexpr int NV = kAnalysisVectors<V>, VL = sizeof(V) / sizeof(double), lanes = NV * VL;
  static_assert(kLanes % lanes == 0);
  const int64_t E = out.padded_even;
  int64_t lowest[kLanes / lanes];
  for (int s = 0; s < kLanes / lanes; ++s) {
    lowest[s] = pr.lmax + 1;
    if (first + s * lanes >= pr.pairs) continue;
    const Block b = make_block(pr, m, first + s * lanes, lanes, rec);
    double* base = scratch + s * lanes;
    recurrence_block<V, NV>(b, [&](int64_t l, int par, const V* lam) SPHAERA_INLINE_LAMBDA {
      if (l < lowest[s]) lowest[s] = l;
      double* row = base + (par == 0 ? (l - m) / 2 : E + (l - m - 1) / 2) * kLanes;
      for (int v = 0; v < NV; ++v) std::memcpy(row + v * VL, &lam[v], sizeof(V));
    });
  }
  // Visited degrees run from the lowest (of parity 0: visits come in pairs l, l + 1 from l = m + 2k) to lmax.
  int64_t lo = pr.lmax + 1;
  for (int s = 0; s < kLanes / lanes; ++s) lo = std::min(lo, lowest[s]);
  if (lo > pr.lmax) return false;
  out.first_row = (lo - m) / 2 / kRowTile * kRowTile;
  // Rows from first_row that a sub-block did not visit (all of them for lanes past the pairs) read 0. (Rows past
  // the last degree, the padding, hold finite values of earlier orders: they meet zero coefficients.)
  for (int s = 0; s < kLanes / lanes; ++s) {
    const int64_t upto = lowest[s] > pr.lmax ? std::max(out.padded_even, out.padded_odd) : (lowest[s] - m) / 2;
    for (int par = 0; par < 2; ++par) {
      const int64_t rows = par == 0 ? out.padded_even : out.padded_odd;
      for (int64_t r = out.first_row; r < std::min(upto, rows); ++r)
        std::memset(scratch + ((par == 0 ? 0 : E) + r) * kLanes + s * lanes, 0, sizeof(double) * lanes);
    }
  }
  out.rows = scratch;
  return true;
}

// The λ block of order m at pair `first`, from the tables or the recurrence; false when negligible throughout.
template <class V>
SPHAERA_ALWAYS_INLINE bool lambda_block(const Problem& pr, int64_t m, int64_t first, const Recurrence& rec,
                                        double* scratch, LambdaBlock& out) {
  out.even_rows = (pr.lmax - m) / 2 + 1;
  out.odd_rows = (pr.lmax - m + 1) / 2;
  if (pr.table != nullptr) {  // the tables' rows are not padded: tiles past the last row are cut (row_tiles)
    out.padded_even = out.even_rows;
    out.padded_odd = out.odd_rows;
    out.first_row = 0;
    out.rows = pr.table + table_position(pr, m, first);
    return true;
  }
  out.padded_even = round_up(out.even_rows, kRowTile);
  out.padded_odd = round_up(out.odd_rows, kRowTile);
  return recurrence_into<V>(pr, m, first, rec, scratch, out);
}

// Calls tile(integral_constant<NR>, r0) over rows [begin, end) in tiles of kRowTile (the last may be shorter).
template <class Tile>
SPHAERA_ALWAYS_INLINE void row_tiles(int64_t begin, int64_t end, Tile&& tile) {
  int64_t r = begin;
  for (; r + kRowTile <= end; r += kRowTile) tile(std::integral_constant<int, kRowTile>{}, r);
  switch (end - r) {
    case 3: return tile(std::integral_constant<int, 3>{}, r);
    case 2: return tile(std::integral_constant<int, 2>{}, r);
    case 1: return tile(std::integral_constant<int, 1>{}, r);
    default: return;
  }
}

// Calls tile(integral_constant<NCV>, c0) over the padded columns [0, cp) in tiles of at most Max vectors.
template <class V, class Tile>
SPHAERA_ALWAYS_INLINE void column_tiles(int64_t cp, Tile&& tile) {
  constexpr int VL = sizeof(V) / sizeof(double), Max = kColumnVectors<V>;
  int64_t c = 0;
  for (; c + Max * VL <= cp; c += Max * VL) tile(std::integral_constant<int, Max>{}, c);
  const int64_t rest = (cp - c) / VL;
  if constexpr (Max > 3) {
    if (rest == 3) return tile(std::integral_constant<int, 3>{}, c);
  }
  if constexpr (Max > 2) {
    if (rest == 2) return tile(std::integral_constant<int, 2>{}, c);
  }
  if (rest == 1) tile(std::integral_constant<int, 1>{}, c);
}

// The layout of order m's coefficients in the batched kernels: one row per degree, the degrees of even l − m in
// rows [0, even), the odd ones in [even, even + odd) (each count rounded up to whole row tiles), every row cp
// doubles (the columns rounded up to whole vectors of `lanes`).
struct ParityRows {
  ParityRows(const Problem& pr, int64_t m, int lanes)
      : m(m),
        cp(round_up(pr.ncols, lanes)),
        even(round_up((pr.lmax - m) / 2 + 1, kRowTile)),
        odd(round_up((pr.lmax - m + 1) / 2, kRowTile)) {}
  // Where degree l's row starts.
  int64_t offset(int64_t l) const { return ((l - m) % 2 == 0 ? (l - m) / 2 : even + (l - m - 1) / 2) * cp; }
  int64_t m, cp, even, odd;
};

// alm[m] = Λ_mᵀ ring[m], batched: sums[row][cp] per parity row, accumulated over the blocks of pairs.
template <class V>
SPHAERA_ALWAYS_INLINE void analysis_batched_m(const Problem& pr, int64_t m, const Recurrence& rec,
                                              const double* ring, double* alm_m) {
  constexpr int VL = sizeof(V) / sizeof(double);
  const ParityRows rows_m(pr, m, VL);
  const int64_t C = pr.ncols, cp = rows_m.cp, E = rows_m.even, O = rows_m.odd;
  // (Doubles, not a vector of V: std::vector's members are not compiled for this function's instruction set.)
  static thread_local std::vector<double> scratch, inputs, sums;
  scratch.resize((E + O) * kLanes);
  inputs.assign(2 * kLanes * cp, 0.0);
  sums.assign((E + O) * cp, 0.0);
  const double* ring_m = ring + m * pr.rings * pr.ncols;
  for (int64_t first = 0; first < pr.pairs; first += kLanes) {
    LambdaBlock lam;
    if (!lambda_block<V>(pr, m, first, rec, scratch.data(), lam)) continue;
    const int64_t count = std::min<int64_t>(kLanes, pr.pairs - first);
    for (int64_t i = 0; i < count; ++i) {  // inputs [parity][pair][cp]: north ± south
      const int64_t p = first + i;
      const double* north = ring_m + pr.north[p] * pr.ncols;
      const double* south = pr.south[p] >= 0 ? ring_m + pr.south[p] * pr.ncols : nullptr;
      double* even = inputs.data() + i * cp;
      double* odd = inputs.data() + (kLanes + i) * cp;
      for (int64_t c = 0; c < C; ++c) {
        const double s = south ? south[c] : 0.0;
        even[c] = north[c] + s;
        odd[c] = north[c] - s;
      }
    }
    for (int par = 0; par < 2; ++par) {
      const double* T = lam.parity(par);
      const double* X = inputs.data() + par * kLanes * cp;
      double* S = sums.data() + (par == 0 ? 0 : E) * cp;
      const int64_t rows = par == 0 ? lam.padded_even : lam.padded_odd;
      row_tiles(lam.first_row, rows, [&](auto nr, int64_t r0) SPHAERA_INLINE_LAMBDA {
        constexpr int NR = decltype(nr)::value;
        column_tiles<V>(cp, [&](auto ncv, int64_t c0) SPHAERA_INLINE_LAMBDA {
          constexpr int NCV = decltype(ncv)::value;
          V acc[NR][NCV];
          for (int i = 0; i < NR; ++i)
            for (int j = 0; j < NCV; ++j) std::memcpy(&acc[i][j], S + (r0 + i) * cp + c0 + j * VL, sizeof(V));
          for (int64_t p = 0; p < count; ++p) {
            V x[NCV];
            for (int j = 0; j < NCV; ++j) std::memcpy(&x[j], X + p * cp + c0 + j * VL, sizeof(V));
            for (int i = 0; i < NR; ++i) {
              const double t = T[(r0 + i) * kLanes + p];
              for (int j = 0; j < NCV; ++j) acc[i][j] += t * x[j];
            }
          }
          for (int i = 0; i < NR; ++i)
            for (int j = 0; j < NCV; ++j) std::memcpy(S + (r0 + i) * cp + c0 + j * VL, &acc[i][j], sizeof(V));
        });
      });
    }
  }
  for (int64_t l = m; l <= pr.lmax; ++l) {
    const double* row = sums.data() + rows_m.offset(l);
    for (int64_t c = 0; c < C; ++c) alm_m[l * pr.alm.l + (c >> 1) * pr.alm.map + (c & 1)] = row[c];
  }
}

// ring[m] = Λ_m alm[m], batched: per block, even and odd sums [pair][cp] by parity, then north = even + odd,
// south = even − odd.
template <class V>
SPHAERA_ALWAYS_INLINE void synthesis_batched_m(const Problem& pr, int64_t m, const Recurrence& rec,
                                               const double* alm, double* ring) {
  constexpr int VL = sizeof(V) / sizeof(double);
  const ParityRows rows_m(pr, m, VL);
  const int64_t C = pr.ncols, cp = rows_m.cp, E = rows_m.even, O = rows_m.odd;
  static thread_local std::vector<double> scratch, coefficients, out;
  scratch.resize((E + O) * kLanes);
  out.resize(2 * kLanes * cp);
  // The coefficients of order m by parity rows [row][cp], padding rows and columns 0.
  coefficients.assign((E + O) * cp, 0.0);
  const double* alm_m = alm + m * pr.alm.m;
  for (int64_t l = m; l <= pr.lmax; ++l) {
    double* row = coefficients.data() + rows_m.offset(l);
    for (int64_t c = 0; c < C; ++c) row[c] = alm_m[l * pr.alm.l + (c >> 1) * pr.alm.map + (c & 1)];
  }
  double* ring_m = ring + m * pr.rings * pr.ncols;
  for (int64_t first = 0; first < pr.pairs; first += kLanes) {
    const int64_t count = std::min<int64_t>(kLanes, pr.pairs - first);
    LambdaBlock lam;
    if (!lambda_block<V>(pr, m, first, rec, scratch.data(), lam)) {
      for (int64_t i = 0; i < count; ++i) {
        const int64_t p = first + i;
        std::memset(ring_m + pr.north[p] * pr.ncols, 0, sizeof(double) * C);
        if (pr.south[p] >= 0) std::memset(ring_m + pr.south[p] * pr.ncols, 0, sizeof(double) * C);
      }
      continue;
    }
    for (int par = 0; par < 2; ++par) {
      const double* T = lam.parity(par);
      const double* A = coefficients.data() + (par == 0 ? 0 : E) * cp;
      double* Y = out.data() + par * kLanes * cp;
      const int64_t rows = par == 0 ? lam.padded_even : lam.padded_odd;
      row_tiles(0, count, [&](auto np, int64_t p0) SPHAERA_INLINE_LAMBDA {
        constexpr int NP = decltype(np)::value;
        column_tiles<V>(cp, [&](auto ncv, int64_t c0) SPHAERA_INLINE_LAMBDA {
          constexpr int NCV = decltype(ncv)::value;
          V acc[NP][NCV];
          for (int i = 0; i < NP; ++i)
            for (int j = 0; j < NCV; ++j) acc[i][j] = V{} * 0.0;
          for (int64_t r = lam.first_row; r < rows; ++r) {
            V a[NCV];
            for (int j = 0; j < NCV; ++j) std::memcpy(&a[j], A + r * cp + c0 + j * VL, sizeof(V));
            for (int i = 0; i < NP; ++i) {
              const double t = T[r * kLanes + p0 + i];
              for (int j = 0; j < NCV; ++j) acc[i][j] += t * a[j];
            }
          }
          for (int i = 0; i < NP; ++i)
            for (int j = 0; j < NCV; ++j) std::memcpy(Y + (p0 + i) * cp + c0 + j * VL, &acc[i][j], sizeof(V));
        });
      });
    }
    for (int64_t i = 0; i < count; ++i) {
      const int64_t p = first + i;
      const double* even = out.data() + i * cp;
      const double* odd = out.data() + (kLanes + i) * cp;
      double* north = ring_m + pr.north[p] * pr.ncols;
      double* south = pr.south[p] >= 0 ? ring_m + pr.south[p] * pr.ncols : nullptr;
      for (int64_t c = 0; c < C; ++c) north[c] = even[c] + odd[c];
      if (south)
        for (int64_t c = 0; c < C; ++c) south[c] = even[c] - odd[c];
    }
  }
}

// ring[m][pairs begin..end][c0, c0 + NC) = Λ_m alm[m][·][c0, c0 + NC), the coefficients packed [l][ncols].
template <class V, int NC>
SPHAERA_ALWAYS_INLINE void synthesis_group(const Problem& pr, int64_t m, const Recurrence& rec,
                                           const double* coefficients, double* ring, int64_t c0, int64_t begin,
                                           int64_t end) {
  constexpr int NV = kVectors<V, NC>, VL = sizeof(V) / sizeof(double), lanes = NV * VL;
  double* ring_m = ring + m * pr.rings * pr.ncols;
  for (int64_t first = begin; first < end; first += lanes) {
    Block b = make_block(pr, m, first, lanes, rec);
    b.count = std::min<int64_t>(b.count, end - first);
    V acc[2][NC][NV];
    for (int par = 0; par < 2; ++par)
      for (int c = 0; c < NC; ++c)
        for (int v = 0; v < NV; ++v) acc[par][c][v] = V{} * 0.0;
    degrees_block<V, NV>(b, [&](int64_t l, int par, const V* lam) SPHAERA_INLINE_LAMBDA {
      const double* row = coefficients + l * pr.ncols + c0;
      for (int c = 0; c < NC; ++c) {
        const double coef = row[c];
        for (int v = 0; v < NV; ++v) acc[par][c][v] += lam[v] * coef;
      }
    });
    alignas(64) double out[2][NC][lanes];
    for (int par = 0; par < 2; ++par)
      for (int c = 0; c < NC; ++c)
        for (int v = 0; v < NV; ++v) std::memcpy(&out[par][c][v * VL], &acc[par][c][v], sizeof(V));
    for (int64_t i = 0; i < b.count; ++i) {
      const int64_t p = first + i;
      double* north = ring_m + pr.north[p] * pr.ncols + c0;
      double* south = pr.south[p] >= 0 ? ring_m + pr.south[p] * pr.ncols + c0 : nullptr;
      for (int c = 0; c < NC; ++c) {
        const double even = out[0][c][i], odd = out[1][c][i];
        north[c] = even + odd;
        if (south) south[c] = even - odd;
      }
    }
  }
}

// ring[m] = Λ_m alm[m] for one m.
template <class V>
SPHAERA_ALWAYS_INLINE void synthesis_m(const Problem& pr, int64_t m, const Recurrence& rec, const double* alm,
                                       double* ring) {
  // The coefficients of order m, packed [l][ncols]: every block reads them all, and in the caller's layout
  // consecutive degrees are far apart (a page each for large band limits).
  // (Doubles, not a vector of V: std::vector's members are not compiled for this function's instruction set.)
  if (pr.ncols >= kBatchedColumns) return synthesis_batched_m<V>(pr, m, rec, alm, ring);
  static thread_local std::vector<double> packed;
  packed.resize((pr.lmax + 1) * pr.ncols);
  double* coefficients = packed.data();
  const double* alm_m = alm + m * pr.alm.m;
  for (int64_t l = m; l <= pr.lmax; ++l)
    for (int64_t c = 0; c < pr.ncols; ++c)
      coefficients[l * pr.ncols + c] = alm_m[l * pr.alm.l + (c >> 1) * pr.alm.map + (c & 1)];
  auto pass = [&](int64_t begin, int64_t end) SPHAERA_INLINE_LAMBDA {
    column_groups<kMaxGroup<V>>(pr.ncols, [&](auto nc, int64_t c0) SPHAERA_INLINE_LAMBDA {
      synthesis_group<V, decltype(nc)::value>(pr, m, rec, coefficients, ring, c0, begin, end);
    });
  };
  if (pr.table == nullptr) return pass(0, pr.pairs);
  // Tables: every column group reads the same rows of λ; kLanes pairs at a time they stay in cache.
  for (int64_t first = 0; first < pr.pairs; first += kLanes) pass(first, std::min(pr.pairs, first + kLanes));
}

// Sums over the pairs [begin, end) of λ_lm(θ_p) (north ± south)[c0, c0 + NC) into sums, for every l. Vector
// sums: sums[l][c][VL] (lanes summed at the end); else scalar sums[l][ncols] (lanes summed at once).
template <class V, int NC, bool VectorSums>
SPHAERA_ALWAYS_INLINE void analysis_group(const Problem& pr, int64_t m, const Recurrence& rec, const double* ring,
                                          int64_t c0, int64_t begin, int64_t end, double* sums) {
  constexpr int NV = kAnalysisVectors<V>, VL = sizeof(V) / sizeof(double), lanes = NV * VL;
  const double* ring_m = ring + m * pr.rings * pr.ncols;
  for (int64_t first = begin; first < end; first += lanes) {
    Block b = make_block(pr, m, first, lanes, rec);
    b.count = std::min<int64_t>(b.count, end - first);
    alignas(64) double ins[2][NC][lanes] = {};
    for (int64_t i = 0; i < b.count; ++i) {
      const int64_t p = first + i;
      const double* north = ring_m + pr.north[p] * pr.ncols + c0;
      const double* south = pr.south[p] >= 0 ? ring_m + pr.south[p] * pr.ncols + c0 : nullptr;
      for (int c = 0; c < NC; ++c) {
        const double s = south ? south[c] : 0.0;
        ins[0][c][i] = north[c] + s;
        ins[1][c][i] = north[c] - s;
      }
    }
    V in[2][NC][NV];
    for (int par = 0; par < 2; ++par)
      for (int c = 0; c < NC; ++c)
        for (int v = 0; v < NV; ++v) std::memcpy(&in[par][c][v], &ins[par][c][v * VL], sizeof(V));
    degrees_block<V, NV>(b, [&](int64_t l, int par, const V* lam) SPHAERA_INLINE_LAMBDA {
      if constexpr (VectorSums) {
        double* acc = sums + l * NC * VL;
        for (int c = 0; c < NC; ++c) {
          V t;
          std::memcpy(&t, acc + c * VL, sizeof(V));
          for (int v = 0; v < NV; ++v) t += lam[v] * in[par][c][v];
          std::memcpy(acc + c * VL, &t, sizeof(V));
        }
      } else {
        double* acc = sums + l * pr.ncols + c0;
        for (int c = 0; c < NC; ++c) {
          V t = lam[0] * in[par][c][0];
          for (int v = 1; v < NV; ++v) t += lam[v] * in[par][c][v];
          alignas(64) double h[VL];
          std::memcpy(h, &t, sizeof(V));
          for (int w = VL / 2; w >= 1; w /= 2)
            for (int i = 0; i < w; ++i) h[i] += h[i + w];
          acc[c] += h[0];
        }
      }
    });
  }
}

// alm[m] = Λ_mᵀ ring[m] for one m.
template <class V>
SPHAERA_ALWAYS_INLINE void analysis_m(const Problem& pr, int64_t m, const Recurrence& rec, const double* ring,
                                      double* alm) {
  constexpr int VL = sizeof(V) / sizeof(double);
  // (Doubles, not a vector of V: std::vector's members are not compiled for this function's instruction set.)
  static thread_local std::vector<double> buffer;
  double* alm_m = alm + m * pr.alm.m;
  auto column = [&](int64_t c) { return (c >> 1) * pr.alm.map + (c & 1); };
  for (int64_t l = 0; l < m; ++l)  // rows l < m are zero
    for (int64_t c = 0; c < pr.ncols; ++c) alm_m[l * pr.alm.l + column(c)] = 0.0;
  if (pr.ncols >= kBatchedColumns) return analysis_batched_m<V>(pr, m, rec, ring, alm_m);
  if (pr.table == nullptr) {
    // Per degree and column, a vector of partial sums over all blocks: one horizontal sum per (l, column) at
    // the end instead of one per block.
    constexpr int NC = kMaxAnalysisGroup<V>;
    buffer.resize((pr.lmax + 1) * NC * VL);
    double* sums = buffer.data();
    column_groups<NC>(pr.ncols, [&](auto nc, int64_t c0) SPHAERA_INLINE_LAMBDA {
      constexpr int n = decltype(nc)::value;
      std::fill(sums + m * n * VL, sums + (pr.lmax + 1) * n * VL, 0.0);
      analysis_group<V, n, true>(pr, m, rec, ring, c0, 0, pr.pairs, sums);
      for (int64_t l = m; l <= pr.lmax; ++l) {
        const double* acc = sums + l * n * VL;
        for (int c = 0; c < n; ++c) {
          double sum = 0.0;
          for (int i = 0; i < VL; ++i) sum += acc[c * VL + i];
          alm_m[l * pr.alm.l + column(c0 + c)] = sum;
        }
      }
    });
    return;
  }
  // Tables: kLanes pairs at a time, every column group reads the same rows of λ while they are in cache; the
  // lanes are summed at once, into scalar sums [l][ncols] small enough to stay in cache as well.
  buffer.assign((pr.lmax + 1) * pr.ncols, 0.0);
  double* sums = buffer.data();
  for (int64_t first = 0; first < pr.pairs; first += kLanes) {
    column_groups<kMaxAnalysisGroup<V>>(pr.ncols, [&](auto nc, int64_t c0) SPHAERA_INLINE_LAMBDA {
      analysis_group<V, decltype(nc)::value, false>(pr, m, rec, ring, c0, first,
                                                     std::min(pr.pairs, first + kLanes), sums);
    });
  }
  for (int64_t l = m; l <= pr.lmax; ++l)
    for (int64_t c = 0; c < pr.ncols; ++c) alm_m[l * pr.alm.l + column(c)] = sums[l * pr.ncols + c];
}

// Tables of one m (layout: table_position).
template <class V>
SPHAERA_ALWAYS_INLINE void tables_m(const Problem& pr, int64_t m, const Recurrence& rec, const double* /*unused*/, double* table) {
  constexpr int NV = 2, VL = sizeof(V) / sizeof(double), lanes = NV * VL;
  const int64_t even_rows = (pr.lmax - m) / 2 + 1;
  for (int64_t first = 0; first < pr.pairs; first += lanes) {
    const Block b = make_block(pr, m, first, lanes, rec);
    recurrence_block<V, NV>(b, [&](int64_t l, int par, const V* lam) SPHAERA_INLINE_LAMBDA {
      const int64_t row = par == 0 ? (l - m) / 2 : even_rows + (l - m - 1) / 2;
      alignas(64) double vals[lanes];
      for (int v = 0; v < NV; ++v) std::memcpy(vals + v * VL, &lam[v], sizeof(V));
      std::memcpy(table + table_position(pr, m, first) + row * kLanes, vals, sizeof(double) * b.count);
    });
  }
}

using V2 = double __attribute__((vector_size(16)));
using V4 = double __attribute__((vector_size(32)));
using V8 = double __attribute__((vector_size(64)));
using OrderKernel = void (*)(const Problem&, int64_t, const Recurrence&, const double*,
                             double*);

// One function per kernel and instruction set. The target attribute must sit on the function that holds the
// vector code: OpenMP regions are outlined into functions of their own, which do not inherit it, so the
// threads loop over m outside (run_orders) and call these.
#define SPHAERA_KERNEL_FOR_ISAS(kernel)                                                                        \
  __attribute__((target("avx512f"))) void kernel##_avx512(const Problem& pr, int64_t m, const Recurrence& rec, const double* in,            \
                                                          double* out) {                                       \
    kernel<V8>(pr, m, rec, in, out);                                                              \
  }                                                                                                            \
  __attribute__((target("avx2,fma"))) void kernel##_avx2(const Problem& pr, int64_t m, const Recurrence& rec, const double* in,             \
                                                         double* out) {                                        \
    kernel<V4>(pr, m, rec, in, out);                                                              \
  }                                                                                                            \
  void kernel##_generic(const Problem& pr, int64_t m, const Recurrence& rec,           \
                        const double* in, double* out) {                                                       \
    kernel<V2>(pr, m, rec, in, out);                                                              \
  }

SPHAERA_KERNEL_FOR_ISAS(synthesis_m)
SPHAERA_KERNEL_FOR_ISAS(analysis_m)
SPHAERA_KERNEL_FOR_ISAS(tables_m)

OrderKernel pick(OrderKernel avx512, OrderKernel avx2, OrderKernel generic) {
  switch (core::simd_level()) {
    case core::SimdLevel::kAvx512: return avx512;
    case core::SimdLevel::kAvx2: return avx2;
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
    Recurrence rec;
#pragma omp for schedule(dynamic, 1)
    for (int64_t m = 0; m <= pr.mmax; ++m) {
      recurrence_coefficients(m, pr.lmax, rec);
      kernel(pr, m, rec, in, out);
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
  log2_norm_ = log2_seeds(mmax_);
  if (precompute) build_tables();
}

std::vector<double> LegendrePlan::log2_seeds(int64_t mmax) {
  // log2 λ_mm / sin^m = log2 sqrt((2m+1)/4π · Π_{k≤m} (2k−1)/2k), accumulated in long double.
  std::vector<double> out(mmax + 1);
  long double log_product = 0.0L;
  for (int64_t m = 0; m <= mmax; ++m) {
    if (m > 0) log_product += std::log2l((2.0L * m - 1.0L) / (2.0L * m));
    out[m] = static_cast<double>(
        0.5L * (std::log2l((2.0L * m + 1.0L) / (4.0L * static_cast<long double>(M_PI))) + log_product));
  }
  return out;
}

void LegendrePlan::recurrence(int64_t m, int64_t lmax, std::vector<double>& a, std::vector<double>& ab) {
  Recurrence r;
  recurrence_coefficients(m, lmax, r);
  a.assign(r.a.begin(), r.a.begin() + lmax + 1);
  ab.assign(r.ab.begin(), r.ab.begin() + lmax + 1);
}

namespace {
int64_t padded_pairs(int64_t pairs) { return (pairs + kLanes - 1) / kLanes * kLanes; }
}  // namespace

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
  return rows * padded_pairs(pairs) * static_cast<int64_t>(sizeof(double));
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
    offset += (lmax_ + 1 - m) * padded_pairs(npairs);
  }
  table_.assign(offset, 0.0);  // lanes past the last pair stay 0
  Problem pr = make_problem(lmax_, mmax_, rings(), 0, pairs_.cos_theta, pairs_.sin_theta, pairs_.log2_sin_theta,
                            pairs_.north, pairs_.south, log2_norm_);
  pr.offsets = table_offset_.data();
  run_orders(pr, pick(tables_m_avx512, tables_m_avx2, tables_m_generic), nullptr, table_.data());
}

AlmStrides LegendrePlan::packed(int64_t lmax, int64_t ncols) { return AlmStrides{ncols, (lmax + 1) * ncols, 2}; }

namespace {
// Copies coefficients between a caller's layout and the packed one [mmax+1][lmax+1][ncols], in tiles (the
// caller's layout usually puts consecutive degrees of one order far apart: a page each at large lmax).
void copy_alm(const double* from, const AlmStrides& from_strides, double* to, const AlmStrides& to_strides,
              int64_t lmax, int64_t mmax, int64_t ncols) {
  constexpr int64_t kTile = 32;
  const int64_t mtiles = (mmax + kTile) / kTile;
#pragma omp parallel for schedule(dynamic, 1) if ((lmax + 1) * (mmax + 1) * ncols > 100000)
  for (int64_t t = 0; t < mtiles; ++t) {
    const int64_t m0 = t * kTile, m1 = std::min(mmax + 1, m0 + kTile);
    for (int64_t l0 = 0; l0 <= lmax; l0 += kTile) {
      const int64_t l1 = std::min(lmax + 1, l0 + kTile);
      for (int64_t c = 0; c < ncols; ++c) {
        const int64_t fc = (c >> 1) * from_strides.map + (c & 1), tc = (c >> 1) * to_strides.map + (c & 1);
        for (int64_t l = l0; l < l1; ++l)
          for (int64_t m = m0; m < m1; ++m)
            to[m * to_strides.m + l * to_strides.l + tc] = from[m * from_strides.m + l * from_strides.l + fc];
      }
    }
  }
}

bool is_packed(const AlmStrides& s, int64_t lmax, int64_t ncols) {
  const AlmStrides p = LegendrePlan::packed(lmax, ncols);
  return ncols <= 2 ? (s.l == p.l && s.m == p.m) : (s.l == p.l && s.m == p.m && s.map == p.map);
}
}  // namespace

void LegendrePlan::synthesis(const double* alm, const AlmStrides& strides, double* ring, int64_t ncols) const {
  SPHAERA_CHECK(ncols >= 2 && ncols % 2 == 0, "LegendrePlan::synthesis: ncols must be even and ≥ 2 (real and "
                "imaginary parts of each map), got ", ncols);
  if (!is_packed(strides, lmax_, ncols)) {
    core::Buffer<double> packed_alm((mmax_ + 1) * (lmax_ + 1) * ncols);  // every entry is written
    copy_alm(alm, strides, packed_alm.data(), packed(lmax_, ncols), lmax_, mmax_, ncols);
    return synthesis(packed_alm.data(), packed(lmax_, ncols), ring, ncols);
  }
  Problem pr = make_problem(lmax_, mmax_, rings(), ncols, pairs_.cos_theta, pairs_.sin_theta, pairs_.log2_sin_theta,
                            pairs_.north, pairs_.south, log2_norm_);
  pr.alm = strides;
  if (precomputed()) pr.offsets = table_offset_.data(), pr.table = table_.data();
  run_orders(pr, pick(synthesis_m_avx512, synthesis_m_avx2, synthesis_m_generic), alm, ring);
}

void LegendrePlan::analysis(const double* ring, double* alm, const AlmStrides& strides, int64_t ncols) const {
  SPHAERA_CHECK(ncols >= 2 && ncols % 2 == 0, "LegendrePlan::analysis: ncols must be even and ≥ 2 (real and "
                "imaginary parts of each map), got ", ncols);
  if (!is_packed(strides, lmax_, ncols)) {
    core::Buffer<double> packed_alm((mmax_ + 1) * (lmax_ + 1) * ncols);  // every entry is written
    analysis(ring, packed_alm.data(), packed(lmax_, ncols), ncols);
    return copy_alm(packed_alm.data(), packed(lmax_, ncols), alm, strides, lmax_, mmax_, ncols);
  }
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
      out[l * (lmax + 1) + m] = t[row * kLanes];
    }
  }
  return out;
}

}  // namespace sphaera::transforms
