// The bucketed k-nearest-neighbour search equals brute force exactly (same tie-break), on HEALPix full and
// partial skies and on arbitrary point sets; the symmetrised k-NN graph equals the union of brute-force lists,
// and its tiled construction (full HEALPix skies) equals the bucket construction bit for bit.
#include "sphaera/transforms/knn.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "sphaera/core/simd.h"
#include "sphaera/transforms/healpix_grid.h"

using sphaera::core::CsrArrays;
using sphaera::transforms::brute_force_nearest_neighbours;
using sphaera::transforms::GraphMatrix;
using sphaera::transforms::HealpixGrid;
using sphaera::transforms::KnnGraphOptions;
using sphaera::transforms::nearest_neighbours;
using sphaera::transforms::NearestNeighbours;
using sphaera::transforms::rows_of_faces_turned;
using sphaera::transforms::sphere_points;
using sphaera::transforms::symmetric_knn_graph;

namespace {

void expect_same(const NearestNeighbours& a, const NearestNeighbours& b, const std::string& what) {
  ASSERT_EQ(a.points, b.points) << what;
  ASSERT_EQ(a.k, b.k) << what;
  int64_t differing_rows = 0;
  for (int64_t i = 0; i < a.points; ++i) {
    bool same = a.kth_dist2[i] == b.kth_dist2[i] && a.kth_index[i] == b.kth_index[i];
    for (int j = 0; j < a.k; ++j) same = same && a.row(i)[j] == b.row(i)[j];
    differing_rows += same ? 0 : 1;
  }
  EXPECT_EQ(differing_rows, 0) << what;
}

TEST(KnnTest, HealpixSearchEqualsBruteForce) {
  for (int64_t nside : {1, 2, 8, 16, 32}) {
    HealpixGrid g(nside);
    for (int k : {8, 20, 40, 60}) {
      if (nside == 32 && k != 20 && k != 60) continue;  // brute force is O(n²)
      const auto fast = nearest_neighbours(g, k);
      const auto slow = brute_force_nearest_neighbours(g.directions(), k);
      expect_same(fast, slow, "nside " + std::to_string(nside) + " k " + std::to_string(k));
      // Rows are sorted, without self.
      for (int64_t i = 0; i < fast.points; ++i) {
        for (int j = 0; j < fast.k; ++j) {
          ASSERT_NE(fast.row(i)[j], i);
          if (j > 0) {
            ASSERT_LT(fast.row(i)[j - 1], fast.row(i)[j]);
          }
        }
      }
    }
  }
}

TEST(KnnTest, PartialSkySearchesWithinTheSubset) {
  auto patch = HealpixGrid::patch(16, 2, 17);
  expect_same(nearest_neighbours(*patch, 20), brute_force_nearest_neighbours(patch->directions(), 20), "patch");
  torch::manual_seed(3);
  const auto pixels = std::get<0>(torch::randperm(3072, torch::kLong).slice(0, 0, 700).sort());
  HealpixGrid scattered(16, pixels);
  for (int k : {8, 40}) {
    expect_same(nearest_neighbours(scattered, k), brute_force_nearest_neighbours(scattered.directions(), k),
                "scattered k " + std::to_string(k));
  }
}

TEST(KnnTest, ArbitraryPointsEqualBruteForce) {
  torch::manual_seed(5);
  auto random = torch::randn({3000, 3}, torch::kDouble);
  random = random / random.norm(2, 1, true);
  for (int k : {1, 8, 20}) {
    expect_same(nearest_neighbours(random, k), brute_force_nearest_neighbours(random, k),
                "random k " + std::to_string(k));
  }
  // An equiangular grid: dense rings near the poles, exact ties everywhere.
  const int nlat = 24, nlon = 47;
  auto theta = (torch::arange(nlat, torch::kDouble) + 0.5) * (M_PI / nlat);
  auto phi = torch::arange(nlon, torch::kDouble) * (2 * M_PI / nlon);
  auto t = theta.unsqueeze(1).expand({nlat, nlon});
  auto p = phi.unsqueeze(0).expand({nlat, nlon});
  auto eq = torch::stack({t.sin() * p.cos(), t.sin() * p.sin(), t.cos().expand({nlat, nlon})}, -1).reshape({-1, 3});
  expect_same(nearest_neighbours(eq, 20), brute_force_nearest_neighbours(eq, 20), "equiangular");
  // HEALPix centres in a shuffled order: same neighbours, mapped through the permutation.
  HealpixGrid g(8);
  const auto perm = torch::randperm(g.size(), torch::kLong);
  expect_same(nearest_neighbours(g.directions().index_select(0, perm), 8),
              brute_force_nearest_neighbours(g.directions().index_select(0, perm), 8), "shuffled");
}

TEST(KnnTest, KIsClampedToTheOtherPoints) {
  HealpixGrid tiny(2, torch::tensor({0, 1, 2, 3}, torch::kLong));
  const auto nn = nearest_neighbours(tiny, 8);
  EXPECT_EQ(nn.k, 3);
  for (int64_t i = 0; i < 4; ++i) {
    std::vector<int32_t> row(nn.row(i), nn.row(i) + 3);
    std::vector<int32_t> others;
    for (int32_t j = 0; j < 4; ++j) {
      if (j != i) others.push_back(j);
    }
    EXPECT_EQ(row, others);
  }
  EXPECT_EQ(nearest_neighbours(HealpixGrid(1, torch::tensor({5}, torch::kLong)), 8).k, 0);
}

// The kernel width of the tests' graphs: c = 1 / (mean squared chord to the 8 nearest), so that weights spread
// over (0, 1) rather than underflow.
double test_c(int64_t nside) { return 1.0 / (4.0 * M_PI / (12.0 * nside * nside) * 2.0); }

bool same_bits(const CsrArrays& a, const CsrArrays& b) {
  return a.rows == b.rows && a.nnz() == b.nnz() &&
         std::memcmp(a.row_ptr.data(), b.row_ptr.data(), sizeof(int64_t) * (a.rows + 1)) == 0 &&
         std::memcmp(a.col.data(), b.col.data(), sizeof(int32_t) * a.nnz()) == 0 &&
         std::memcmp(a.val.data(), b.val.data(), sizeof(double) * a.nnz()) == 0;
}

// The tiled search is AVX-512 code: below that level (the CPU's, or SPHAERA_SIMD's cap) it is never offered.
TEST(KnnGraphTest, TilesOnlyWithAvx512) {
  if (sphaera::core::simd_level() != sphaera::core::SimdLevel::kAvx512) {
    EXPECT_FALSE(sphaera::transforms::knn_tiles_available());
  } else {
#if defined(__x86_64__)
    EXPECT_TRUE(sphaera::transforms::knn_tiles_available());
#endif
  }
}

TEST(KnnGraphTest, EqualsTheUnionOfBruteForceLists) {
  // Rows: j ∈ knn(i) or i ∈ knn(j), plus the diagonal; values exp(−c d²) by std::exp, the degree on the
  // diagonal (combinatorial: D − W). The fast exponential is within 2 ulp, and a degree sums ≤ 70 weights:
  // 1e-14 relative bounds both.
  for (int64_t nside : {8, 16, 32}) {
    for (int k : {8, 20, 40, 60}) {
      SCOPED_TRACE("nside " + std::to_string(nside) + ", k " + std::to_string(k));
      HealpixGrid grid(nside);
      const auto dirs = grid.directions();
      const auto points = sphere_points(&grid, dirs);
      const NearestNeighbours nn = brute_force_nearest_neighbours(points, k);
      const int64_t n = grid.size();
      std::vector<std::set<int32_t>> rows(n);
      for (int64_t i = 0; i < n; ++i) {
        rows[i].insert(static_cast<int32_t>(i));
        for (int t = 0; t < nn.k; ++t) {
          rows[i].insert(nn.row(i)[t]);
          rows[nn.row(i)[t]].insert(static_cast<int32_t>(i));
        }
      }
      KnnGraphOptions options;
      options.k = k;
      options.c = test_c(nside);
      int64_t tiled = 0;
      options.tiled_rows = &tiled;
      const CsrArrays l = symmetric_knn_graph(points, options);
      ASSERT_EQ(l.rows, n);
      double err2 = 0, norm2 = 0;
      int64_t wrong_rows = 0;
      const double* xyz = points.xyz;
      for (int64_t i = 0; i < n; ++i) {
        const std::vector<int32_t> expected(rows[i].begin(), rows[i].end());
        const std::vector<int32_t> got(l.col.data() + l.row_ptr[i], l.col.data() + l.row_ptr[i + 1]);
        if (got != expected) {
          ++wrong_rows;
          continue;
        }
        double degree = 0;
        for (int64_t t = l.row_ptr[i]; t < l.row_ptr[i + 1]; ++t) {
          const int32_t j = l.col[t];
          if (j == i) continue;
          const double* a = xyz + 3 * i;
          const double* b = xyz + 3 * static_cast<int64_t>(j);
          const double d2 =
              (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
          const double w = std::exp(-options.c * d2);
          degree += w;
          err2 += (l.val[t] + w) * (l.val[t] + w);
          norm2 += w * w;
        }
        const auto self = std::find(got.begin(), got.end(), static_cast<int32_t>(i)) - got.begin();
        const double diag = l.val[l.row_ptr[i] + self];
        err2 += (diag - degree) * (diag - degree);
        norm2 += degree * degree;
      }
      EXPECT_EQ(wrong_rows, 0);
      EXPECT_LT(std::sqrt(err2 / norm2), 1e-14);
      if (nside >= 16 && k <= 20 && sphaera::transforms::knn_tiles_available()) {
        EXPECT_GT(tiled, 0);
      }
    }
  }
}

TEST(KnnGraphTest, TilesEqualBucketsBitForBit) {
  if (!sphaera::transforms::knn_tiles_available()) {
    GTEST_SKIP() << "the tiled search needs AVX-512 (and SPHAERA_SIMD allowing it): only the bucket search runs here";
  }
  // nside 32 and 64: every k and matrix; nside 128 and 256: the k of DeepSphere's graphs. From nside 256 on
  // more than 7 rows in 8 are tiled, and the bucket rows are kept from the counting pass for the writing one
  // (the other branch of pass 3).
  for (int64_t nside : {32, 64, 128, 256}) {
    HealpixGrid grid(nside);
    const auto dirs = grid.directions();
    const auto points = sphere_points(&grid, dirs);
    const int64_t n = grid.size();
    for (int k : {8, 20, 40, 60}) {
      if (nside >= 128 && k != 20 && (nside != 256 || k != 8)) continue;
      for (GraphMatrix m : {GraphMatrix::kAdjacency, GraphMatrix::kCombinatorial, GraphMatrix::kNormalized}) {
        if (nside == 256 && m == GraphMatrix::kCombinatorial) continue;  // the same rows as kNormalized
        SCOPED_TRACE("nside " + std::to_string(nside) + ", k " + std::to_string(k) + ", matrix " +
                     std::to_string(static_cast<int>(m)));
        KnnGraphOptions options;
        options.k = k;
        options.c = test_c(nside);
        options.matrix = m;
        int64_t tiled = 0;
        options.tiled_rows = &tiled;
        const CsrArrays with_tiles = symmetric_knn_graph(points, options);
        options.tiles = false;
        int64_t untiled = -1;
        options.tiled_rows = &untiled;
        const CsrArrays without = symmetric_knn_graph(points, options);
        EXPECT_EQ(untiled, 0);
        // Tiles answer every pixel whose (2R + 1)² window lies in its base face: at least a third of the sky
        // from nside 32 (the counts printed below), more than 7 rows in 8 from nside 256 on.
        EXPECT_GT(tiled * 8, n);
        if (nside >= 256) {
          EXPECT_GE(tiled * 8, 7 * n);
        }
        EXPECT_TRUE(same_bits(with_tiles, without));
        if (m != GraphMatrix::kAdjacency) continue;
        std::cout << "[          ] nside " << nside << ", k " << k << ": " << tiled << " of " << n << " rows tiled\n";
      }
    }
  }
}

// The brute-force reference at a resolution where the tiles answer nearly every row (nside 256), on clusters of
// pixels around chosen centres (face interiors, base-face edges and corners, the poles): every pixel of a
// cluster gets its k nearest by a scan of the whole sky, and the row of each centre must be exactly
// knn(i) ∪ {j : i ∈ knn(j)}. A j with i ∈ knn(j) lies within j's k-th distance of i; the cluster holds every
// pixel within twice the centre's k-th distance, and the test checks that no cluster pixel's k-th distance
// comes near that radius (HEALPix pixels have nearly equal areas, so neither do the pixels beyond it), so every
// such j is in the cluster.
TEST(KnnGraphTest, LargeSkyRowsEqualBruteForceOnSampledClusters) {
  const int64_t nside = 256;
  const int k = 20;
  HealpixGrid grid(nside);
  const auto dirs = grid.directions();
  const auto points = sphere_points(&grid, dirs);
  const int64_t n = grid.size();
  KnnGraphOptions options;
  options.k = k;
  options.c = test_c(nside);
  options.matrix = GraphMatrix::kAdjacency;
  int64_t tiled = 0;
  options.tiled_rows = &tiled;
  const CsrArrays graph = symmetric_knn_graph(points, options);
  const double* xyz = points.xyz;
  auto d2 = [&](int64_t a, int64_t b) { return sphaera::transforms::chord2(xyz + 3 * a, xyz + 3 * b); };
  // The k smallest keys (d², j), j ≠ i, by a scan of every pixel (a sorted list of k, insertion below its end).
  auto brute_knn = [&](int64_t i) {
    std::vector<std::pair<double, int32_t>> best;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const std::pair<double, int32_t> key(d2(i, j), static_cast<int32_t>(j));
      if (static_cast<int>(best.size()) == k && !(key < best.back())) continue;
      best.insert(std::upper_bound(best.begin(), best.end(), key), key);
      if (static_cast<int>(best.size()) > k) best.pop_back();
    }
    return best;
  };
  // NEST index of (x, y) in base face f: x bits at even positions, y bits at odd ones.
  auto nest = [&](int64_t f, int64_t x, int64_t y) {
    int64_t p = 0;
    for (int b = 0; (int64_t{1} << b) < nside; ++b) p |= ((x >> b) & 1) << (2 * b) | ((y >> b) & 1) << (2 * b + 1);
    return f * nside * nside + p;
  };
  const std::vector<int64_t> centres = {
      nest(0, 100, 140),          // face interiors (tiled), in a first face of a row and in turned ones
      nest(4, 128, 128), nest(9, 30, 200),
      nest(0, nside - 1, nside - 1),  // the north pole (face 0's north corner)
      nest(8, 0, 0),                  // the south pole (face 8's south corner)
      nest(5, nside - 1, 0),          // a corner of a face on the equator's row
      nest(5, nside - 1, 100),        // an x edge and a y edge (bucket search near them)
      nest(11, 77, 0), nest(2, 1, 60),  // one pixel in from an edge
  };
  for (int64_t i : centres) {
    SCOPED_TRACE("centre " + std::to_string(i));
    const auto own = brute_knn(i);
    const double radius2 = 4.0 * own.back().first;  // (2 × the k-th chord)²
    std::set<int32_t> expected;
    for (const auto& key : own) expected.insert(key.second);
    double widest2 = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i || d2(i, j) > radius2) continue;
      const auto theirs = brute_knn(j);
      widest2 = std::max(widest2, theirs.back().first);
      for (const auto& key : theirs) {
        if (key.second == i) expected.insert(static_cast<int32_t>(j));
      }
    }
    // Every cluster pixel's k-th chord is under 0.8 of the radius (0.64 squared).
    ASSERT_LT(widest2, 0.64 * radius2) << "the cluster may miss a pixel that has the centre among its k nearest";
    const std::set<int32_t> got(graph.col.data() + graph.row_ptr[i], graph.col.data() + graph.row_ptr[i + 1]);
    EXPECT_EQ(got, expected);
  }
  if (sphaera::transforms::knn_tiles_available()) {
    EXPECT_GE(tiled * 8, 7 * n);
  }
}

TEST(KnnGraphTest, TilesUseTheTurnsOfFacesOnlyWhereExact) {
  // The grid's faces are its rows' first faces turned (the tiles then search 3 faces of 12); one coordinate one
  // ulp off breaks that, and the tiles search every face; both equal the bucket construction bit for bit.
  const int64_t nside = 64;
  HealpixGrid grid(nside);
  const auto turned = grid.directions();
  auto moved = turned.clone();
  double* x = moved.data_ptr<double>() + 3 * (6 * nside * nside + 1000);
  *x = std::nextafter(*x, 2.0);
  EXPECT_TRUE(rows_of_faces_turned(sphere_points(&grid, turned)));
  EXPECT_FALSE(rows_of_faces_turned(sphere_points(&grid, moved)));
  for (const auto& dirs : {turned, moved}) {
    const auto points = sphere_points(&grid, dirs);
    KnnGraphOptions options;
    options.k = 20;
    options.c = test_c(nside);
    const CsrArrays with_tiles = symmetric_knn_graph(points, options);
    options.tiles = false;
    EXPECT_TRUE(same_bits(with_tiles, symmetric_knn_graph(points, options)));
  }
}

}  // namespace
