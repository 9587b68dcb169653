#include "sphaera/transforms/knn_buckets.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include <healpix_base.h>

namespace sphaera::transforms {
namespace knn {

namespace {

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

}  // namespace

struct BucketSearch::Impl {
  Impl(const SpherePoints& points, int k)
      : n(points.n), buckets(make_buckets(points, k)), searcher(points.xyz, points.n, k, buckets, kFirstRings) {}
  const int64_t n;
  const Buckets buckets;
  const Searcher searcher;  // reads `buckets`
};

BucketSearch::BucketSearch(const SpherePoints& points, int k) : impl_(std::make_unique<Impl>(points, k)) {}

BucketSearch::~BucketSearch() = default;

int64_t BucketSearch::run(int32_t* lists, double* kth_d2, int32_t* kth_id, bool only_missing, uint8_t* chosen) const {
  return impl_->searcher.run(lists, kth_d2, kth_id, only_missing, chosen);
}

void BucketSearch::rows(const uint8_t* skip, double kstar, const double* kth_d2, const int32_t* kth_id, bool diagonal,
                        const RowFn& row) const {
  const Searcher& searcher = impl_->searcher;
#pragma omp parallel if (impl_->n > 20000)
  {
    Scratch s, wide;
    std::vector<Candidate> members;
#pragma omp for schedule(dynamic, 64)
    for (int64_t q = 0; q < searcher.buckets(); ++q) {
      bool any = false;
      for (int64_t pos = searcher.bucket_begin(q); pos < searcher.bucket_end(q) && !any; ++pos) {
        any = !skip[searcher.point(pos)];
      }
      if (!any) continue;
      searcher.gather(q, searcher.first_rings(), s);
      for (int64_t pos = searcher.bucket_begin(q); pos < searcher.bucket_end(q); ++pos) {
        const int32_t i = searcher.point(pos);
        if (skip[i]) continue;
        searcher.row_members(i, q, kstar, kth_d2, kth_id, diagonal, s, wide, members);
        row(i, members);
      }
    }
  }
}

}  // namespace knn
}  // namespace sphaera::transforms
