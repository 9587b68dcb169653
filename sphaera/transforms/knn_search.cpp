#include "sphaera/transforms/knn_search.h"

#include <omp.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "sphaera/transforms/fast_math.h"
#include "sphaera/transforms/knn_buckets.h"
#include "sphaera/transforms/knn_common.h"
#include "sphaera/transforms/knn_tiles.h"
#include "sphaera/transforms/phase_timer.h"
#include "sphaera/core/simd.h"

// The searches live one per file (knn_common.h): here they are run, and the symmetric graph built from them.

namespace sphaera::transforms {

namespace {

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

}  // namespace
NearestNeighbours nearest_neighbours(const SpherePoints& points, int k, std::shared_ptr<int32_t[]> storage) {
  knn::check_points(points, k);
  NearestNeighbours result = knn::allocate(points.n, k, std::move(storage));
  if (result.k == 0) return result;
  result.expanded_queries = knn::BucketSearch(points, result.k)
                                .run(result.index.get(), result.kth_dist2.data(), result.kth_index.data(), false);
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
#ifdef SPHAERA_KNN_AVX512
  return core::simd_level() == core::SimdLevel::kAvx512;
#else
  return false;
#endif
}

core::CsrArrays symmetric_knn_graph(const SpherePoints& points, const KnnGraphOptions& options) {
  knn::check_points(points, options.k);
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
  const knn::BucketSearch buckets(points, k);
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
#ifdef SPHAERA_KNN_AVX512
  std::unique_ptr<knn::TiledSearch> tiles;
  if (options.tiles && knn::TiledSearch::applies(points, k)) {
    tiles = std::make_unique<knn::TiledSearch>(points, k);
    near = core::Buffer<uint64_t>(n);
    std::fill(near.begin(), near.end(), uint64_t{0});
  }
#endif

  phase("set-up", n, "points");
  // Pass 1: every point's k-th key, tiled where possible, then the bucket search for the rest.
#ifdef SPHAERA_KNN_AVX512
  if (tiles) tiles->kth_keys(kth_d2.data(), kth_id.data(), extent.data(), near.data());
#endif
  int64_t left = 0;
  for (int64_t i = 0; i < n; ++i) left += kth_id[i] < 0;
  phase("k-th keys, tiles", n - left, "points");
  buckets.run(nullptr, kth_d2.data(), kth_id.data(), true, chosen.data());
  phase("k-th keys, buckets", left, "points");
  double kstar = 0;
  int row_radius = 0;  // the largest extent: every tiled row lies in the window of this radius
  for (int64_t i = 0; i < n; ++i) {
    kstar = std::max(kstar, kth_d2[i]);
    row_radius = std::max(row_radius, static_cast<int>(extent[i]));
  }

  // Rows: a pixel the tiles answered, chosen by no point of the bucket search, takes the tiled path (its
  // window of the largest extent holds the row); the others the bucket path. Pass 2 counts (and keeps the
  // bucket path's rows), pass 3 writes.
  core::Buffer<uint8_t> tiled(n);
  std::fill(tiled.begin(), tiled.end(), uint8_t{0});
  int64_t tiled_count = 0;
  core::Buffer<double> degree(options.matrix == GraphMatrix::kNormalized ? n : 0);
  // The bucket path's rows that pass 2 keeps for pass 3, per thread.
  struct KeptRows {
    std::vector<int32_t> row;
    std::vector<int64_t> start;
    std::vector<knn::Candidate> members;
  };
  std::vector<KeptRows> kept(static_cast<size_t>(std::max(1, omp_get_max_threads())));
  auto rows = [&](bool write) {
    int32_t* col = write ? out.col.data() : nullptr;
    double* val = write ? out.val.data() : nullptr;
    double* deg = options.matrix == GraphMatrix::kNormalized ? degree.data() : nullptr;
#ifdef SPHAERA_KNN_AVX512
    if (tiles) {
      knn::TiledSearch::Rows tiled_rows;
      tiled_rows.row_radius = row_radius;
      tiled_rows.diagonal = diagonal;
      tiled_rows.c = c;
      tiled_rows.matrix = options.matrix;
      tiled_rows.kth_d2 = kth_d2.data();
      tiled_rows.kth_id = kth_id.data();
      tiled_rows.extent = extent.data();
      tiled_rows.near = near.data();
      tiled_rows.chosen = chosen.data();
      tiled_rows.tiled = tiled.data();
      tiled_rows.row_ptr = rp;
      tiled_rows.col = col;
      tiled_rows.val = val;
      tiled_rows.degree = deg;
      if (write) {
        tiles->write_rows(tiled_rows);
      } else {
        tiles->row_sizes(tiled_rows);
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
    auto write_row = [&](int32_t i, const knn::Candidate* members) {
      const int64_t m = rp[i + 1] - rp[i];
      for (int64_t t = 0; t < m; ++t) {
        col[rp[i] + t] = members[t].id;
        val[rp[i] + t] = -c * members[t].d2;
      }
      exp_nonpositive_inplace(val + rp[i], m);
      const double d = knn::finish_row(i, col + rp[i], val + rp[i], m, options.matrix);
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
    buckets.rows(tiled.data(), kstar, kth_d2.data(), kth_id.data(), diagonal,
                 [&](int32_t i, const std::vector<knn::Candidate>& members) {
                   if (write) {
                     write_row(i, members.data());
                     return;
                   }
                   rp[i + 1] = static_cast<int64_t>(members.size());
                   if (!keep) return;
                   KeptRows& mine = kept[omp_in_parallel() ? omp_get_thread_num() : 0];
                   mine.row.push_back(i);
                   mine.start.push_back(static_cast<int64_t>(mine.members.size()));
                   mine.members.insert(mine.members.end(), members.begin(), members.end());
                 });
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
    const double d = knn::finish_row(i, a.col.data() + rp[i], a.val.data() + rp[i], rp[i + 1] - rp[i], what);
    if (what == GraphMatrix::kNormalized) degree[i] = d;
  }
  if (what == GraphMatrix::kNormalized) normalize(a, degree.data());
}

}  // namespace sphaera::transforms
