#pragma once
/// The bucket search of the k nearest neighbours (knn_search.h), for any point set: the points are grouped by
/// the HEALPix pixel of a coarser level that holds them (buckets), and each query scans rings of buckets around
/// its own, accepting its answer only when the next ring proves it complete (knn_search.h); otherwise it is redone
/// with one more ring, up to the whole sphere. Internal to the transforms library (knn_common.h).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sphaera/transforms/knn_common.h"

namespace sphaera::transforms {
// Hidden symbols (knn_common.h).
#pragma GCC visibility push(hidden)
namespace knn {

class BucketSearch {
 public:
  /// Buckets for `points` (checked by check_points) and k neighbours per point, 1 ≤ k ≤ n − 1.
  BucketSearch(const SpherePoints& points, int k);
  ~BucketSearch();
  BucketSearch(const BucketSearch&) = delete;
  BucketSearch& operator=(const BucketSearch&) = delete;

  /// Answers every query (only_missing: those whose kth_id is still −1), writing its k-th key and, when `lists`
  /// is not null, its sorted list at lists[id·k]; sets chosen[j] = 1 for each neighbour j found when `chosen` is
  /// not null. Returns how many queries needed more rings than the first guess. Threads: OpenMP's.
  int64_t run(int32_t* lists, double* kth_d2, int32_t* kth_id, bool only_missing, uint8_t* chosen = nullptr) const;

  /// Called with a point and its row: the members (d², index) in increasing index order.
  using RowFn = std::function<void(int32_t point, const std::vector<Candidate>& members)>;

  /// The row of the symmetrised graph of every point i with skip[i] = 0: the points j ≠ i with (d², j) ≤
  /// (kth_d2[i], kth_id[i]) or (d², i) ≤ (kth_d2[j], kth_id[j]), and i itself with d² = 0 when `diagonal`.
  /// kstar ≥ every kth_d2[j]. `row` is called once per row, from OpenMP threads (in no set order).
  void rows(const uint8_t* skip, double kstar, const double* kth_d2, const int32_t* kth_id, bool diagonal,
            const RowFn& row) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace knn
#pragma GCC visibility pop
}  // namespace sphaera::transforms
