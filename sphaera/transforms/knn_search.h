#pragma once
/// k nearest neighbours on the unit sphere and the symmetrised k-NN graph, on plain arrays (no LibTorch): the
/// machinery behind knn.h and the V2 graphs of graph.h, and what the torch-free `sphaera graph` runs.
///
/// Distances are chords, compared squared as computed by chord2() below, so d(i, j) and d(j, i) are the same
/// double. Ties are broken deterministically: among equal squared distances (compared exactly, as computed)
/// the smaller point index (position in the point set, i.e. the NEST index on a full HEALPix sky) wins. The
/// k nearest of point i are thus the k smallest keys (d²(i, j), j), j ≠ i.
///
/// The search buckets the points by HEALPix pixels of a coarser level and scans rings of buckets around each
/// query; a query's result is accepted only when it is proven complete: every point outside the scanned
/// buckets lies at an angle ≥ min over the next ring's bucket centres of (angle − the bucket radius), by the
/// triangle inequality, because a great-circle arc leaving the scanned region crosses a bucket of that next
/// ring. Otherwise the query is redone with one more ring, up to the whole sphere.
///
/// On a full HEALPix sky the graph is built tile by tile instead (16 × 16 NEST pixels with a margin, in the
/// (x, y) coordinates of a base face): each pixel's candidates are the (2R + 1)² pixels around it, proven
/// complete by the same argument at the level of pixels; pixels near base-face edges, where the (x, y)
/// neighbourhood does not exist, take the bucket search.
///
/// One file per search: knn_buckets.h, knn_tiles.h (AVX-512), knn_brute_force.cpp; knn_common.h holds what
/// they share, knn_search.cpp runs them.
#include <cstdint>
#include <memory>
#include <vector>

#include "sphaera/core/csr_arrays.h"

namespace sphaera::transforms {

/// Points on the unit sphere, optionally HEALPix pixels (which makes the search faster, same result).
struct SpherePoints {
  /// [n, 3] unit vectors, row-major.
  const double* xyz = nullptr;
  int64_t n = 0;
  /// > 0: the points are NEST pixels of this nside, in increasing NEST order: all of them (full sky) when
  /// nest_pixels is null, else nest_pixels[0..n).
  int64_t healpix_nside = 0;
  const int64_t* nest_pixels = nullptr;

  bool full_healpix_sky() const { return healpix_nside > 0 && nest_pixels == nullptr; }
};

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

/// k nearest neighbours of every point (n < 2³¹, k ≥ 1). `storage`: optional memory for `index` (at least
/// n · min(k, n − 1) int32).
NearestNeighbours nearest_neighbours(const SpherePoints& points, int k, std::shared_ptr<int32_t[]> storage = {});

/// O(n²) reference with the same definition and tie-break (for tests and tiny inputs).
NearestNeighbours brute_force_nearest_neighbours(const SpherePoints& points, int k);

/// What symmetric_knn_graph() stores, from the weights w_ij = exp(−c · d²_ij) of the graph's edges.
enum class GraphMatrix {
  kAdjacency,      ///< W (no diagonal stored)
  kCombinatorial,  ///< D − W, diagonal stored
  kNormalized,     ///< I − D^-½ W D^-½, diagonal stored; an isolated vertex gets L_ii = 0 (as pygsp)
};

struct KnnGraphOptions {
  int k = 8;       ///< neighbours per point (clamped to n − 1)
  double c = 1.0;  ///< w = exp(−c · d²); V2: c = ln 2 / σ²
  GraphMatrix matrix = GraphMatrix::kCombinatorial;
  /// Full HEALPix skies: the tiled search (where the CPU has AVX-512), else the bucket search everywhere.
  /// Both give the same matrix bit for bit; false is for tests.
  bool tiles = true;
  /// Filled in when not null: how many rows the tiled search answered (diagnostics, tests).
  int64_t* tiled_rows = nullptr;
};

/// The k-NN graph made symmetric as pygsp's NNGraph does: j is linked to i when j is among the k nearest of i
/// or i among the k nearest of j (a distance is the same double both ways, so pygsp's averaging changes
/// nothing). Rows are built in parallel straight into CSR: one pass finds each point's k-th neighbour key, one
/// counts each row, one writes it. Threads: OpenMP's; the result does not depend on their number.
core::CsrArrays symmetric_knn_graph(const SpherePoints& points, const KnnGraphOptions& options);

/// Turns a CSR matrix of edge weights w_ij (the diagonal slot, when stored, holding anything) into `what`, as
/// symmetric_knn_graph() does for its rows: W, D − W, or I − D^-½ W D^-½ (the diagonal slot must then be
/// stored in every row; W: none).
void weights_to_matrix(core::CsrArrays& a, GraphMatrix what);

/// Whether the points are a whole HEALPix sky whose faces 1–3, 5–7 and 9–11 are exactly faces 0, 4 and 8 turned
/// about the z axis by π/2, π and 3π/2, pixel for pixel, as healpix_nest_directions() makes them. The tiles of
/// symmetric_knn_graph() then search faces 0, 4 and 8 only.
bool rows_of_faces_turned(const SpherePoints& points);

/// Whether symmetric_knn_graph() can use tiles here: simd_level() is kAvx512 (the CPU has AVX-512 F, VL, DQ
/// and BW, and SPHAERA_SIMD allows it; simd.h).
bool knn_tiles_available();

/// Squared chord distance as the search computes it (symmetric in its arguments, bit for bit).
inline double chord2(const double* a, const double* b) {
  const double dx = a[0] - b[0];
  const double dy = a[1] - b[1];
  const double dz = a[2] - b[2];
  return (dx * dx + dy * dy) + dz * dz;
}

}  // namespace sphaera::transforms
