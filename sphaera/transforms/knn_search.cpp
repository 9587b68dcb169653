#include "sphaera/transforms/knn_search.h"

#include <omp.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <healpix_base.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/fast_math.h"
#include "sphaera/transforms/phase_timer.h"
#include "sphaera/transforms/simd.h"

namespace sphaera::transforms {

namespace {

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

// ---- buckets: the points grouped by the HEALPix pixel (at a coarse level) that contains them -------------------

struct Buckets {
  int64_t nside = 1;            // bucket level
  std::vector<int64_t> start;   // [12 nside² + 1]: bucket b holds sorted positions [start[b], start[b+1])
  std::vector<int32_t> order;   // sorted position -> point index (empty: identity)
  std::vector<double> centres;  // [12 nside² · 3] unit vectors of the bucket centres
  double radius = 0;            // bound of the angle between a bucket's centre and any point of it
};

void compute_centres(Buckets& b) {
  const T_Healpix_Base<int64> base(b.nside, NEST, SET_NSIDE);
  const int64_t nb = 12 * b.nside * b.nside;
  b.centres.resize(3 * nb);
  double* c = b.centres.data();
#pragma omp parallel for schedule(static) if (nb > 20000)
  for (int64_t q = 0; q < nb; ++q) {
    const vec3 v = base.pix2vec(q);
    c[3 * q] = v.x;
    c[3 * q + 1] = v.y;
    c[3 * q + 2] = v.z;
  }
  // max_pixrad is the largest centre-to-corner angle. HEALPix pixel edges are not great circles, but sampling
  // them densely never exceeds it (nside 1 to 1024); 1% of margin on top.
  b.radius = base.max_pixrad() * 1.01 + 1e-12;
}

// Rings of buckets around one bucket: ring r = buckets at 8-neighbour (Chebyshev) distance r.
class RingWalker {
 public:
  explicit RingWalker(int64_t nside) : base_(nside, NEST, SET_NSIDE), nside_(nside) {}

  // Fills `list` with rings 0..rmax (ring r in [ring_start[r], ring_start[r+1])). A ring may be empty when the
  // sphere is exhausted.
  void rings(int64_t bucket, int rmax, std::vector<int64_t>& list, std::vector<int64_t>& ring_start) const {
    list.clear();
    ring_start.assign(1, 0);
    const int64_t npface = nside_ * nside_;
    const int64_t face = bucket / npface;
    const int64_t local = bucket % npface;
    const int64_t x = static_cast<int64_t>(compress_bits(static_cast<uint64_t>(local)));
    const int64_t y = static_cast<int64_t>(compress_bits(static_cast<uint64_t>(local) >> 1));
    if (x - rmax >= 0 && y - rmax >= 0 && x + rmax < nside_ && y + rmax < nside_) {
      // Inside one base face: square rings in (x, y).
      const int64_t off = face * npface;
      auto at = [&](int64_t ix, int64_t iy) {
        return off + static_cast<int64_t>(spread_bits(static_cast<uint64_t>(ix)) |
                                          (spread_bits(static_cast<uint64_t>(iy)) << 1));
      };
      list.push_back(bucket);
      ring_start.push_back(1);
      for (int r = 1; r <= rmax; ++r) {
        for (int64_t d = -r; d < r; ++d) {
          list.push_back(at(x + d, y - r));
          list.push_back(at(x + r, y + d));
          list.push_back(at(x - d, y + r));
          list.push_back(at(x - r, y - d));
        }
        ring_start.push_back(static_cast<int64_t>(list.size()));
      }
      return;
    }
    // Near face edges: breadth-first search through HEALPix neighbours.
    list.push_back(bucket);
    ring_start.push_back(1);
    fix_arr<int64, 8> nb;
    for (int r = 1; r <= rmax; ++r) {
      const int64_t begin = ring_start[r - 1];
      const int64_t end = ring_start[r];
      for (int64_t i = begin; i < end; ++i) {
        base_.neighbors(list[i], nb);
        for (int j = 0; j < 8; ++j) {
          const int64_t q = nb[j];
          if (q < 0) continue;
          // Only the last two rings can hold q already.
          const int64_t from = r >= 2 ? ring_start[r - 2] : 0;
          bool seen = false;
          for (int64_t t = from; t < static_cast<int64_t>(list.size()); ++t) {
            if (list[t] == q) {
              seen = true;
              break;
            }
          }
          if (!seen) list.push_back(q);
        }
      }
      ring_start.push_back(static_cast<int64_t>(list.size()));
    }
  }

 private:
  T_Healpix_Base<int64> base_;
  int64_t nside_;
};

struct Candidate {
  double d2;
  int32_t id;
};

struct KeyLess {
  bool operator()(const Candidate& a, const Candidate& b) const { return a.d2 < b.d2 || (a.d2 == b.d2 && a.id < b.id); }
};
constexpr KeyLess key_less{};

// ---- the scan kernel: squared distances from the query to a run of candidates, keeping those below t ----------
//
// Appends (d², index) of the candidates [b, e) with d² < t and index ≠ self to (kd, kid) in candidate order and
// returns the new count. d² is computed exactly as chord2() (no fused multiply-add), so that every path sees
// the same doubles.

using ScanFn = int64_t (*)(double px, double py, double pz, double t, int32_t self, const double* cx, const double* cy,
                           const double* cz, const int32_t* cid, int64_t b, int64_t e, double* kd, int32_t* kid,
                           int64_t count);

int64_t scan_generic(double px, double py, double pz, double t, int32_t self, const double* cx, const double* cy,
                     const double* cz, const int32_t* cid, int64_t b, int64_t e, double* kd, int32_t* kid,
                     int64_t count) {
  for (int64_t j = b; j < e; ++j) {  // branch-free compaction
    const double dx = px - cx[j];
    const double dy = py - cy[j];
    const double dz = pz - cz[j];
    const double d2 = (dx * dx + dy * dy) + dz * dz;
    kd[count] = d2;
    kid[count] = cid[j];
    count += static_cast<int64_t>((d2 < t) & (cid[j] != self));
  }
  return count;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SPHAERA_HAVE_AVX512_SCAN 1
// Squared chords from (px, py, pz) to 8 points (the lanes of `lanes`; 0 elsewhere), computed as chord2(): the
// additions use explicit rounding (vaddpd {rn-sae}), which the compiler cannot fuse with the products, so every
// path sees the same doubles.
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

// Whether the AVX-512 kernels run here (simd.h: the CPU has F, VL, DQ and BW, and SPHAERA_SIMD allows them).
bool cpu_has_avx512() { return simd_level() == SimdLevel::kAvx512; }

// AVX-512: 8 candidates per step, compress-stores of the kept ones (the same doubles as scan_generic).
__attribute__((target("avx512f,avx512vl"))) int64_t scan_avx512(double px, double py, double pz, double t, int32_t self,
                                                                const double* cx, const double* cy, const double* cz,
                                                                const int32_t* cid, int64_t b, int64_t e, double* kd,
                                                                int32_t* kid, int64_t count) {
  const __m512d vx = _mm512_set1_pd(px), vy = _mm512_set1_pd(py), vz = _mm512_set1_pd(pz);
  const __m512d vt = _mm512_set1_pd(t);
  const __m256i vself = _mm256_set1_epi32(self);
  for (int64_t j = b; j < e; j += 8) {
    const __mmask8 lanes = e - j >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << (e - j)) - 1);
    const __m512d d2 = d2_eight(vx, vy, vz, cx + j, cy + j, cz + j, lanes);
    const __m256i ids = _mm256_maskz_loadu_epi32(lanes, cid + j);
    const __mmask8 keep =
        _mm512_mask_cmp_pd_mask(lanes, d2, vt, _CMP_LT_OQ) & _mm256_mask_cmpneq_epi32_mask(lanes, ids, vself);
    _mm512_mask_compressstoreu_pd(kd + count, keep, d2);
    _mm256_mask_compressstoreu_epi32(kid + count, keep, ids);
    count += __builtin_popcount(keep);
  }
  return count;
}
#endif

ScanFn pick_scan() {
#ifdef SPHAERA_HAVE_AVX512_SCAN
  if (cpu_has_avx512()) return scan_avx512;
#endif
  return scan_generic;
}

// ---- the member kernel: which candidates belong to a point's row of the symmetric graph -------------------------
//
// Appends (d², index) of the candidates [b, e) that are among the point's k nearest (d² and index against its
// k-th key own_d2, own_id) or have it among theirs (its d² and index against their k-th keys ckd, cki), and the
// point itself (d² = 0) when `diagonal`, in candidate order; returns the new count.

using MemberFn = int64_t (*)(double px, double py, double pz, int32_t self, double own_d2, int32_t own_id,
                             bool diagonal, const double* cx, const double* cy, const double* cz, const int32_t* cid,
                             const double* ckd, const int32_t* cki, int64_t b, int64_t e, double* md, int32_t* mid,
                             int64_t count);

int64_t members_generic(double px, double py, double pz, int32_t self, double own_d2, int32_t own_id, bool diagonal,
                        const double* cx, const double* cy, const double* cz, const int32_t* cid, const double* ckd,
                        const int32_t* cki, int64_t b, int64_t e, double* md, int32_t* mid, int64_t count) {
  for (int64_t j = b; j < e; ++j) {
    const int32_t other = cid[j];
    if (other == self) {
      if (diagonal) {
        md[count] = 0.0;
        mid[count++] = self;
      }
      continue;
    }
    const double dx = px - cx[j];
    const double dy = py - cy[j];
    const double dz = pz - cz[j];
    const double d2 = (dx * dx + dy * dy) + dz * dz;
    const bool mine = d2 < own_d2 || (d2 == own_d2 && other <= own_id);
    const bool theirs = d2 < ckd[j] || (d2 == ckd[j] && self <= cki[j]);
    md[count] = d2;
    mid[count] = other;
    count += static_cast<int64_t>(mine || theirs);
  }
  return count;
}

#ifdef SPHAERA_HAVE_AVX512_SCAN
__attribute__((target("avx512f,avx512vl"))) int64_t members_avx512(double px, double py, double pz, int32_t self,
                                                                   double own_d2, int32_t own_id, bool diagonal,
                                                                   const double* cx, const double* cy, const double* cz,
                                                                   const int32_t* cid, const double* ckd,
                                                                   const int32_t* cki, int64_t b, int64_t e, double* md,
                                                                   int32_t* mid, int64_t count) {
  const __m512d vx = _mm512_set1_pd(px), vy = _mm512_set1_pd(py), vz = _mm512_set1_pd(pz);
  const __m512d own = _mm512_set1_pd(own_d2);
  const __m256i vown = _mm256_set1_epi32(own_id), vself = _mm256_set1_epi32(self);
  for (int64_t j = b; j < e; j += 8) {
    const __mmask8 lanes = e - j >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << (e - j)) - 1);
    const __m512d d2 = d2_eight(vx, vy, vz, cx + j, cy + j, cz + j, lanes);
    const __m256i ids = _mm256_maskz_loadu_epi32(lanes, cid + j);
    const __m512d their_d2 = _mm512_maskz_loadu_pd(lanes, ckd + j);
    const __m256i their_id = _mm256_maskz_loadu_epi32(lanes, cki + j);
    const __mmask8 mine = _mm512_mask_cmp_pd_mask(lanes, d2, own, _CMP_LT_OQ) |
                          (_mm512_mask_cmp_pd_mask(lanes, d2, own, _CMP_EQ_OQ) & _mm256_cmple_epi32_mask(ids, vown));
    const __mmask8 theirs =
        _mm512_mask_cmp_pd_mask(lanes, d2, their_d2, _CMP_LT_OQ) |
        (_mm512_mask_cmp_pd_mask(lanes, d2, their_d2, _CMP_EQ_OQ) & _mm256_cmple_epi32_mask(vself, their_id));
    const __mmask8 is_self = _mm256_mask_cmpeq_epi32_mask(lanes, ids, vself);
    const __mmask8 keep = ((mine | theirs) & static_cast<__mmask8>(~is_self)) | (diagonal ? is_self : 0);
    // The point's own d² is exactly 0 (px − px), as the diagonal's.
    _mm512_mask_compressstoreu_pd(md + count, keep, d2);
    _mm256_mask_compressstoreu_epi32(mid + count, keep, ids);
    count += __builtin_popcount(keep);
  }
  return count;
}
#endif

MemberFn pick_members() {
#ifdef SPHAERA_HAVE_AVX512_SCAN
  if (cpu_has_avx512()) return members_avx512;
#endif
  return members_generic;
}

// Per-thread scratch space of the search: the candidates of one bucket (points of rings 0..r, as SoA, grouped
// by bucket in increasing bucket order so that positions increase), their buckets' centres, and the centres
// of ring r + 1.
struct Scratch {
  int64_t bucket = -1;
  int rings = -1;
  std::vector<int64_t> list;
  std::vector<int64_t> ring_start;
  std::vector<double> cx, cy, cz;
  std::vector<int32_t> cid;
  std::vector<double> qx, qy, qz, qd;  // centres of the candidate buckets, and their distance to the query
  std::vector<int64_t> run;            // candidate bucket t holds candidates [run[t], run[t + 1])
  std::vector<double> ox, oy, oz;      // centres of the buckets of ring r + 1
  std::vector<double> kd, select;      // kept candidates: squared distances and indices, in candidate order
  std::vector<int32_t> kid, ties;
  int64_t keys_bucket = -1;  // the candidates' k-th keys are those of this bucket's gather
  int keys_rings = -1;
  std::vector<double> ckd, md;  // the candidates' k-th keys; a row's members
  std::vector<int32_t> cki, mid;
};

class Searcher {
 public:
  Searcher(const double* xyz, int64_t n, int k, const Buckets& buckets, int first_rings)
      : xyz_(xyz),
        n_(n),
        k_(k),
        b_(buckets),
        walker_(buckets.nside),
        first_rings_(first_rings),
        scan_(pick_scan()),
        members_(pick_members()) {
    // Chord of the bucket radius: |p − b| ≥ |p − c_Q| − rho for every point b of bucket Q (triangle inequality
    // in R³, chords being Euclidean distances).
    rho_ = 2.0 * std::sin(0.5 * b_.radius) * (1 + 1e-12) + 1e-15;
  }

  // Gathers the points of rings 0..r around `bucket` (candidates) and the centres of ring r + 1.
  void gather(int64_t bucket, int r, Scratch& s) const {
    if (s.bucket == bucket && s.rings == r) return;
    s.bucket = bucket;
    s.rings = r;
    walker_.rings(bucket, r + 1, s.list, s.ring_start);
    const int64_t end = s.ring_start[r + 1];
    const int64_t outer = s.ring_start[r + 2] - end;
    s.ox.resize(outer);
    s.oy.resize(outer);
    s.oz.resize(outer);
    for (int64_t t = 0; t < outer; ++t) {
      const double* c = &b_.centres[3 * s.list[end + t]];
      s.ox[t] = c[0];
      s.oy[t] = c[1];
      s.oz[t] = c[2];
    }
    // Candidate buckets in increasing order: with a sorted `order` (HEALPix) positions then increase.
    std::sort(s.list.begin(), s.list.begin() + end);
    s.qx.resize(end);
    s.qy.resize(end);
    s.qz.resize(end);
    s.qd.resize(end);
    s.run.resize(end + 1);
    int64_t m = 0;
    for (int64_t t = 0; t < end; ++t) {
      const int64_t q = s.list[t];
      s.run[t] = m;
      m += b_.start[q + 1] - b_.start[q];
      s.qx[t] = b_.centres[3 * q];
      s.qy[t] = b_.centres[3 * q + 1];
      s.qz[t] = b_.centres[3 * q + 2];
    }
    s.run[end] = m;
    s.cx.resize(m);
    s.cy.resize(m);
    s.cz.resize(m);
    s.cid.resize(m);
    s.kd.resize(m + 8);
    s.kid.resize(m + 8);
    int64_t o = 0;
    for (int64_t t = 0; t < end; ++t) {
      const int64_t q = s.list[t];
      for (int64_t p = b_.start[q]; p < b_.start[q + 1]; ++p, ++o) {
        const int32_t id = b_.order.empty() ? static_cast<int32_t>(p) : b_.order[p];
        const double* x = xyz_ + 3 * static_cast<int64_t>(id);
        s.cx[o] = x[0];
        s.cy[o] = x[1];
        s.cz[o] = x[2];
        s.cid[o] = id;
      }
    }
  }

  // Squared chord below which every point of the sphere is among the gathered candidates: an arc from p to a
  // point outside the scanned buckets crosses a bucket Q of the next ring, so its chord is at least
  // min_Q |p − c_Q| − rho.
  double bound2(double px, double py, double pz, const Scratch& s) const {
    const int64_t m = static_cast<int64_t>(s.ox.size());
    if (m == 0) return kInf;  // the rings cover the whole sphere
    double best = kInf;
    const double* ox = s.ox.data();
    const double* oy = s.oy.data();
    const double* oz = s.oz.data();
#pragma omp simd reduction(min : best)
    for (int64_t t = 0; t < m; ++t) {
      const double dx = px - ox[t];
      const double dy = py - oy[t];
      const double dz = pz - oz[t];
      best = std::min(best, (dx * dx + dy * dy) + dz * dz);
    }
    const double chord = std::sqrt(best) * (1 - 1e-12) - rho_;
    return chord > 0 ? chord * chord : 0.0;
  }

  // The k-th smallest of v[0..n) (n ≥ k). Usually n exceeds k by a few: then the n − k + 1 largest are found
  // with a small sorted buffer, cheaper than a general selection.
  double kth_smallest(const double* v, int64_t n, std::vector<double>& buf) const {
    const int64_t excess = n - k_;
    if (excess == 0) return *std::max_element(v, v + n);
    if (excess < 8) {
      double top[9];  // the excess + 1 largest so far, decreasing
      const int64_t m = excess + 1;
      int64_t filled = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double x = v[j];
        if (filled == m && x <= top[m - 1]) continue;
        int64_t i = filled < m ? filled++ : m - 1;
        while (i > 0 && top[i - 1] < x) {
          top[i] = top[i - 1];
          --i;
        }
        top[i] = x;
      }
      return top[m - 1];
    }
    buf.assign(v, v + n);
    std::nth_element(buf.begin(), buf.begin() + (k_ - 1), buf.end());
    return buf[k_ - 1];
  }

  // Tries to answer the query `id` from the gathered candidates; `hint` is a guess of its k-th squared distance
  // (0: none). Returns false when the candidates are not proven to contain the answer.
  bool answer(int32_t id, double hint, Scratch& s, int32_t* out, double& kth_d2, int32_t& kth_id) const {
    const double* p = xyz_ + 3 * static_cast<int64_t>(id);
    const double px = p[0], py = p[1], pz = p[2];
    const int64_t nq = static_cast<int64_t>(s.qx.size());
    {
      // Squared distance to each candidate bucket's centre: a bucket whose centre is farther than √t + rho
      // holds no point closer than √t.
      const double* qx = s.qx.data();
      const double* qy = s.qy.data();
      const double* qz = s.qz.data();
      double* qd = s.qd.data();
#pragma omp simd
      for (int64_t t = 0; t < nq; ++t) {
        const double dx = px - qx[t];
        const double dy = py - qy[t];
        const double dz = pz - qz[t];
        qd[t] = (dx * dx + dy * dy) + dz * dz;
      }
    }
    const double bound = bound2(px, py, pz, s);
    // Every point with d² < t is a candidate as long as t ≤ bound; a tighter t scans and keeps fewer.
    double t = (hint > 0 && hint < bound) ? hint : bound;
    const double* cx = s.cx.data();
    const double* cy = s.cy.data();
    const double* cz = s.cz.data();
    const int32_t* cid = s.cid.data();
    double* kd = s.kd.data();
    int32_t* kid = s.kid.data();
    int64_t count = 0;
    for (;;) {
      count = 0;
      const double reach = std::sqrt(t) + rho_ * (1 + 1e-12);
      const double reach2 = reach * reach * (1 + 1e-12);
      for (int64_t q = 0; q < nq; ++q) {
        if (s.qd[q] > reach2) continue;
        count = scan_(px, py, pz, t, id, cx, cy, cz, cid, s.run[q], s.run[q + 1], kd, kid, count);
      }
      if (count >= k_) break;
      if (t >= bound) return false;
      t = bound;
    }
    // The k-th smallest distance K; then, in candidate order, those below K and the first of those at K.
    const double kth = kth_smallest(kd, count, s.select);
    int below = 0;
    for (int64_t j = 0; j < count; ++j) below += kd[j] < kth;
    int at = k_ - below;  // how many of those at exactly K to take: the smallest indices
    int o = 0;
    if (b_.order.empty()) {
      // Candidates in increasing index order (HEALPix buckets): the first ones at K are the smallest.
      for (int64_t j = 0; j < count; ++j) {
        if (kd[j] < kth) {
          out[o++] = kid[j];
        } else if (kd[j] == kth && at > 0) {
          out[o++] = kid[j];
          --at;
          kth_id = kid[j];
        }
      }
    } else {
      s.ties.clear();
      for (int64_t j = 0; j < count; ++j) {
        if (kd[j] < kth) {
          out[o++] = kid[j];
        } else if (kd[j] == kth) {
          s.ties.push_back(kid[j]);
        }
      }
      std::sort(s.ties.begin(), s.ties.end());
      for (int j = 0; j < at; ++j) out[o++] = s.ties[j];
      kth_id = s.ties[at - 1];
      std::sort(out, out + k_);  // positions of arbitrary point sets do not increase with the bucket
    }
    kth_d2 = kth;
    return true;
  }

  // Answers every query (only_missing: those whose kth_id is still −1), writing its k-th key and, when `lists`
  // is not null, its sorted list at lists[id·k]; sets chosen[j] = 1 for each neighbour j found when `chosen`
  // is not null. Returns how many queries needed more rings.
  int64_t run(int32_t* lists, double* kth_d2, int32_t* kth_id, bool only_missing, uint8_t* chosen = nullptr) const {
    const int64_t nb = static_cast<int64_t>(b_.start.size()) - 1;
    int64_t expanded = 0;
#pragma omp parallel reduction(+ : expanded) if (n_ > 20000)
    {
      Scratch s, wide;
      std::vector<int32_t> row(lists == nullptr ? k_ : 0);
#pragma omp for schedule(dynamic, 64)
      for (int64_t q = 0; q < nb; ++q) {
        bool any = false;
        for (int64_t pos = b_.start[q]; pos < b_.start[q + 1] && !any; ++pos) {
          any = !only_missing || kth_id[point(pos)] < 0;
        }
        if (!any) continue;
        gather(q, first_rings_, s);
        double hint = 0;
        for (int64_t pos = b_.start[q]; pos < b_.start[q + 1]; ++pos) {
          const int32_t id = point(pos);
          if (only_missing && kth_id[id] >= 0) continue;
          int32_t* out = lists != nullptr ? lists + static_cast<int64_t>(id) * k_ : row.data();
          double kd = 0;
          int32_t ki = -1;
          if (answer(id, hint, s, out, kd, ki)) {
            hint = kd * hint_factor_;
          } else {
            // Widen the search (the wider candidate set is kept for the next query of this bucket).
            ++expanded;
            for (int r = first_rings_ + 1;; ++r) {
              gather(q, r, wide);
              if (answer(id, 0, wide, out, kd, ki)) break;
            }
          }
          kth_d2[id] = kd;
          kth_id[id] = ki;
          if (chosen != nullptr) {
            for (int t = 0; t < k_; ++t) __atomic_store_n(chosen + out[t], uint8_t{1}, __ATOMIC_RELAXED);
          }
        }
      }
    }
    return expanded;
  }

  int32_t point(int64_t pos) const { return b_.order.empty() ? static_cast<int32_t>(pos) : b_.order[pos]; }
  int64_t buckets() const { return static_cast<int64_t>(b_.start.size()) - 1; }
  int64_t bucket_begin(int64_t q) const { return b_.start[q]; }
  int64_t bucket_end(int64_t q) const { return b_.start[q + 1]; }
  int first_rings() const { return first_rings_; }

  // Row `id` of the symmetrised graph (its bucket q gathered in s with first_rings()): the points j ≠ id with
  // (d², j) ≤ (kd[id], ki[id]) or (d², id) ≤ (kd[j], ki[j]), and id itself with d² = 0 when `diagonal`, in
  // increasing index order. kstar ≥ every kd[j]: the candidates must hold every point within √kstar.
  void row_members(int32_t id, int64_t q, double kstar, const double* kd, const int32_t* ki, bool diagonal, Scratch& s,
                   Scratch& wide, std::vector<Candidate>& members) const {
    members.clear();
    const double* p = xyz_ + 3 * static_cast<int64_t>(id);
    const double px = p[0], py = p[1], pz = p[2];
    const Scratch* c = &s;
    if (!(bound2(px, py, pz, s) > kstar)) {
      for (int r = first_rings_ + 1;; ++r) {
        gather(q, r, wide);
        if (bound2(px, py, pz, wide) > kstar) break;
      }
      c = &wide;
    }
    const double reach = std::sqrt(kstar) + rho_ * (1 + 1e-12);
    const double reach2 = reach * reach * (1 + 1e-12);
    // The candidates' own k-th keys, once per gather.
    Scratch& keys = c == &s ? s : wide;
    if (keys.keys_bucket != keys.bucket || keys.keys_rings != keys.rings) {
      const int64_t m = static_cast<int64_t>(keys.cid.size());
      keys.ckd.resize(m + 8);
      keys.cki.resize(m + 8);
      for (int64_t j = 0; j < m; ++j) {
        keys.ckd[j] = kd[keys.cid[j]];
        keys.cki[j] = ki[keys.cid[j]];
      }
      keys.keys_bucket = keys.bucket;
      keys.keys_rings = keys.rings;
      keys.md.resize(m + 8);
      keys.mid.resize(m + 8);
    }
    const int64_t nq = static_cast<int64_t>(c->qx.size());
    int64_t count = 0;
    for (int64_t t = 0; t < nq; ++t) {
      const double ex = px - c->qx[t], ey = py - c->qy[t], ez = pz - c->qz[t];
      if ((ex * ex + ey * ey) + ez * ez > reach2) continue;
      count =
          members_(px, py, pz, id, kd[id], ki[id], diagonal, c->cx.data(), c->cy.data(), c->cz.data(), c->cid.data(),
                   keys.ckd.data(), keys.cki.data(), c->run[t], c->run[t + 1], keys.md.data(), keys.mid.data(), count);
    }
    members.resize(count);
    for (int64_t j = 0; j < count; ++j) members[j] = {keys.md[j], keys.mid[j]};
    if (!b_.order.empty()) {
      std::sort(members.begin(), members.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    }
  }

 private:
  const double* xyz_;
  int64_t n_;
  int k_;
  const Buckets& b_;
  RingWalker walker_;
  int first_rings_;
  ScanFn scan_;
  MemberFn members_;
  double rho_ = 0;
  // The next query of a bucket (a neighbouring pixel) keeps the candidates below 1.1 × this one's k-th
  // squared distance; rarely too few (then the proven bound is used).
  double hint_factor_ = 1.1;
};

// ---- selection of the k-th key
// ---------------------------------------------------------------------------------------

// The k-th smallest key (d², id) among count ≥ k candidates, by a partial sort (any count, any ties).
void kth_key_scalar(const double* kd, const int32_t* kid, int64_t count, int k, std::vector<Candidate>& buf,
                    double& kth_d2, int32_t& kth_id) {
  buf.resize(count);
  for (int64_t j = 0; j < count; ++j) buf[j] = {kd[j], kid[j]};
  std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.end(), key_less);
  kth_d2 = buf[k - 1].d2;
  kth_id = buf[k - 1].id;
}

// ---- the tiled search on a full HEALPix sky -----------------------------------------------------------------------
//
// A tile is 16 × 16 pixels of a base face, aligned in its (x, y) coordinates: 256 consecutive NEST indices. Its
// block is the tile with a margin of M pixels, gathered once into small arrays (row-major and transposed), so
// that a pixel's window (the pixels at Chebyshev distance ≤ r in (x, y)) and the rings around it are runs of
// contiguous values.
//
// Pass 1 (k-th keys): when a ring lies inside the pixel's base face, every point beyond it is at a chord ≥ min
// over the ring's centres of (chord − pixel radius), since an arc leaving the ring's inside crosses a pixel of
// the ring. The k nearest are proven to be in the window of radius r when the k-th of them is closer than the
// bound that the rings at r + 1 and r + 2 give (bound2). r starts at about the radius of a disc of k + 1 pixels
// and grows to M − 1; pixels never proven take the bucket search. Windows of radius ≤ 3 are searched in
// registers (window_kth), larger ones by compressing the candidates below a threshold (window_kth_general).
// Each proven pixel records the extent of its k nearest (the largest Chebyshev distance among them) and, in
// its 7 × 7 window, which they are (bits).
//
// Passes 2 and 3 (rows): j can link to i only if i is among the k nearest of j, which for a proven j lies
// within j's extent, a relation symmetric in (x, y): so the window of radius max(extent over the block) holds
// every member of i's row, unless some j answered by the bucket search chose i; those rows (marked in pass 1)
// take the bucket path too. With extents ≤ 3 the members are read from the bits (i's own, and i's bit in its
// neighbours'), and come out in NEST order through a table of the window's orders (sorted_row).

#ifdef SPHAERA_HAVE_AVX512_SCAN
#define SPHAERA_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))

class Tiles {
 public:
  static constexpr int kTile = 16;
  // Each proven pixel's k nearest as bits of its 7 × 7 window ((dy + 3)·7 + dx + 3); bit kFar: some lie beyond.
  static constexpr int kFar = 63;
  // The next pixel (a neighbour in NEST order) keeps the candidates below this factor times the k-th squared
  // distance of the previous one; rarely too few (then the proven bound is used).
  static constexpr double kHintFactor = 1.05;

  Tiles(const double* xyz, int64_t nside, int k)
      : xyz_(xyz), nside_(nside), k_(k), first_(first_radius(k)), m_(first_radius(k) + 3), w_(kTile + 2 * m_) {
    const T_Healpix_Base<int64> base(nside, NEST, SET_NSIDE);
    rho_ = 2.0 * std::sin(0.5 * base.max_pixrad() * 1.01 + 1e-12) * (1 + 1e-12) + 1e-15;
    // The 7 × 7 window's codes in NEST order (with their slots in sorted_row), for each pattern of its corner
    // (X, Y). NEST order is the order of (interleave(X >> 3, Y >> 3), interleave(X & 7, Y & 7)); the window's
    // cells span 2 × 2 values of the first part, whose middle two come in the order given by whose +1 carries
    // higher (the lowest zero bit of X >> 3 against that of Y >> 3, y bits lying above x bits). A
    // representative corner of each pattern gives it.
    nest_codes_.assign(kPatterns * kCodeRun, kFar);
    for (int pattern = 0; pattern < kPatterns; ++pattern) {
      const uint64_t x = (pattern & 7) + (pattern >> 6 ? 8 : 0), y = (pattern >> 3) & 7;
      std::vector<std::pair<uint64_t, int32_t>> cells;
      for (int code = 0; code < 49; ++code) {
        cells.emplace_back(spread_bits(x + code % 7) | (spread_bits(y + code / 7) << 1), code);
      }
      std::sort(cells.begin(), cells.end());
      for (int t = 0; t < 49; ++t) {
        const int code = cells[t].second;
        nest_codes_[pattern * kCodeRun + t] = code | ((code / 7) * 8 + code % 7) << 8;  // code | slot << 8
      }
    }
  }

  // The first window radius tried for k: about the radius of a disc of k + 1 pixels.
  static int first_radius(int k) { return static_cast<int>(std::ceil(std::sqrt((k + 1) / 3.141592653589793))); }
  // Tiles apply when the windows fit in two 8-lane runs and the grid holds a tile.
  static bool applies(int64_t nside, int k) { return first_radius(k) + 2 <= 7 && nside >= kTile; }

  int64_t count() const { return 12 * (nside_ / kTile) * (nside_ / kTile); }
  // Pass 1's margin: windows up to radius margin − 1, their rings at margin.
  int margin() const { return m_; }

  struct Block {
    std::vector<double> x, y, z, xt, yt, zt, kd;
    std::vector<int32_t> id, ki;
    std::vector<uint64_t> near;  // pass 1's bits (row sizes from bits)
    std::vector<double> cd;      // per query: the candidates kept (d², index, Chebyshev distance)
    std::vector<int32_t> cid, cheb;
    std::vector<Candidate> fallback;
    std::vector<uint64_t> sx, sy;
    int64_t first = 0;  // NEST index of the tile's first pixel
    int64_t x0 = 0, y0 = 0;
    int m = 0;  // margin
    int w = 0;  // width: kTile + 2m
  };

  void reserve(Block& b) const {
    const int64_t cells = static_cast<int64_t>(w_) * w_;
    for (auto* v : {&b.x, &b.y, &b.z, &b.xt, &b.yt, &b.zt, &b.kd}) v->resize(cells);
    b.id.resize(cells);
    b.near.resize(cells);
    b.ki.resize(cells);
    const int64_t window = static_cast<int64_t>(2 * m_ + 1) * (2 * m_ + 1) + 16;
    b.cd.resize(window);
    b.cid.resize(window);
    b.cheb.resize(window);
    b.sx.resize(w_);
    b.sy.resize(w_);
  }

  // Places the block of `tile` with a margin: its first pixel, origin in (x, y), and the NEST bits of its
  // columns and rows (all ones outside the face). Returns the NEST index of the face's first pixel.
  int64_t place(int64_t tile, Block& b, int margin) const {
    b.m = margin;
    b.w = kTile + 2 * margin;
    const int64_t per_face = (nside_ / kTile) * (nside_ / kTile);
    const int64_t face = tile / per_face;
    const int64_t local = (tile % per_face) * kTile * kTile;
    const int64_t face_first = face * nside_ * nside_;
    b.first = face_first + local;
    b.x0 = static_cast<int64_t>(compress_bits(static_cast<uint64_t>(local)));
    b.y0 = static_cast<int64_t>(compress_bits(static_cast<uint64_t>(local) >> 1));
    for (int c = 0; c < b.w; ++c) {
      const int64_t gx = b.x0 - b.m + c, gy = b.y0 - b.m + c;
      b.sx[c] = gx >= 0 && gx < nside_ ? spread_bits(static_cast<uint64_t>(gx)) : ~uint64_t{0};
      b.sy[c] = gy >= 0 && gy < nside_ ? spread_bits(static_cast<uint64_t>(gy)) << 1 : ~uint64_t{0};
    }
    return face_first;
  }

  // Gathers the tile's block with a margin of `margin` pixels: the coordinates (transposed too for pass 1,
  // kd null), and for the rows passes pass 1's bits (near not null) or else the k-th keys.
  void load(int64_t tile, Block& b, int margin, const double* kd, const int32_t* ki,
            const uint64_t* near = nullptr) const {
    const int64_t face_first = place(tile, b, margin);
    const bool transposed = kd == nullptr;
    for (int by = 0; by < b.w; ++by) {
      for (int bx = 0; bx < b.w; ++bx) {
        const int64_t c = by * b.w + bx;
        const int64_t t = bx * b.w + by;
        if (b.sx[bx] == ~uint64_t{0} || b.sy[by] == ~uint64_t{0}) {  // outside the face: never read
          b.x[c] = b.y[c] = b.z[c] = b.kd[c] = 0.0;
          if (transposed) b.xt[t] = b.yt[t] = b.zt[t] = 0.0;
          b.id[c] = b.ki[c] = -1;
          b.near[c] = 0;
          continue;
        }
        const int64_t pix = face_first + static_cast<int64_t>(b.sx[bx] | b.sy[by]);
        const double* p = xyz_ + 3 * pix;
        b.x[c] = p[0];
        b.y[c] = p[1];
        b.z[c] = p[2];
        b.id[c] = static_cast<int32_t>(pix);
        if (transposed) {
          b.xt[t] = p[0];
          b.yt[t] = p[1];
          b.zt[t] = p[2];
        } else if (near != nullptr) {
          b.near[c] = near[pix];
        } else {
          b.kd[c] = kd[pix];
          b.ki[c] = ki[pix];
        }
      }
    }
  }

  // Gathers pass 1's bits of the tile's block with a margin of 3 (cells outside the face: none).
  void load_bits(int64_t tile, Block& b, const uint64_t* near) const {
    const int64_t face_first = place(tile, b, 3);
    for (int by = 0; by < b.w; ++by) {
      for (int bx = 0; bx < b.w; ++bx) {
        const bool outside = b.sx[bx] == ~uint64_t{0} || b.sy[by] == ~uint64_t{0};
        b.near[by * b.w + bx] = outside ? 0 : near[face_first + static_cast<int64_t>(b.sx[bx] | b.sy[by])];
      }
    }
  }

  // Pass 2 from pass 1's bits (every extent ≤ 3): the row of the pixel at local (u, v) holds its k nearest and
  // each j of its 7 × 7 window whose k nearest include it, which is bit 48 − code of j's bits.
  SPHAERA_AVX512 int64_t row_size_from_bits(const Block& b, int u, int v, bool diagonal) const {
    const uint64_t mine = b.near[static_cast<int64_t>(v + b.m) * b.w + (u + b.m)];
    return k_ + __builtin_popcountll(theirs(b, u, v) & ~mine) + (diagonal ? 1 : 0);
  }

  // The pixels j of the 7 × 7 window of the pixel at local (u, v) whose k nearest include it, as window bits.
  SPHAERA_AVX512 uint64_t theirs(const Block& b, int u, int v) const {
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i one = _mm512_set1_epi64(1);
    uint64_t result = 0;
    for (int dy = -3; dy <= 3; ++dy) {
      const int64_t start = static_cast<int64_t>(v + b.m + dy) * b.w + (u + b.m - 3);
      const __m512i bits = _mm512_maskz_loadu_epi64(0x7f, b.near.data() + start);
      const __m512i shift = _mm512_sub_epi64(_mm512_set1_epi64(48 - (dy + 3) * 7), lane);
      const __mmask8 set = _mm512_mask_test_epi64_mask(0x7f, _mm512_maskz_srlv_epi64(0x7f, bits, shift), one);
      result |= static_cast<uint64_t>(set) << ((dy + 3) * 7);
    }
    return result;
  }

  // Pass 3 from pass 1's bits for the pixel at local (u, v) of a block with margin 3, whose 7 × 7 window lies in
  // the face: its members (itself too when `diagonal`) in NEST order, to col/val as index and −c·d²; returns
  // their number. The members are the window's bits; the pattern table gives their order. The window's values
  // stay in registers, 8 slots per row (slot 8·(dy + 3) + dx + 3), picked by permutes.
  SPHAERA_AVX512 int64_t sorted_row(Block& b, int l, int u, int v, bool diagonal, double c, int32_t* col,
                                    double* val) const {
    const double* p = xyz_ + 3 * (b.first + l);
    const __m512d px = _mm512_set1_pd(p[0]), py = _mm512_set1_pd(p[1]), pz = _mm512_set1_pd(p[2]);
    const int64_t centre = static_cast<int64_t>(v + b.m) * b.w + (u + b.m);
    uint64_t members = (b.near[centre] | theirs(b, u, v)) & ((uint64_t{1} << 49) - 1);
    if (diagonal) members |= uint64_t{1} << 24;
    // The squared chords (7 rows) and indices (pairs of rows) of the window.
    __m512d d2[8];
    __m512i ids[4];
    const int64_t first_row = centre - 3 * b.w - 3;
    for (int q = 0; q < 7; ++q) {
      const int64_t o = first_row + q * b.w;
      d2[q] = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, 0x7f);
    }
    d2[7] = _mm512_setzero_pd();
    for (int q = 0; q < 4; ++q) {
      const int64_t o = first_row + 2 * q * b.w;
      const __m512i low = _mm512_maskz_loadu_epi32(0x7f, b.id.data() + o);
      ids[q] = q < 3 ? _mm512_mask_loadu_epi32(low, 0x7f00, b.id.data() + o + b.w - 8) : low;
    }
    // The members in NEST order, as (code | slot << 8).
    const uint64_t gx = static_cast<uint64_t>(b.x0 + u - 3), gy = static_cast<uint64_t>(b.y0 + v - 3);
    const int carry = __builtin_ctzll(~(gx >> 3)) > __builtin_ctzll(~(gy >> 3)) ? 1 : 0;
    const int32_t* order = nest_codes_.data() + kCodeRun * static_cast<int>((gx & 7) | (gy & 7) << 3 | carry << 6);
    const __m512i bits = _mm512_set1_epi64(static_cast<int64_t>(members));
    const __m512i one = _mm512_set1_epi64(1);
    const __m512i code_bits = _mm512_set1_epi64(63);
    alignas(64) int32_t picked[kCodeRun + 8];
    int64_t count = 0;
    for (int q = 0; q < kCodeRun; q += 8) {
      const __m256i entry = _mm256_maskz_loadu_epi32(0xff, order + q);
      const __m512i code = _mm512_maskz_and_epi64(0xff, _mm512_maskz_cvtepu32_epi64(0xff, entry), code_bits);
      const __mmask8 in = _mm512_mask_test_epi64_mask(0xff, _mm512_maskz_srlv_epi64(0xff, bits, code), one);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(picked + count), _mm256_maskz_compress_epi32(in, entry));
      count += __builtin_popcount(in);
    }
    const __m512d scale = _mm512_set1_pd(-c);
    for (int64_t q = 0; q < count; q += 8) {
      const __mmask8 lanes = lane_mask(count - q);
      const __m512i slot = _mm512_maskz_srli_epi32(0xffff, _mm512_maskz_loadu_epi32(lanes, picked + q), 8);
      const __m512i slot64 = _mm512_maskz_srli_epi64(
          0xff, _mm512_maskz_cvtepu32_epi64(0xff, _mm256_maskz_loadu_epi32(lanes, picked + q)), 8);
      const __mmask8 odd16 = _mm512_mask_test_epi64_mask(0xff, slot64, _mm512_set1_epi64(16));
      const __mmask8 high32 = _mm512_mask_test_epi64_mask(0xff, slot64, _mm512_set1_epi64(32));
      const __m512d low = _mm512_mask_blend_pd(odd16, _mm512_permutex2var_pd(d2[0], slot64, d2[1]),
                                               _mm512_permutex2var_pd(d2[2], slot64, d2[3]));
      const __m512d high = _mm512_mask_blend_pd(odd16, _mm512_permutex2var_pd(d2[4], slot64, d2[5]),
                                                _mm512_permutex2var_pd(d2[6], slot64, d2[7]));
      const __m512d dist = _mm512_mask_blend_pd(high32, low, high);
      const __mmask16 high32i = _mm512_mask_test_epi32_mask(0xff, slot, _mm512_set1_epi32(32));
      const __m512i id = _mm512_mask_blend_epi32(high32i, _mm512_permutex2var_epi32(ids[0], slot, ids[1]),
                                                 _mm512_permutex2var_epi32(ids[2], slot, ids[3]));
      _mm512_mask_storeu_epi32(col + q, lanes, id);
      _mm512_mask_storeu_pd(val + q, lanes, _mm512_mul_pd(scale, dist));
    }
    return count;
  }

  // Local coordinates (in the tile) of its l-th pixel, and whether its window of radius r lies in the face.
  bool inside(const Block& b, int l, int r, int& u, int& v) const {
    u = static_cast<int>(compress_bits(static_cast<uint64_t>(l)));
    v = static_cast<int>(compress_bits(static_cast<uint64_t>(l) >> 1));
    const int64_t gx = b.x0 + u, gy = b.y0 + v;
    return gx >= r && gy >= r && gx < nside_ - r && gy < nside_ - r;
  }

  // Pass 1: the k-th key and extent of every pixel of the tile it can prove (others keep kth_id −1).
  SPHAERA_AVX512 void kth_keys(Block& b, double* kth_d2, int32_t* kth_id, uint8_t* extent, uint64_t* near) const {
    double hint = 0;
    for (int l = 0; l < kTile * kTile; ++l) {
      const int64_t self = b.first + l;
      const double* p = xyz_ + 3 * self;
      const __m512d px = _mm512_set1_pd(p[0]), py = _mm512_set1_pd(p[1]), pz = _mm512_set1_pd(p[2]);
      bool proven = false;
      for (int r = first_; r < m_ && !proven; ++r) {
        int u, v;
        const bool next_ring = inside(b, l, r + 2, u, v);
        if (!next_ring && !inside(b, l, r + 1, u, v)) break;
        double kd = 0;
        int32_t ki = -1;
        int reach = 0;
        uint64_t bits = 0;
        // 1: the k nearest, proven; 0: not proven at r; −1: not tried, or equal values at the k-th place.
        int found = -1;
        double bound = -1;  // not computed yet
        if (r <= 3 && hint > 0) {
          // The window's k-th below the hint first; then whether the rings prove it.
          found = window_kth(r, b, u, v, px, py, pz, hint, kd, ki, reach, bits);
          if (found == 1) {
            if (!below_bound(kd, b, u, v, r, next_ring, px, py, pz)) found = 0;
          } else if (found == 0) {
            bound = bound2(b, u, v, r, next_ring, px, py, pz);
            if (hint < bound) found = window_kth(r, b, u, v, px, py, pz, bound, kd, ki, reach, bits);
          }
        } else if (r <= 3) {
          bound = bound2(b, u, v, r, next_ring, px, py, pz);
          found = window_kth(r, b, u, v, px, py, pz, bound, kd, ki, reach, bits);
        }
        if (found < 0) {
          if (bound < 0) bound = bound2(b, u, v, r, next_ring, px, py, pz);
          const double t = (hint > 0 && hint < bound) ? hint : bound;
          found = window_kth_general(b, u, v, r, px, py, pz, t, bound, kd, ki, reach, bits);
        }
        if (found == 0) continue;
        kth_d2[self] = kd;
        kth_id[self] = ki;
        extent[self] = static_cast<uint8_t>(reach);
        near[self] = bits;
        hint = kd * kHintFactor;
        proven = true;
      }
      if (!proven) hint = 0;
    }
  }

  // The k-th key among the candidates of the window of radius r with d² < t (then with d² < bound when fewer
  // than k), their extent and window bits, through window_below and select_peel (or a sort at ties): 1 when
  // found, 0 when fewer than k lie below the bound.
  SPHAERA_AVX512 int window_kth_general(Block& b, int u, int v, int r, const __m512d px, const __m512d py,
                                        const __m512d pz, double t, double bound, double& kd, int32_t& ki, int& reach,
                                        uint64_t& bits) const {
    int64_t count = 0;
    for (;;) {
      count = window_below(b, u, v, r, px, py, pz, t);
      if (count >= k_ || t >= bound) break;
      t = bound;
    }
    if (count < k_) return 0;
    if (count <= 32 && select_peel(b, count, kd, ki, reach, bits)) return 1;
    kth_key_scalar(b.cd.data(), b.cid.data(), count, k_, b.fallback, kd, ki);
    reach = 0;
    bits = 0;
    for (int64_t j = 0; j < count; ++j) {
      if (b.cd[j] < kd || (b.cd[j] == kd && b.cid[j] <= ki)) {
        reach = std::max(reach, b.cheb[j] & 0xff);
        bits |= uint64_t{1} << (b.cheb[j] >> 8);
      }
    }
    return 1;
  }

  // As window_kth_general with a single threshold t, for a window of radius r ≤ 3 (one 8-lane run per row), in
  // registers: the candidates with d² < t are lane masks, peeled as select_peel does; returns 1 when found, 0
  // when fewer than k lie below t, −1 when equal values straddle the k-th place.
  SPHAERA_AVX512 int window_kth(int r, const Block& b, int u, int v, const __m512d px, const __m512d py,
                                const __m512d pz, double t, double& kd, int32_t& ki, int& reach, uint64_t& bits) const {
    switch (r) {
      case 1:
        return window_kth<1>(b, u, v, px, py, pz, t, kd, ki, reach, bits);
      case 2:
        return window_kth<2>(b, u, v, px, py, pz, t, kd, ki, reach, bits);
      default:
        return window_kth<3>(b, u, v, px, py, pz, t, kd, ki, reach, bits);
    }
  }

  template <int R>
  SPHAERA_AVX512 int window_kth(const Block& b, int u, int v, const __m512d px, const __m512d py, const __m512d pz,
                                double t, double& kd, int32_t& ki, int& reach, uint64_t& bits) const {
    constexpr int kRows = 2 * R + 1;
    __m512d d2[kRows];
    __mmask8 alive[kRows];
    const __m512d vt = _mm512_set1_pd(t);
    int64_t count = 0;
    for (int q = 0; q < kRows; ++q) {
      const int64_t o = static_cast<int64_t>(v + b.m + q - R) * b.w + (u + b.m - R);
      __mmask8 lanes = static_cast<__mmask8>((1u << kRows) - 1);
      if (q == R) lanes &= static_cast<__mmask8>(~(1u << R));  // self
      d2[q] = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, lanes);
      alive[q] = _mm512_mask_cmp_pd_mask(lanes, d2[q], vt, _CMP_LT_OQ);
      count += __builtin_popcount(alive[q]);
    }
    if (count < k_) return 0;
    int64_t excess = count - k_;
    for (;;) {
      __m512d top = _mm512_set1_pd(-kInf);
      for (int q = 0; q < kRows; ++q) top = _mm512_mask_max_pd(top, alive[q], top, d2[q]);
      top = all_lanes_max(top);
      __mmask8 at[kRows];
      int64_t tied = 0;
      for (int q = 0; q < kRows; ++q) {
        at[q] = _mm512_mask_cmp_pd_mask(alive[q], d2[q], top, _CMP_EQ_OQ);
        tied += __builtin_popcount(at[q]);
      }
      if (tied <= excess) {
        for (int q = 0; q < kRows; ++q) alive[q] &= static_cast<__mmask8>(~at[q]);
        excess -= tied;
        continue;
      }
      if (excess != 0) return -1;
      __m256i best = _mm256_set1_epi32(-1);
      bits = 0;
      for (int q = 0; q < kRows; ++q) {
        const int64_t o = static_cast<int64_t>(v + b.m + q - R) * b.w + (u + b.m - R);
        best = _mm256_mask_max_epi32(best, at[q], best, _mm256_maskz_loadu_epi32(at[q], b.id.data() + o));
        bits |= static_cast<uint64_t>(alive[q]) << ((q - R + 3) * 7 + 3 - R);  // window code of the row's first
      }
      best = _mm256_maskz_max_epi32(0xff, best, _mm256_maskz_shuffle_i32x4(0xff, best, best, 1));
      best = _mm256_maskz_max_epi32(0xff, best, _mm256_maskz_shuffle_epi32(0xff, best, _MM_PERM_BADC));
      ki = _mm256_cvtsi256_si32(
          _mm256_maskz_max_epi32(0xff, best, _mm256_maskz_shuffle_epi32(0xff, best, _MM_PERM_CDAB)));
      kd = _mm512_cvtsd_f64(top);
      reach = (bits & ~window_codes(1)) == 0 ? 1 : (bits & ~window_codes(2)) == 0 ? 2 : 3;
      return 1;
    }
  }

  // The 7 × 7 window's bits of the cells at Chebyshev distance ≤ r.
  static constexpr uint64_t window_codes(int r) {
    uint64_t bits = 0;
    for (int dy = -r; dy <= r; ++dy) {
      for (int dx = -r; dx <= r; ++dx) bits |= uint64_t{1} << ((dy + 3) * 7 + dx + 3);
    }
    return bits;
  }

  // The smallest lane of v, in every lane (GCC 12's reduction intrinsics warn of uninitialised values).
  static SPHAERA_AVX512 __m512d all_lanes_min(__m512d v) {
    v = _mm512_maskz_min_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0x4e));  // halves swapped
    v = _mm512_maskz_min_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0xb1));  // quarters swapped in each half
    return _mm512_maskz_min_pd(0xff, v, _mm512_maskz_permute_pd(0xff, v, 0x55));     // neighbours swapped
  }

  // The largest lane of v, in every lane.
  static SPHAERA_AVX512 __m512d all_lanes_max(__m512d v) {
    v = _mm512_maskz_max_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0x4e));  // halves swapped
    v = _mm512_maskz_max_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0xb1));  // quarters swapped in each half
    return _mm512_maskz_max_pd(0xff, v, _mm512_maskz_permute_pd(0xff, v, 0x55));     // neighbours swapped
  }

  // Passes 2 and 3 for the tile's l-th pixel at local (u, v), whose window of radius r holds its row (when pass
  // 1's bits cannot give it): the members (and itself when `diagonal`), found by comparing the distances with
  // the k-th keys, sorted by index to col/val as index and −c·d²; returns their number. With col null, only
  // counts.
  SPHAERA_AVX512 int64_t row(Block& b, int l, int u, int v, int r, bool diagonal, double c, int32_t* col,
                             double* val) const {
    const int64_t self = b.first + l;
    const double* p = xyz_ + 3 * self;
    const __m512d px = _mm512_set1_pd(p[0]), py = _mm512_set1_pd(p[1]), pz = _mm512_set1_pd(p[2]);
    const int64_t centre = static_cast<int64_t>(v + b.m) * b.w + (u + b.m);
    const __m512d own_d2 = _mm512_set1_pd(b.kd[centre]);
    const __m256i own_id = _mm256_set1_epi32(b.ki[centre]);
    const __m256i self_id = _mm256_set1_epi32(static_cast<int32_t>(self));
    const int len = 2 * r + 1;
    int64_t count = 0;
    for (int dy = -r; dy <= r; ++dy) {
      const int64_t start = static_cast<int64_t>(v + b.m + dy) * b.w + (u + b.m - r);
      for (int c0 = 0; c0 < len; c0 += 8) {
        const int64_t o = start + c0;
        const __mmask8 lanes = lane_mask(len - c0);
        const __m512d d2 = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, lanes);
        const __m256i ids = _mm256_maskz_loadu_epi32(lanes, b.id.data() + o);
        const __m512d their_d2 = _mm512_maskz_loadu_pd(lanes, b.kd.data() + o);
        const __m256i their_id = _mm256_maskz_loadu_epi32(lanes, b.ki.data() + o);
        const __mmask8 mine = _mm512_cmp_pd_mask(d2, own_d2, _CMP_LT_OQ) |
                              (_mm512_cmp_pd_mask(d2, own_d2, _CMP_EQ_OQ) & _mm256_cmple_epi32_mask(ids, own_id));
        const __mmask8 theirs =
            _mm512_cmp_pd_mask(d2, their_d2, _CMP_LT_OQ) |
            (_mm512_cmp_pd_mask(d2, their_d2, _CMP_EQ_OQ) & _mm256_cmple_epi32_mask(self_id, their_id));
        const __mmask8 keep = lanes & (mine | theirs) & _mm256_cmpneq_epi32_mask(ids, self_id);
        if (col != nullptr) {
          _mm512_storeu_pd(b.cd.data() + count, _mm512_maskz_compress_pd(keep, d2));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.cid.data() + count), _mm256_maskz_compress_epi32(keep, ids));
        }
        count += __builtin_popcount(keep);
      }
    }
    if (col == nullptr) return count + (diagonal ? 1 : 0);
    return emit(b, count, self, diagonal, c, col, val);
  }

  // The row from the members gathered in b.cd / b.cid: itself added when `diagonal`, sorted by index into
  // col/val as index and −c·d²; returns the row's size.
  SPHAERA_AVX512 int64_t emit(Block& b, int64_t count, int64_t self, bool diagonal, double c, int32_t* col,
                              double* val) const {
    if (diagonal) {
      if (col != nullptr) {
        b.cd[count] = 0.0;
        b.cid[count] = static_cast<int32_t>(self);
      }
      ++count;
    }
    if (col == nullptr) return count;
    // Sort by index: each member goes to its rank among the (distinct) indices.
    const int regs = static_cast<int>((count + 15) / 16);
    __m512i sorted_ids[16];
    for (int q = 0; q < regs; ++q) {
      const int64_t left = count - 16 * q;
      const __mmask16 lanes = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
      sorted_ids[q] = _mm512_mask_loadu_epi32(_mm512_set1_epi32(INT32_MAX), lanes, b.cid.data() + 16 * q);
    }
    for (int64_t e = 0; e < count; ++e) {
      const __m512i key = _mm512_set1_epi32(b.cid[e]);
      int rank = 0;
      for (int q = 0; q < regs; ++q) rank += __builtin_popcount(_mm512_cmplt_epi32_mask(sorted_ids[q], key));
      col[rank] = b.cid[e];
      val[rank] = -c * b.cd[e];
    }
    return count;
  }

 private:
  static SPHAERA_AVX512 __mmask8 lane_mask(int64_t left) {
    return left >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << left) - 1);
  }

  static SPHAERA_AVX512 __m512d min_d2(__m512d best, const __m512d px, const __m512d py, const __m512d pz,
                                       const double* x, const double* y, const double* z, int len) {
    for (int c0 = 0; c0 < len; c0 += 8) {
      const __mmask8 lanes = lane_mask(len - c0);
      best = _mm512_mask_min_pd(best, lanes, best, d2_eight(px, py, pz, x + c0, y + c0, z + c0, lanes));
    }
    return best;
  }

  // The smallest squared chord from p to the centres of the ring at Chebyshev distance `ring` around the pixel
  // at local (u, v), as four runs of 2·ring cells (a pinwheel): its rows at dy = −ring (dx from −ring) and
  // dy = ring (dx from 1 − ring), and from the transposed block its columns at dx = ring (dy from −ring) and
  // dx = −ring (dy from 1 − ring).
  SPHAERA_AVX512 double ring_min(const Block& b, int u, int v, int ring, const __m512d px, const __m512d py,
                                 const __m512d pz) const {
    __m512d best = _mm512_set1_pd(kInf);
    const int len = 2 * ring;
    const int64_t top = static_cast<int64_t>(v + b.m - ring) * b.w + (u + b.m - ring);
    const int64_t bottom = static_cast<int64_t>(v + b.m + ring) * b.w + (u + b.m - ring + 1);
    const int64_t right = static_cast<int64_t>(u + b.m + ring) * b.w + (v + b.m - ring);
    const int64_t left = static_cast<int64_t>(u + b.m - ring) * b.w + (v + b.m - ring + 1);
    best = min_d2(best, px, py, pz, b.x.data() + top, b.y.data() + top, b.z.data() + top, len);
    best = min_d2(best, px, py, pz, b.x.data() + bottom, b.y.data() + bottom, b.z.data() + bottom, len);
    best = min_d2(best, px, py, pz, b.xt.data() + right, b.yt.data() + right, b.zt.data() + right, len);
    best = min_d2(best, px, py, pz, b.xt.data() + left, b.yt.data() + left, b.zt.data() + left, len);
    return _mm512_cvtsd_f64(all_lanes_min(best));
  }

  // (chord − pixel radius)² from a squared chord (0 when negative), rounded down.
  double less_radius(double d2) const {
    const double chord = std::sqrt(d2) * (1 - 1e-12) - rho_;
    return chord > 0 ? chord * chord : 0.0;
  }

  // A squared chord at most that of every point outside the window of radius r around the pixel at local
  // (u, v), from the rings beyond it (in the face). An arc leaving the window's pixels crosses a pixel of each
  // ring, so the points beyond the ring at R are at chord ≥ min over it of (chord − pixel radius); the points on
  // the ring at r + 1 are its centres. The bound is the larger of (a) the ring at r + 1 less the pixel radius
  // and, when the block and face hold the ring at r + 2 (next_ring), (b) the smaller of the ring at r + 1's own
  // centres and the ring at r + 2 less the pixel radius.
  SPHAERA_AVX512 double bound2(const Block& b, int u, int v, int r, bool next_ring, const __m512d px, const __m512d py,
                               const __m512d pz) const {
    const double ring = ring_min(b, u, v, r + 1, px, py, pz);
    double bound = less_radius(ring);
    if (next_ring && r + 2 <= b.m) {
      bound = std::max(bound, std::min(ring, less_radius(ring_min(b, u, v, r + 2, px, py, pz))));
    }
    return bound;
  }

  // Whether kd < bound2(…), computing the ring at r + 2 only when (a) does not decide.
  SPHAERA_AVX512 bool below_bound(double kd, const Block& b, int u, int v, int r, bool next_ring, const __m512d px,
                                  const __m512d py, const __m512d pz) const {
    const double ring = ring_min(b, u, v, r + 1, px, py, pz);
    if (kd < less_radius(ring)) return true;
    if (!next_ring || r + 2 > b.m || !(kd < ring)) return false;
    return kd < less_radius(ring_min(b, u, v, r + 2, px, py, pz));
  }

  // The window's candidates (self excluded) with d² < t, compressed into b.cd / b.cid / b.cheb (their
  // Chebyshev distance); returns their number.
  SPHAERA_AVX512 int64_t window_below(Block& b, int u, int v, int r, const __m512d px, const __m512d py,
                                      const __m512d pz, double t) const {
    const __m512d vt = _mm512_set1_pd(t);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int len = 2 * r + 1;
    int64_t count = 0;
    for (int dy = -r; dy <= r; ++dy) {
      const int64_t row = static_cast<int64_t>(v + b.m + dy) * b.w + (u + b.m - r);
      const __m256i ady = _mm256_set1_epi32(dy < 0 ? -dy : dy);
      for (int c0 = 0; c0 < len; c0 += 8) {
        const int64_t o = row + c0;
        __mmask8 lanes = lane_mask(len - c0);
        if (dy == 0 && r >= c0 && r < c0 + 8) lanes &= static_cast<__mmask8>(~(1u << (r - c0)));  // self
        const __m512d d2 = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, lanes);
        const __mmask8 keep = _mm512_mask_cmp_pd_mask(lanes, d2, vt, _CMP_LT_OQ);
        const __m256i ids = _mm256_maskz_loadu_epi32(lanes, b.id.data() + o);
        const __m256i dx = _mm256_add_epi32(lane, _mm256_set1_epi32(c0 - r));
        const __m256i cheb = _mm256_max_epi32(ady, _mm256_abs_epi32(dx));
        // Cell code in the 7 × 7 window (dy + 3)·7 + dx + 3, or kFar beyond it; packed above the distance.
        const __m256i code =
            _mm256_mask_blend_epi32(_mm256_cmpgt_epi32_mask(cheb, _mm256_set1_epi32(3)),
                                    _mm256_add_epi32(dx, _mm256_set1_epi32((dy + 3) * 7 + 3)), _mm256_set1_epi32(kFar));
        const __m256i packed = _mm256_or_si256(cheb, _mm256_slli_epi32(code, 8));
        _mm512_storeu_pd(b.cd.data() + count, _mm512_maskz_compress_pd(keep, d2));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.cid.data() + count), _mm256_maskz_compress_epi32(keep, ids));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.cheb.data() + count),
                            _mm256_maskz_compress_epi32(keep, packed));
        count += __builtin_popcount(keep);
      }
    }
    return count;
  }

  // The k-th key among k ≤ count ≤ 32 candidates, by peeling off the largest values: the count − k largest lie
  // beyond the k-th place (the hint keeps them few). When the values at the k-th place are all kept, the k-th
  // key is the largest (d², index) among those left, and `reach` their largest Chebyshev distance. Returns
  // false when equal values straddle the k-th place (the caller then sorts).
  SPHAERA_AVX512 bool select_peel(const Block& b, int64_t count, double& kth_d2, int32_t& kth_id, int& reach,
                                  uint64_t& near) const {
    const int regs = static_cast<int>((count + 7) / 8);
    __m512d v[4];
    __mmask8 alive[4];
    for (int q = 0; q < regs; ++q) {
      alive[q] = lane_mask(count - 8 * q);
      v[q] = _mm512_maskz_loadu_pd(alive[q], b.cd.data() + 8 * q);
    }
    int64_t excess = count - k_;
    for (;;) {
      __m512d top = _mm512_set1_pd(-kInf);
      for (int q = 0; q < regs; ++q) top = _mm512_mask_max_pd(top, alive[q], top, v[q]);
      const double largest = _mm512_cvtsd_f64(all_lanes_max(top));
      const __m512d vl = _mm512_set1_pd(largest);
      __mmask8 at[4];
      int64_t tied = 0;
      for (int q = 0; q < regs; ++q) {
        at[q] = alive[q] & _mm512_cmp_pd_mask(v[q], vl, _CMP_EQ_OQ);
        tied += __builtin_popcount(at[q]);
      }
      if (tied <= excess) {
        for (int q = 0; q < regs; ++q) alive[q] &= static_cast<__mmask8>(~at[q]);
        excess -= tied;
        continue;
      }
      if (excess != 0) return false;
      __m512i best = _mm512_set1_epi64(-1);
      __m512i far = _mm512_setzero_si512();
      __m512i bits = _mm512_setzero_si512();
      const __m512i low = _mm512_set1_epi64(0xff);
      const __m512i one = _mm512_set1_epi64(1);
      for (int q = 0; q < regs; ++q) {
        const __m512i ids = _mm512_maskz_cvtepi32_epi64(0xff, _mm256_maskz_loadu_epi32(0xff, b.cid.data() + 8 * q));
        const __m512i packed = _mm512_maskz_cvtepi32_epi64(0xff, _mm256_maskz_loadu_epi32(0xff, b.cheb.data() + 8 * q));
        best = _mm512_mask_max_epi64(best, at[q], best, ids);
        far = _mm512_mask_max_epi64(far, alive[q], far, _mm512_and_si512(packed, low));
        bits = _mm512_mask_or_epi64(bits, alive[q], bits,
                                    _mm512_maskz_sllv_epi64(0xff, one, _mm512_maskz_srli_epi64(0xff, packed, 8)));
      }
      alignas(64) int64_t values[8];
      _mm512_store_si512(values, best);
      kth_id = static_cast<int32_t>(*std::max_element(values, values + 8));
      _mm512_store_si512(values, far);
      reach = static_cast<int>(*std::max_element(values, values + 8));
      _mm512_store_si512(values, bits);
      near = 0;
      for (int64_t x : values) near |= static_cast<uint64_t>(x);
      kth_d2 = largest;
      return true;
    }
  }

  static constexpr int kPatterns = 128;  // window corners: X mod 8, Y mod 8, and whose carry goes higher
  static constexpr int kCodeRun = 56;    // 49 codes padded to 7 runs of 8 (with kFar, never a member)

  const double* xyz_;
  std::vector<int32_t> nest_codes_;  // kPatterns × kCodeRun
  int64_t nside_;
  int k_;
  int first_;  // first window radius tried
  int m_;      // the block's margin: windows up to radius m − 1, their rings at m
  int w_;      // block width
  double rho_ = 0;
};

#endif

// ---- buckets for a point set -------------------------------------------------------------------------------------

// Rings of buckets scanned first around a query's bucket.
constexpr int kFirstRings = 2;

Buckets make_buckets(const SpherePoints& p, int k) {
  Buckets b;
  const int64_t n = p.n;
  if (p.healpix_nside > 0) {
    // Buckets of B² NEST pixels (B = nside / bucket nside): contiguous in NEST order.
    // Measured at nside 256: B = 4 for k ≤ 24 and B = 8 above, with two rings of buckets, need no widening.
    const int64_t B = std::min<int64_t>(k <= 24 ? 4 : 8, p.healpix_nside);
    b.nside = p.healpix_nside / B;
    int shift = 0;
    while ((int64_t{1} << shift) < B * B) ++shift;
    const int64_t nb = 12 * b.nside * b.nside;
    b.start.assign(nb + 1, 0);
    if (p.nest_pixels == nullptr) {
      for (int64_t q = 0; q <= nb; ++q) b.start[q] = q * B * B;
    } else {
      for (int64_t i = 0; i < n; ++i) ++b.start[(p.nest_pixels[i] >> shift) + 1];
      for (int64_t q = 0; q < nb; ++q) b.start[q + 1] += b.start[q];
    }
  } else {
    // Bucket level: about 16 (k ≤ 24) or 64 points per bucket.
    const int64_t per_bucket = k <= 24 ? 16 : 64;
    b.nside = 1;
    while (12 * (2 * b.nside) * (2 * b.nside) * per_bucket <= n && b.nside < 8192) b.nside *= 2;
    const int64_t nb = 12 * b.nside * b.nside;
    std::vector<int64_t> bucket_of(n);
    {
      const T_Healpix_Base<int64> base(b.nside, NEST, SET_NSIDE);
      const double* xyz = p.xyz;
#pragma omp parallel for schedule(static) if (n > 20000)
      for (int64_t i = 0; i < n; ++i) {
        bucket_of[i] = base.vec2pix(vec3(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]));
      }
    }
    // Counting sort by bucket (stable: increasing index within a bucket).
    b.start.assign(nb + 1, 0);
    for (int64_t i = 0; i < n; ++i) ++b.start[bucket_of[i] + 1];
    for (int64_t q = 0; q < nb; ++q) b.start[q + 1] += b.start[q];
    b.order.resize(n);
    std::vector<int64_t> fill(b.start.begin(), b.start.end() - 1);
    for (int64_t i = 0; i < n; ++i) b.order[fill[bucket_of[i]]++] = static_cast<int32_t>(i);
  }
  compute_centres(b);
  return b;
}

void check_points(const SpherePoints& p, int k) {
  SPHAERA_CHECK(p.n >= 0 && p.n < (int64_t{1} << 31), "nearest neighbours: ", p.n, " points exceed int32 indices");
  SPHAERA_CHECK(p.n == 0 || p.xyz != nullptr, "nearest neighbours: no coordinates");
  SPHAERA_CHECK(k >= 1, "nearest neighbours: k must be ≥ 1, got ", k);
}

NearestNeighbours allocate(int64_t n, int k, std::shared_ptr<int32_t[]> storage) {
  NearestNeighbours r;
  r.points = n;
  r.k = static_cast<int>(std::min<int64_t>(k, std::max<int64_t>(n - 1, 0)));
  r.index = storage != nullptr
                ? std::move(storage)
                : std::shared_ptr<int32_t[]>(new int32_t[std::max<int64_t>(n * r.k, 1)]);  // uninitialised
  r.kth_dist2.assign(n, 0.0);
  r.kth_index.assign(n, -1);
  return r;
}

// The row's entries from its weights w = exp(−c·d²) (diagonal slot included when there is one): W, D − W, or
// for the normalized matrix W with the degree on the diagonal (rescaled afterwards). Degrees as DegreeSum.
double finish_row(int64_t i, const int32_t* col, double* val, int64_t m, GraphMatrix matrix) {
  const int64_t diag = std::find(col, col + m, static_cast<int32_t>(i)) - col;  // m: none
  DegreeSum sum;
  sum.add(val, diag);
  if (diag < m) sum.add(val + diag + 1, m - diag - 1);
  const double deg = sum.total();
  if (matrix == GraphMatrix::kCombinatorial) {
    for (int64_t t = 0; t < m; ++t) val[t] = -val[t];
  }
  if (diag < m) val[diag] = deg;
  return deg;
}

// W with the degrees on the diagonal -> I − D^-½ W D^-½ (an isolated vertex gets L_ii = 0, as pygsp).
void normalize(core::CsrArrays& a, const double* degree) {
  const int64_t n = a.rows;
  core::Buffer<double> inv_sqrt(n);
  for (int64_t i = 0; i < n; ++i) inv_sqrt[i] = degree[i] > 0 ? 1.0 / std::sqrt(degree[i]) : 0.0;
  const int64_t* rp = a.row_ptr.data();
  const int32_t* col = a.col.data();
  double* v = a.val.data();
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t t = rp[i]; t < rp[i + 1]; ++t) {
      const int64_t j = col[t];
      v[t] = j == i ? (degree[i] > 0 ? 1.0 : 0.0) : -(inv_sqrt[i] * v[t]) * inv_sqrt[j];
    }
  }
}

// Maps the pages of a fresh array before it is written, each thread a share: one madvise per thread costs less
// than a page fault per 4 KiB page (3.3 GB of rows at nside 1024). Does nothing where the kernel cannot
// (Linux < 5.14, other systems): the pages then come on first touch as usual.
template <typename T>
void prefault(T* data, int64_t n) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
  const uintptr_t page = 4096;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data + n)) & ~(page - 1);
  if (end <= begin + (64u << 20)) return;
#pragma omp parallel
  {
    const uintptr_t threads = static_cast<uintptr_t>(omp_get_num_threads());
    const uintptr_t share = ((end - begin) / threads) & ~(page - 1);
    const uintptr_t t = static_cast<uintptr_t>(omp_get_thread_num());
    const uintptr_t a = begin + t * share, e = t + 1 == threads ? end : a + share;
    madvise(reinterpret_cast<void*>(a), e - a, MADV_POPULATE_WRITE);  // a failure only leaves the pages to faults
  }
#else
  (void)data;
  (void)n;
#endif
}

#ifdef SPHAERA_HAVE_AVX512_SCAN
// Copies with non-temporal stores where whole cache lines are written: the output (GBs) is not read first.
template <typename T>
SPHAERA_AVX512 void stream_copy(T* dst, const T* src, int64_t n) {
  constexpr int64_t kLane = 64 / sizeof(T);
  int64_t i = 0;
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0; ++i) dst[i] = src[i];
  for (; i + kLane <= n; i += kLane) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
  }
  for (; i < n; ++i) dst[i] = src[i];
}

// stream_copy of column indices, each plus `shift`.
SPHAERA_AVX512 void stream_copy_shifted(int32_t* dst, const int32_t* src, int64_t n, int32_t shift) {
  int64_t i = 0;
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0; ++i) dst[i] = src[i] + shift;
  const __m512i add = _mm512_set1_epi32(shift);
  for (; i + 16 <= n; i += 16) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_add_epi32(_mm512_loadu_si512(src + i), add));
  }
  for (; i < n; ++i) dst[i] = src[i] + shift;
}
#endif

}  // namespace

NearestNeighbours nearest_neighbours(const SpherePoints& points, int k, std::shared_ptr<int32_t[]> storage) {
  check_points(points, k);
  NearestNeighbours result = allocate(points.n, k, std::move(storage));
  if (result.k == 0) return result;
  const Buckets b = make_buckets(points, result.k);
  result.expanded_queries = Searcher(points.xyz, points.n, result.k, b, kFirstRings)
                                .run(result.index.get(), result.kth_dist2.data(), result.kth_index.data(), false);
  return result;
}

NearestNeighbours brute_force_nearest_neighbours(const SpherePoints& points, int k) {
  check_points(points, k);
  const int64_t n = points.n;
  NearestNeighbours result = allocate(n, k, nullptr);
  const int kk = result.k;
  if (kk == 0) return result;
  const double* xyz = points.xyz;
#pragma omp parallel if (n > 2000)
  {
    std::vector<Candidate> all;
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; ++i) {
      all.clear();
      for (int64_t j = 0; j < n; ++j) {
        if (j != i) all.push_back({chord2(xyz + 3 * i, xyz + 3 * j), static_cast<int32_t>(j)});
      }
      std::partial_sort(all.begin(), all.begin() + kk, all.end(), key_less);
      int32_t* out = result.index.get() + i * kk;
      for (int j = 0; j < kk; ++j) out[j] = all[j].id;
      std::sort(out, out + kk);
      result.kth_dist2[i] = all[kk - 1].d2;
      result.kth_index[i] = all[kk - 1].id;
    }
  }
  return result;
}

bool rows_of_faces_turned(const SpherePoints& p) {
  if (!p.full_healpix_sky()) return false;
  const int64_t per_face = p.n / 12;
  const double* xyz = p.xyz;
  bool turned = true;
#pragma omp parallel for schedule(static) reduction(&& : turned)
  for (int64_t c = 0; c < 9 * per_face; ++c) {
    const int64_t quarter = 1 + (c / per_face) % 3;
    const int64_t from = (c / (3 * per_face)) * 4 * per_face + c % per_face, to = from + quarter * per_face;
    const double x = xyz[3 * from], y = xyz[3 * from + 1];
    const double tx[4] = {x, -y, -x, y}, ty[4] = {y, x, -y, -x};
    turned =
        turned && xyz[3 * to] == tx[quarter] && xyz[3 * to + 1] == ty[quarter] && xyz[3 * to + 2] == xyz[3 * from + 2];
  }
  return turned;
}

bool knn_tiles_available() {
#ifdef SPHAERA_HAVE_AVX512_SCAN
  return cpu_has_avx512();
#else
  return false;
#endif
}

core::CsrArrays symmetric_knn_graph(const SpherePoints& points, const KnnGraphOptions& options) {
  check_points(points, options.k);
  const int64_t n = points.n;
  const int k = static_cast<int>(std::min<int64_t>(options.k, std::max<int64_t>(n - 1, 0)));
  const bool diagonal = options.matrix != GraphMatrix::kAdjacency;
  const double c = options.c;
  core::CsrArrays out;
  out.rows = out.cols = n;
  out.row_ptr = core::Buffer<int64_t>(n + 1);
  int64_t* rp = out.row_ptr.data();
  rp[0] = 0;
  if (options.tiled_rows != nullptr) *options.tiled_rows = 0;
  if (k == 0) {  // no edges: an empty matrix, or the zero diagonal of the Laplacians
    for (int64_t i = 0; i < n; ++i) rp[i + 1] = rp[i] + (diagonal ? 1 : 0);
    out.col = core::Buffer<int32_t>(rp[n]);
    out.val = core::Buffer<double>(rp[n]);
    for (int64_t i = 0; i < rp[n]; ++i) {
      out.col[i] = static_cast<int32_t>(i);
      out.val[i] = 0.0;
    }
    return out;
  }
  PhaseTimer timer("graph:  ");  // SPHAERA_GRAPH_TIMING: the time of each pass on stderr
  auto phase = [&](const char* what, int64_t count, const char* of) { timer.lap(what, count, of); };
  const Buckets buckets = make_buckets(points, k);
  const Searcher searcher(points.xyz, n, k, buckets, kFirstRings);
  core::Buffer<double> kth_d2(n);
  core::Buffer<int32_t> kth_id(n);
  std::fill(kth_id.begin(), kth_id.end(), -1);

  // extent[i]: for a pixel the tiles answered, the Chebyshev extent of its k nearest (≥ 1), else 0.
  // chosen[i]: i is among the k nearest of a point the bucket search answered.
  core::Buffer<uint8_t> extent(n);
  std::fill(extent.begin(), extent.end(), uint8_t{0});
  core::Buffer<uint8_t> chosen(n);
  std::fill(chosen.begin(), chosen.end(), uint8_t{0});
  core::Buffer<uint64_t> near;  // the tiles' bits of each proven pixel's k nearest (7 × 7 window)
#ifdef SPHAERA_HAVE_AVX512_SCAN
  std::unique_ptr<Tiles> tiles;
  if (options.tiles && points.full_healpix_sky() && Tiles::applies(points.healpix_nside, k) && knn_tiles_available()) {
    tiles = std::make_unique<Tiles>(points.xyz, points.healpix_nside, k);
    near = core::Buffer<uint64_t>(n);
    std::fill(near.begin(), near.end(), uint64_t{0});
  }
#endif

  phase("set-up", n, "points");
  // Pass 1: every point's k-th key, tiled where possible, then the bucket search for the rest. When each row of
  // faces is its first face turned, exactly (as healpix_nest_directions makes them), the tiles run on faces 0,
  // 4 and 8 only: a pixel the tiles prove has its k nearest in its own face, at the same distances as its
  // counterparts' in the row's other faces (turns only swap and negate coordinates), so they get its answer,
  // their indices shifted by whole faces (which keeps their order). So do the tiled rows in passes 2 and 3.
  bool turned = false;
  int64_t per_face_tiles = 0, tile_count = 0, faces = 1;
  const int64_t per_face = n / 12;
  auto tile_of = [&](int64_t c) {  // the c-th tile searched: of faces 0, 4 and 8 only when turned
    return turned ? (c / per_face_tiles) * 4 * per_face_tiles + c % per_face_tiles : c;
  };
#ifdef SPHAERA_HAVE_AVX512_SCAN
  if (tiles) {
    turned = rows_of_faces_turned(points);
    per_face_tiles = tiles->count() / 12;
    tile_count = turned ? 3 * per_face_tiles : tiles->count();
    faces = turned ? 4 : 1;
#pragma omp parallel
    {
      Tiles::Block block;
      tiles->reserve(block);
#pragma omp for schedule(dynamic, 4)
      for (int64_t c = 0; c < tile_count; ++c) {
        const int64_t t = tile_of(c);
        tiles->load(t, block, tiles->margin(), nullptr, nullptr);
        tiles->kth_keys(block, kth_d2.data(), kth_id.data(), extent.data(), near.data());
      }
    }
    if (turned) {
#pragma omp parallel for schedule(static)
      for (int64_t c = 0; c < 9 * per_face; ++c) {
        const int64_t quarter = 1 + (c / per_face) % 3;
        const int64_t from = (c / (3 * per_face)) * 4 * per_face + c % per_face, to = from + quarter * per_face;
        if (extent[from] == 0) continue;
        kth_d2[to] = kth_d2[from];
        kth_id[to] = kth_id[from] + static_cast<int32_t>(quarter * per_face);
        extent[to] = extent[from];
        near[to] = near[from];
      }
    }
  }
#endif
  int64_t left = 0;
  for (int64_t i = 0; i < n; ++i) left += kth_id[i] < 0;
  phase("k-th keys, tiles", n - left, "points");
  searcher.run(nullptr, kth_d2.data(), kth_id.data(), true, chosen.data());
  phase("k-th keys, buckets", left, "points");
  double kstar = 0;
  int row_radius = 0;  // the largest extent: every tiled row lies in the window of this radius
  for (int64_t i = 0; i < n; ++i) {
    kstar = std::max(kstar, kth_d2[i]);
    row_radius = std::max(row_radius, static_cast<int>(extent[i]));
  }

  // Rows: a pixel the tiles answered, chosen by no point of the bucket search, takes the tiled path (its
  // window of the block's largest extent holds the row); the others the bucket path. Pass 2 counts (and keeps
  // the bucket path's rows), pass 3 writes.
  core::Buffer<uint8_t> tiled(n);
  std::fill(tiled.begin(), tiled.end(), uint8_t{0});
  int64_t tiled_count = 0;
  core::Buffer<double> degree(options.matrix == GraphMatrix::kNormalized ? n : 0);
  // The bucket path's rows that pass 2 keeps for pass 3, per thread.
  struct KeptRows {
    std::vector<int32_t> row;
    std::vector<int64_t> start;
    std::vector<Candidate> members;
  };
  std::vector<KeptRows> kept(static_cast<size_t>(std::max(1, omp_get_max_threads())));
  auto rows = [&](bool write) {
    int32_t* col = write ? out.col.data() : nullptr;
    double* val = write ? out.val.data() : nullptr;
    double* deg = options.matrix == GraphMatrix::kNormalized ? degree.data() : nullptr;
#ifdef SPHAERA_HAVE_AVX512_SCAN
    if (tiles) {
#pragma omp parallel
      {
        Tiles::Block block;
        tiles->reserve(block);
        // The rows of a tile are built in cache, then streamed out (to each face of the row when turned).
        constexpr int kPixels = Tiles::kTile * Tiles::kTile;
        const int64_t widest = static_cast<int64_t>(2 * row_radius + 1) * (2 * row_radius + 1) + 1;
        std::vector<int32_t> staged_col(write ? kPixels * widest + 16 : 0);
        std::vector<double> staged_val(staged_col.size());
        int64_t start[kPixels + 1];
        double staged_degree[kPixels];
        bool tileable[kPixels];
#pragma omp for schedule(dynamic, 4)
        for (int64_t c0 = 0; c0 < tile_count; ++c0) {
          const int64_t t = tile_of(c0);
          // Rows come from pass 1's bits when every extent fits their 7 × 7 windows.
          const bool from_bits = row_radius <= 3;
          if (from_bits && !write) {
            tiles->load_bits(t, block, near.data());
          } else if (from_bits) {
            tiles->load(t, block, 3, kth_d2.data(), kth_id.data(), near.data());
          } else {
            tiles->load(t, block, row_radius, kth_d2.data(), kth_id.data());
          }
          const int r = from_bits ? 3 : row_radius;  // sorted_row reads the 7 × 7 window
          // A pixel's row can be tiled when the tiles proved it and its window lies in the face; it is, unless
          // a point of the bucket search chose it (in each face of the row separately).
          int64_t pos = 0;
          for (int l = 0; l < kPixels; ++l) {
            const int64_t i = block.first + l;
            int u, v;
            tileable[l] = tiles->inside(block, l, r, u, v) && extent[i] > 0;
            start[l] = pos;
            if (!tileable[l]) continue;
            if (!write) {
              const int64_t size = from_bits ? tiles->row_size_from_bits(block, u, v, diagonal)
                                             : tiles->row(block, l, u, v, r, diagonal, c, nullptr, nullptr);
              for (int64_t q = 0; q < faces; ++q) {
                const int64_t j = i + q * per_face;
                tiled[j] = !chosen[j];
                if (tiled[j]) rp[j + 1] = size;
              }
              continue;
            }
            pos +=
                from_bits
                    ? tiles->sorted_row(block, l, u, v, diagonal, c, staged_col.data() + pos, staged_val.data() + pos)
                    : tiles->row(block, l, u, v, r, diagonal, c, staged_col.data() + pos, staged_val.data() + pos);
          }
          start[kPixels] = pos;
          if (!write) continue;
          exp_nonpositive_inplace(staged_val.data(), pos);
          for (int l = 0; l < kPixels; ++l) {
            if (!tileable[l]) continue;
            staged_degree[l] = finish_row(block.first + l, staged_col.data() + start[l], staged_val.data() + start[l],
                                          start[l + 1] - start[l], options.matrix);
          }
          // Runs of rows tiled in face q go out whole; the indices shift by q faces.
          for (int64_t q = 0; q < faces; ++q) {
            const int32_t shift = static_cast<int32_t>(q * per_face);
            for (int l = 0; l < kPixels;) {
              const int64_t i = block.first + l + q * per_face;
              if (!tiled[i]) {
                ++l;
                continue;
              }
              int e = l;
              while (e < kPixels && tiled[block.first + e + q * per_face]) ++e;
              const int64_t total = start[e] - start[l];
              stream_copy_shifted(col + rp[i], staged_col.data() + start[l], total, shift);
              stream_copy(val + rp[i], staged_val.data() + start[l], total);
              if (deg != nullptr) {
                for (int x = l; x < e; ++x) deg[block.first + x + q * per_face] = staged_degree[x];
              }
              l = e;
            }
          }
        }
        _mm_sfence();
      }
    }
#endif
    if (!write) {
      int64_t count = 0;
      for (int64_t i = 0; i < n; ++i) count += tiled[i];
      tiled_count = count;
    }
    phase(write ? "rows, tiles" : "row sizes, tiles", tiled_count, "rows");
    // Pass 2 keeps the bucket path's rows for pass 3 when they are few (near the base-face edges of a tiled
    // sky); else (other point sets, or no tiles) pass 3 searches them again, which needs no memory.
    const bool keep = (n - tiled_count) * 8 <= n;
    auto write_row = [&](int32_t i, const Candidate* members) {
      const int64_t m = rp[i + 1] - rp[i];
      for (int64_t t = 0; t < m; ++t) {
        col[rp[i] + t] = members[t].id;
        val[rp[i] + t] = -c * members[t].d2;
      }
      exp_nonpositive_inplace(val + rp[i], m);
      const double d = finish_row(i, col + rp[i], val + rp[i], m, options.matrix);
      if (deg != nullptr) deg[i] = d;
    };
    if (write && keep) {
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t list = 0; list < static_cast<int64_t>(kept.size()); ++list) {
        const KeptRows& rows_kept = kept[list];
        for (size_t r = 0; r < rows_kept.row.size(); ++r) {
          write_row(rows_kept.row[r], rows_kept.members.data() + rows_kept.start[r]);
        }
      }
      return;
    }
#pragma omp parallel if (n > 20000)
    {
      Scratch s, wide;
      std::vector<Candidate> members;
      KeptRows& mine = kept[omp_in_parallel() ? omp_get_thread_num() : 0];
#pragma omp for schedule(dynamic, 64)
      for (int64_t q = 0; q < searcher.buckets(); ++q) {
        bool any = false;
        for (int64_t pos = searcher.bucket_begin(q); pos < searcher.bucket_end(q) && !any; ++pos) {
          any = !tiled[searcher.point(pos)];
        }
        if (!any) continue;
        searcher.gather(q, searcher.first_rings(), s);
        for (int64_t pos = searcher.bucket_begin(q); pos < searcher.bucket_end(q); ++pos) {
          const int32_t i = searcher.point(pos);
          if (tiled[i]) continue;
          searcher.row_members(i, q, kstar, kth_d2.data(), kth_id.data(), diagonal, s, wide, members);
          if (write) {
            write_row(i, members.data());
            continue;
          }
          rp[i + 1] = static_cast<int64_t>(members.size());
          if (!keep) continue;
          mine.row.push_back(i);
          mine.start.push_back(static_cast<int64_t>(mine.members.size()));
          mine.members.insert(mine.members.end(), members.begin(), members.end());
        }
      }
    }
  };
  rows(false);
  phase("row sizes, buckets", n - tiled_count, "rows");
  for (int64_t i = 0; i < n; ++i) rp[i + 1] += rp[i];
  out.col = core::Buffer<int32_t>(rp[n]);
  out.val = core::Buffer<double>(rp[n]);
  prefault(out.col.data(), rp[n]);
  prefault(out.val.data(), rp[n]);
  phase("mapping the rows", rp[n], "entries");
  rows(true);
  phase("rows, buckets", n - tiled_count, "rows");
  if (options.tiled_rows != nullptr) *options.tiled_rows = tiled_count;

  if (options.matrix == GraphMatrix::kNormalized) normalize(out, degree.data());
  return out;
}

void weights_to_matrix(core::CsrArrays& a, GraphMatrix what) {
  const int64_t n = a.rows;
  core::Buffer<double> degree(what == GraphMatrix::kNormalized ? n : 0);
  const int64_t* rp = a.row_ptr.data();
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    const double d = finish_row(i, a.col.data() + rp[i], a.val.data() + rp[i], rp[i + 1] - rp[i], what);
    if (what == GraphMatrix::kNormalized) degree[i] = d;
  }
  if (what == GraphMatrix::kNormalized) normalize(a, degree.data());
}

}  // namespace sphaera::transforms
