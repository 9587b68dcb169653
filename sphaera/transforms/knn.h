#pragma once
/// Exact k nearest neighbours of points on the unit sphere, by chord (Euclidean) distance, self excluded.
///
/// Distances are compared as squared chords computed as ((xi−xj)² + (yi−yj)²) + (zi−zj)², so d(i, j) and
/// d(j, i) are the same double. Ties are broken deterministically: among equal squared distances (compared
/// exactly, as computed) the smaller point index (position in the grid, i.e. the NEST index on a full HEALPix
/// sky) wins. The k nearest of point i are thus the k smallest keys (d²(i, j), j), j ≠ i.
///
/// The search buckets the points by HEALPix pixels of a coarser level and scans rings of buckets around each
/// query; a query's result is accepted only when it is proven complete: every point outside the scanned
/// buckets lies at an angle ≥ min over the next ring's bucket centres of (angle − the bucket radius), by the
/// triangle inequality, because a great-circle arc leaving the scanned region crosses a bucket of that next
/// ring. Otherwise the query is redone with one more ring, up to the whole sphere.
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace sphaera::transforms {

class HealpixGrid;

/// Directed k-nearest-neighbour lists of n points.
struct NearestNeighbours {
  int64_t points = 0;
  /// Neighbours per point: min(k asked, points − 1).
  int k = 0;
  /// [points · k]: the neighbours of point i at [i·k, (i+1)·k), sorted by increasing index.
  std::shared_ptr<int32_t[]> index;
  /// Per point: the squared chord distance and the index of its k-th nearest neighbour (the largest key).
  /// j is among i's neighbours iff (d²(i, j), j) ≤ (kth_dist2[i], kth_index[i]) lexicographically.
  std::vector<double> kth_dist2;
  std::vector<int32_t> kth_index;
  /// Queries that needed more rings of buckets than the first guess (diagnostics).
  int64_t expanded_queries = 0;

  const int32_t* row(int64_t i) const { return index.get() + i * k; }
};

/// k nearest neighbours among `directions` (float64 [n, 3] unit vectors, any order), n < 2³¹.
/// `storage`: optional memory for `index` (at least n · min(k, n − 1) int32), e.g. to reuse it afterwards.
NearestNeighbours nearest_neighbours(const at::Tensor& directions, int k, std::shared_ptr<int32_t[]> storage = {});

/// Same, using the HEALPix layout of the grid's pixels (NEST buckets are contiguous): faster, same result.
NearestNeighbours nearest_neighbours(const HealpixGrid& grid, int k, std::shared_ptr<int32_t[]> storage = {});

/// O(n²) reference with the same definition and tie-break (for tests and tiny inputs).
NearestNeighbours brute_force_nearest_neighbours(const at::Tensor& directions, int k);

/// Squared chord distance as the search computes it (symmetric in its arguments, bit for bit).
inline double chord2(const double* a, const double* b) {
  const double dx = a[0] - b[0];
  const double dy = a[1] - b[1];
  const double dz = a[2] - b[2];
  return (dx * dx + dy * dy) + dz * dz;
}

}  // namespace sphaera::transforms
