#include "sphaera/transforms/knn.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <healpix_base.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/buffers.h"
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
  // max_pixrad is the largest centre-to-corner angle; HEALPix pixel edges are not great circles, so allow a
  // margin (checked in tests against points sampled densely on the pixel boundaries).
  b.radius = base.max_pixrad() * 1.05 + 1e-12;
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

inline bool key_less(const Candidate& a, const Candidate& b) { return a.d2 < b.d2 || (a.d2 == b.d2 && a.id < b.id); }

// Per-thread scratch space of the search.
struct Scratch {
  std::vector<int64_t> list;
  std::vector<int64_t> ring_start;
  std::vector<double> cx, cy, cz, d2;
  std::vector<int32_t> cid;
  std::vector<Candidate> kept;
};

class Searcher {
 public:
  Searcher(const double* xyz, int64_t n, int k, const Buckets& buckets, int first_rings)
      : xyz_(xyz), n_(n), k_(k), b_(buckets), walker_(buckets.nside), first_rings_(first_rings) {}

  // Gathers the points of rings 0..r (candidates) and returns the number of buckets in ring r + 1.
  void gather(int64_t bucket, int r, Scratch& s) const {
    walker_.rings(bucket, r + 1, s.list, s.ring_start);
    s.cx.clear();
    s.cy.clear();
    s.cz.clear();
    s.cid.clear();
    const int64_t end = s.ring_start[r + 1];
    for (int64_t t = 0; t < end; ++t) {
      const int64_t q = s.list[t];
      for (int64_t p = b_.start[q]; p < b_.start[q + 1]; ++p) {
        const int32_t id = b_.order.empty() ? static_cast<int32_t>(p) : b_.order[p];
        s.cx.push_back(xyz_[3 * id]);
        s.cy.push_back(xyz_[3 * id + 1]);
        s.cz.push_back(xyz_[3 * id + 2]);
        s.cid.push_back(id);
      }
    }
  }

  // Squared chord below which every point of the sphere is among the gathered candidates (ring r + 1 bounds).
  double bound2(const double* p, int r, const Scratch& s) const {
    const int64_t begin = s.ring_start[r + 1];
    const int64_t end = s.ring_start[r + 2];
    if (begin == end) return kInf;  // the rings cover the whole sphere
    double best = kInf;
    for (int64_t t = begin; t < end; ++t) best = std::min(best, chord2(p, &b_.centres[3 * s.list[t]]));
    const double angle = 2.0 * std::asin(std::min(1.0, 0.5 * std::sqrt(best))) - b_.radius;
    if (angle <= 0) return 0;
    if (angle >= M_PI) return kInf;
    const double chord = 2.0 * std::sin(0.5 * angle);
    return chord * chord * (1.0 - 1e-12);
  }

  // Tries to answer the query `id` from the gathered candidates; `hint` is a guess of its k-th squared distance
  // (0: none). Returns false when the candidates are not proven to contain the answer.
  bool answer(int32_t id, int r, double hint, Scratch& s, int32_t* out, double& kth_d2, int32_t& kth_id) const {
    const double* p = xyz_ + 3 * static_cast<int64_t>(id);
    const int64_t m = static_cast<int64_t>(s.cid.size());
    s.d2.resize(m);
    const double px = p[0], py = p[1], pz = p[2];
    const double* cx = s.cx.data();
    const double* cy = s.cy.data();
    const double* cz = s.cz.data();
    double* d2 = s.d2.data();
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) {
      const double dx = px - cx[j];
      const double dy = py - cy[j];
      const double dz = pz - cz[j];
      d2[j] = (dx * dx + dy * dy) + dz * dz;
    }
    const double bound = bound2(p, r, s);
    // Every point with d² < t is a candidate as long as t ≤ bound; a tighter t keeps fewer to sort.
    double t = (hint > 0 && hint < bound) ? hint : bound;
    for (;;) {
      s.kept.clear();
      for (int64_t j = 0; j < m; ++j) {
        if (d2[j] < t && s.cid[j] != id) s.kept.push_back({d2[j], s.cid[j]});
      }
      if (static_cast<int>(s.kept.size()) >= k_) break;
      if (t >= bound) return false;
      t = bound;
    }
    auto& kept = s.kept;
    std::partial_sort(kept.begin(), kept.begin() + k_, kept.end(), key_less);
    kth_d2 = kept[k_ - 1].d2;
    kth_id = kept[k_ - 1].id;
    for (int j = 0; j < k_; ++j) out[j] = kept[j].id;
    std::sort(out, out + k_);
    return true;
  }

  void run(NearestNeighbours& result) const {
    const int64_t nb = static_cast<int64_t>(b_.start.size()) - 1;
    int64_t expanded = 0;
#pragma omp parallel reduction(+ : expanded) if (n_ > 20000)
    {
      Scratch s;
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
          if (answer(id, first_rings_, hint, s, out, kd, ki)) {
            hint = kd * 1.25;
          } else {
            // Widen the search for this query alone, then restore the bucket's candidates.
            ++expanded;
            Scratch wide;
            int r = first_rings_ + 1;
            for (;; ++r) {
              gather(q, r, wide);
              if (answer(id, r, 0, wide, out, kd, ki)) break;
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
};

NearestNeighbours allocate(int64_t n, int k) {
  NearestNeighbours r;
  r.points = n;
  r.k = static_cast<int>(std::min<int64_t>(k, std::max<int64_t>(n - 1, 0)));
  r.index = allocate_huge<int32_t>(n * r.k);
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

// First number of rings to scan so that it usually holds the k nearest: about 3k points in the scanned
// buckets, and at least 2 rings (the bound loses about one bucket radius).
int first_rings(int k, double points_per_bucket) {
  int r = 1;
  while ((2 * r + 1) * (2 * r + 1) * points_per_bucket < 3.0 * k + 8) ++r;
  return std::max(r, 2);
}

}  // namespace

NearestNeighbours nearest_neighbours(const at::Tensor& directions, int k) {
  const auto dirs = checked_directions(directions, k);
  const int64_t n = dirs.size(0);
  NearestNeighbours result = allocate(n, k);
  if (result.k == 0) return result;
  // Bucket level: about 4 points per bucket.
  Buckets b;
  b.nside = 1;
  while (12 * (2 * b.nside) * (2 * b.nside) * 4 <= n && b.nside < 8192) b.nside *= 2;
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
  Searcher(xyz, n, result.k, b, first_rings(result.k, static_cast<double>(n) / nb)).run(result);
  return result;
}

NearestNeighbours nearest_neighbours(const HealpixGrid& grid, int k) {
  SPHAERA_CHECK(k >= 1, "nearest_neighbours: k must be ≥ 1, got ", k);
  const int64_t n = grid.size();
  NearestNeighbours result = allocate(n, k);
  if (result.k == 0) return result;
  const auto dirs = grid.directions();
  // Buckets of B² NEST pixels (B = nside / bucket nside): contiguous in NEST order.
  int64_t B = 1;
  while (B * B * 4 <= result.k && B < grid.nside()) B *= 2;
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
  Searcher(dirs.data_ptr<double>(), n, result.k, b, first_rings(result.k, static_cast<double>(B * B))).run(result);
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
