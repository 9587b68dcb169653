// The O(n²) reference of the k nearest neighbours (knn_search.h): every pair's distance, a partial sort per point.
#include "sphaera/transforms/knn_search.h"

#include <algorithm>
#include <vector>

#include "sphaera/transforms/knn_common.h"

namespace sphaera::transforms {

NearestNeighbours brute_force_nearest_neighbours(const SpherePoints& points, int k) {
  knn::check_points(points, k);
  const int64_t n = points.n;
  NearestNeighbours result = knn::allocate(n, k, nullptr);
  const int kk = result.k;
  if (kk == 0) return result;
  const double* xyz = points.xyz;
#pragma omp parallel if (n > 2000)
  {
    std::vector<knn::Candidate> all;
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; ++i) {
      all.clear();
      for (int64_t j = 0; j < n; ++j) {
        if (j != i) all.push_back({chord2(xyz + 3 * i, xyz + 3 * j), static_cast<int32_t>(j)});
      }
      std::partial_sort(all.begin(), all.begin() + kk, all.end(), knn::key_less);
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
