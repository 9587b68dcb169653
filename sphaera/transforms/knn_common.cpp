#include "sphaera/transforms/knn_common.h"

#include <algorithm>

#include "sphaera/core/check.h"
#include "sphaera/transforms/fast_math.h"
#include "sphaera/core/simd.h"

namespace sphaera::transforms {
namespace knn {

namespace {

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

#ifdef SPHAERA_KNN_AVX512
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

#ifdef SPHAERA_KNN_AVX512
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

}  // namespace

ScanFn pick_scan() {
#ifdef SPHAERA_KNN_AVX512
  if (core::simd_level() == core::SimdLevel::kAvx512) return scan_avx512;
#endif
  return scan_generic;
}

MemberFn pick_members() {
#ifdef SPHAERA_KNN_AVX512
  if (core::simd_level() == core::SimdLevel::kAvx512) return members_avx512;
#endif
  return members_generic;
}

void kth_key_scalar(const double* kd, const int32_t* kid, int64_t count, int k, std::vector<Candidate>& buf,
                    double& kth_d2, int32_t& kth_id) {
  buf.resize(count);
  for (int64_t j = 0; j < count; ++j) buf[j] = {kd[j], kid[j]};
  std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.end(), key_less);
  kth_d2 = buf[k - 1].d2;
  kth_id = buf[k - 1].id;
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

}  // namespace knn
}  // namespace sphaera::transforms
