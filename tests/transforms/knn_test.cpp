// The bucketed k-nearest-neighbour search equals brute force exactly (same tie-break), on HEALPix full and
// partial skies and on arbitrary point sets.
#include "sphaera/transforms/knn.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/transforms/healpix_grid.h"

using sphaera::transforms::brute_force_nearest_neighbours;
using sphaera::transforms::HealpixGrid;
using sphaera::transforms::nearest_neighbours;
using sphaera::transforms::NearestNeighbours;

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

}  // namespace
