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
  // nside 32 and 64: every k and matrix; nside 128 (most rows tiled): the k of the nside 1024 target.
  for (int64_t nside : {32, 64, 128}) {
    HealpixGrid grid(nside);
    const auto dirs = grid.directions();
    const auto points = sphere_points(&grid, dirs);
    for (int k : {8, 20, 40, 60}) {
      if (nside == 128 && k != 20) continue;
      for (GraphMatrix m : {GraphMatrix::kAdjacency, GraphMatrix::kCombinatorial, GraphMatrix::kNormalized}) {
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
        options.tiled_rows = nullptr;
        const CsrArrays without = symmetric_knn_graph(points, options);
        EXPECT_TRUE(same_bits(with_tiles, without));
        if (m != GraphMatrix::kAdjacency) continue;
        std::cout << "[          ] nside " << nside << ", k " << k << ": " << tiled << " of " << grid.size()
                  << " rows tiled\n";
      }
    }
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
