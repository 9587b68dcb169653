#include "sphaera/transforms/knn.h"

#include <omp.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <ATen/ATen.h>
#include <healpix_base.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/healpix_grid.h"

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
  int64_t nside = 1;             // bucket level
  std::vector<int64_t> start;    // [12 nside² + 1]: bucket b holds sorted positions [start[b], start[b+1])
  std::vector<int32_t> order;    // sorted position -> point index (empty: identity)
  std::vector<double> centres;   // [12 nside² · 3] unit vectors of the bucket centres
  double radius = 0;             // bound of the angle between a bucket's centre and any point of it
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

using ScanFn = int64_t (*)(double px, double py, double pz, double t, int32_t self, const double* cx,
                           const double* cy, const double* cz, const int32_t* cid, int64_t b, int64_t e, double* kd,
                           int32_t* kid, int64_t count);

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
// AVX-512: 8 candidates per step, compress-stores of the kept ones. The additions use explicit rounding
// (vaddpd {rn-sae}), which the compiler cannot fuse with the products: the same doubles as scan_generic.
__attribute__((target("avx512f,avx512vl"))) int64_t scan_avx512(double px, double py, double pz, double t,
                                                                  int32_t self, const double* cx, const double* cy,
                                                                  const double* cz, const int32_t* cid, int64_t b,
                                                                  int64_t e, double* kd, int32_t* kid,
                                                                  int64_t count) {
  const __m512d vx = _mm512_set1_pd(px), vy = _mm512_set1_pd(py), vz = _mm512_set1_pd(pz);
  const __m512d vt = _mm512_set1_pd(t);
  const __m256i vself = _mm256_set1_epi32(self);
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int64_t j = b; j < e; j += 8) {
    const __mmask8 lanes = e - j >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << (e - j)) - 1);
    const __m512d dx = _mm512_sub_pd(vx, _mm512_maskz_loadu_pd(lanes, cx + j));
    const __m512d dy = _mm512_sub_pd(vy, _mm512_maskz_loadu_pd(lanes, cy + j));
    const __m512d dz = _mm512_sub_pd(vz, _mm512_maskz_loadu_pd(lanes, cz + j));
    const __m512d xy = _mm512_maskz_add_round_pd(0xff, _mm512_mul_pd(dx, dx), _mm512_mul_pd(dy, dy), kRound);
    const __m512d d2 = _mm512_maskz_add_round_pd(0xff, xy, _mm512_mul_pd(dz, dz), kRound);
    const __m256i ids = _mm256_maskz_loadu_epi32(lanes, cid + j);
    const __mmask8 keep = _mm512_mask_cmp_pd_mask(lanes, d2, vt, _CMP_LT_OQ) &
                          _mm256_mask_cmpneq_epi32_mask(lanes, ids, vself);
    _mm512_mask_compressstoreu_pd(kd + count, keep, d2);
    _mm256_mask_compressstoreu_epi32(kid + count, keep, ids);
    count += __builtin_popcount(keep);
  }
  return count;
}
#endif

ScanFn pick_scan() {
#ifdef SPHAERA_HAVE_AVX512_SCAN
  if (std::getenv("SPHAERA_NO_AVX512") == nullptr && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl")) {
    return scan_avx512;
  }
#endif
  return scan_generic;
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
  std::vector<double> kd, select;  // kept candidates: squared distances and indices, in candidate order
  std::vector<int32_t> kid, ties;
};

class Searcher {
 public:
  Searcher(const double* xyz, int64_t n, int k, const Buckets& buckets, int first_rings)
      : xyz_(xyz), n_(n), k_(k), b_(buckets), walker_(buckets.nside), first_rings_(first_rings), scan_(pick_scan()) {
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

  void run(NearestNeighbours& result) const {
    const int64_t nb = static_cast<int64_t>(b_.start.size()) - 1;
    int64_t expanded = 0;
#pragma omp parallel reduction(+ : expanded) if (n_ > 20000)
    {
      Scratch s, wide;
#pragma omp for schedule(dynamic, 64)
      for (int64_t q = 0; q < nb; ++q) {
        if (b_.start[q] == b_.start[q + 1]) continue;
        gather(q, first_rings_, s);
        double hint = 0;
        for (int64_t pos = b_.start[q]; pos < b_.start[q + 1]; ++pos) {
          const int32_t id = b_.order.empty() ? static_cast<int32_t>(pos) : b_.order[pos];
          int32_t* out = result.index.get() + static_cast<int64_t>(id) * k_;
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
          result.kth_dist2[id] = kd;
          result.kth_index[id] = ki;
        }
      }
    }
    result.expanded_queries = expanded;
  }

 private:
  const double* xyz_;
  int64_t n_;
  int k_;
  const Buckets& b_;
  RingWalker walker_;
  int first_rings_;
  ScanFn scan_;
  double rho_ = 0;
  // The next query of a bucket (a neighbouring pixel) keeps the candidates below 1.1 × this one's k-th
  // squared distance; rarely too few (then the proven bound is used).
  double hint_factor_ = 1.1;
};

NearestNeighbours allocate(int64_t n, int k, std::shared_ptr<int32_t[]> storage = {}) {
  NearestNeighbours r;
  r.points = n;
  r.k = static_cast<int>(std::min<int64_t>(k, std::max<int64_t>(n - 1, 0)));
  r.index = storage != nullptr ? std::move(storage)
                              : std::shared_ptr<int32_t[]>(new int32_t[std::max<int64_t>(n * r.k, 1)]);  // uninitialised
  r.kth_dist2.assign(n, 0.0);
  r.kth_index.assign(n, -1);
  return r;
}

at::Tensor checked_directions(const at::Tensor& directions, int k) {
  SPHAERA_CHECK(directions.defined() && directions.dim() == 2 && directions.size(1) == 3,
                "nearest_neighbours: directions must be [n, 3], got ",
                directions.defined() ? directions.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(directions.size(0) < (int64_t{1} << 31), "nearest_neighbours: ", directions.size(0),
                " points exceed int32 indices");
  SPHAERA_CHECK(k >= 1, "nearest_neighbours: k must be ≥ 1, got ", k);
  return directions.to(at::kCPU, at::kDouble).contiguous();
}

// Rings of buckets scanned first around a query's bucket, the buckets holding about 16 (k ≤ 24) or 64 points.
constexpr int kFirstRings = 2;

}  // namespace

NearestNeighbours nearest_neighbours(const at::Tensor& directions, int k, std::shared_ptr<int32_t[]> storage) {
  const auto dirs = checked_directions(directions, k);
  const int64_t n = dirs.size(0);
  NearestNeighbours result = allocate(n, k, std::move(storage));
  if (result.k == 0) return result;
  // Bucket level: about 16 (k ≤ 24) or 64 points per bucket.
  const int64_t per_bucket = result.k <= 24 ? 16 : 64;
  Buckets b;
  b.nside = 1;
  while (12 * (2 * b.nside) * (2 * b.nside) * per_bucket <= n && b.nside < 8192) b.nside *= 2;
  const int64_t nb = 12 * b.nside * b.nside;
  const double* xyz = dirs.data_ptr<double>();
  std::vector<int64_t> bucket_of(n);
  {
    const T_Healpix_Base<int64> base(b.nside, NEST, SET_NSIDE);
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
  {
    std::vector<int64_t> fill(b.start.begin(), b.start.end() - 1);
    for (int64_t i = 0; i < n; ++i) b.order[fill[bucket_of[i]]++] = static_cast<int32_t>(i);
  }
  compute_centres(b);
  Searcher(xyz, n, result.k, b, kFirstRings).run(result);
  return result;
}

NearestNeighbours nearest_neighbours(const HealpixGrid& grid, int k, std::shared_ptr<int32_t[]> storage) {
  SPHAERA_CHECK(k >= 1, "nearest_neighbours: k must be ≥ 1, got ", k);
  const int64_t n = grid.size();
  NearestNeighbours result = allocate(n, k, std::move(storage));
  if (result.k == 0) return result;
  const auto dirs = grid.directions();
  // Buckets of B² NEST pixels (B = nside / bucket nside): contiguous in NEST order.
  // Measured at nside 256: B = 4 for k ≤ 24 and B = 8 above, with two rings of buckets, need no widening.
  int64_t B = std::min<int64_t>(result.k <= 24 ? 4 : 8, grid.nside());
  Buckets b;
  b.nside = grid.nside() / B;
  int shift = 0;
  while ((int64_t{1} << shift) < B * B) ++shift;
  const int64_t nb = 12 * b.nside * b.nside;
  b.start.assign(nb + 1, 0);
  if (grid.is_full_sky()) {
    for (int64_t q = 0; q <= nb; ++q) b.start[q] = q * B * B;
  } else {
    const int64_t* pix = grid.nest_pixels().data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) ++b.start[(pix[i] >> shift) + 1];
    for (int64_t q = 0; q < nb; ++q) b.start[q + 1] += b.start[q];
  }
  compute_centres(b);
  Searcher(dirs.data_ptr<double>(), n, result.k, b, kFirstRings).run(result);
  return result;
}

NearestNeighbours brute_force_nearest_neighbours(const at::Tensor& directions, int k) {
  const auto dirs = checked_directions(directions, k);
  const int64_t n = dirs.size(0);
  NearestNeighbours result = allocate(n, k);
  const int kk = result.k;
  if (kk == 0) return result;
  const double* xyz = dirs.data_ptr<double>();
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

}  // namespace sphaera::transforms
