#pragma once
/// What the k-NN searches behind knn_search.h share; internal to the transforms library (its symbols are
/// hidden, so calls within a file can be inlined and nothing here is part of the library's interface).
///
/// The searches, one file each: the bucket search of any point set (knn_buckets.h), the tiled search of a
/// full HEALPix sky (knn_tiles.h, AVX-512 only), the O(n²) reference (knn_brute_force.cpp); knn_search.cpp
/// runs them and builds the symmetric graph. Here: keys and their order, NEST bit tricks, the scan and member
/// kernels (portable and AVX-512, picked at run time through simd.h), the k-th key of a candidate list, the
/// checks and allocation of a result, and a row's matrix entries from its weights.
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "sphaera/transforms/knn_search.h"

#if defined(__x86_64__) && defined(__GNUC__)
/// The AVX-512 kernels and the tiled search are compiled (they run where simd_level() is kAvx512).
#define SPHAERA_KNN_AVX512 1
/// The target of the AVX-512 functions of the tiled search.
#define SPHAERA_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))
#endif

namespace sphaera::transforms {
// Hidden symbols: not part of the library's interface, and calls within a file can be inlined (no
// interposition).
#pragma GCC visibility push(hidden)
namespace knn {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- NEST bit tricks (x bits at even positions, y bits at odd ones, as HEALPix) ------------------------------

inline uint64_t spread_bits(uint64_t v) {
  v &= 0xffffffffull;
  v = (v | (v << 16)) & 0x0000ffff0000ffffull;
  v = (v | (v << 8)) & 0x00ff00ff00ff00ffull;
  v = (v | (v << 4)) & 0x0f0f0f0f0f0f0f0full;
  v = (v | (v << 2)) & 0x3333333333333333ull;
  v = (v | (v << 1)) & 0x5555555555555555ull;
  return v;
}

inline uint64_t compress_bits(uint64_t v) {
  v &= 0x5555555555555555ull;
  v = (v | (v >> 1)) & 0x3333333333333333ull;
  v = (v | (v >> 2)) & 0x0f0f0f0f0f0f0f0full;
  v = (v | (v >> 4)) & 0x00ff00ff00ff00ffull;
  v = (v | (v >> 8)) & 0x0000ffff0000ffffull;
  v = (v | (v >> 16)) & 0x00000000ffffffffull;
  return v;
}

// ---- keys: (d², index), ordered by d² then index ------------------------------------------------------------

struct Candidate {
  double d2;
  int32_t id;
};

struct KeyLess {
  bool operator()(const Candidate& a, const Candidate& b) const { return a.d2 < b.d2 || (a.d2 == b.d2 && a.id < b.id); }
};
constexpr KeyLess key_less{};

/// The k-th smallest key (d², id) among count ≥ k candidates, by a partial sort (any count, any ties).
void kth_key_scalar(const double* kd, const int32_t* kid, int64_t count, int k, std::vector<Candidate>& buf,
                    double& kth_d2, int32_t& kth_id);

// ---- the scan kernel: squared distances from the query to a run of candidates, keeping those below t ----------
//
// Appends (d², index) of the candidates [b, e) with d² < t and index ≠ self to (kd, kid) in candidate order and
// returns the new count (kd and kid need 8 slots of room beyond). d² is computed exactly as chord2() (no fused
// multiply-add), so that every path sees the same doubles.

using ScanFn = int64_t (*)(double px, double py, double pz, double t, int32_t self, const double* cx, const double* cy,
                           const double* cz, const int32_t* cid, int64_t b, int64_t e, double* kd, int32_t* kid,
                           int64_t count);

/// The scan kernel of simd_level(): AVX-512 or portable.
ScanFn pick_scan();

// ---- the member kernel: which candidates belong to a point's row of the symmetric graph -------------------------
//
// Appends (d², index) of the candidates [b, e) that are among the point's k nearest (d² and index against its
// k-th key own_d2, own_id) or have it among theirs (its d² and index against their k-th keys ckd, cki), and the
// point itself (d² = 0) when `diagonal`, in candidate order; returns the new count (8 slots of room beyond).

using MemberFn = int64_t (*)(double px, double py, double pz, int32_t self, double own_d2, int32_t own_id,
                             bool diagonal, const double* cx, const double* cy, const double* cz, const int32_t* cid,
                             const double* ckd, const int32_t* cki, int64_t b, int64_t e, double* md, int32_t* mid,
                             int64_t count);

/// The member kernel of simd_level(): AVX-512 or portable.
MemberFn pick_members();

#ifdef SPHAERA_KNN_AVX512
/// Squared chords from (px, py, pz) to 8 points (the lanes of `lanes`; 0 elsewhere), computed as chord2(): the
/// additions use explicit rounding (vaddpd {rn-sae}), which the compiler cannot fuse with the products, so every
/// path sees the same doubles.
__attribute__((target("avx512f,avx512vl"))) inline __m512d d2_eight(const __m512d px, const __m512d py,
                                                                    const __m512d pz, const double* x, const double* y,
                                                                    const double* z, __mmask8 lanes) {
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512d dx = _mm512_sub_pd(px, _mm512_maskz_loadu_pd(lanes, x));
  const __m512d dy = _mm512_sub_pd(py, _mm512_maskz_loadu_pd(lanes, y));
  const __m512d dz = _mm512_sub_pd(pz, _mm512_maskz_loadu_pd(lanes, z));
  const __m512d xy = _mm512_maskz_add_round_pd(0xff, _mm512_mul_pd(dx, dx), _mm512_mul_pd(dy, dy), kRound);
  return _mm512_maskz_add_round_pd(0xff, xy, _mm512_mul_pd(dz, dz), kRound);
}
#endif

// ---- results and rows -------------------------------------------------------------------------------------------

/// Refuses point sets the searches cannot index (n ≥ 2³¹, no coordinates) and k < 1.
void check_points(const SpherePoints& p, int k);

/// A result for n points with min(k, n − 1) neighbours each: index from `storage` when given (else fresh,
/// uninitialised), k-th keys (0, −1).
NearestNeighbours allocate(int64_t n, int k, std::shared_ptr<int32_t[]> storage);

/// The row's entries from its weights w = exp(−c·d²) (diagonal slot included when there is one): W, D − W, or
/// for the normalized matrix W with the degree on the diagonal (rescaled afterwards). Returns the degree
/// (summed as DegreeSum).
double finish_row(int64_t i, const int32_t* col, double* val, int64_t m, GraphMatrix matrix);

}  // namespace knn
#pragma GCC visibility pop
}  // namespace sphaera::transforms
