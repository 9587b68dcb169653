// HealpixGrid: sizes, orders, geometry, patches, pooling hierarchy, neighbours.
#include "sphaera/transforms/healpix_grid.h"

#include <cmath>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"

using sphaera::core::InvalidArgument;
using sphaera::transforms::check_nside;
using sphaera::transforms::HealpixGrid;

namespace {

// Centre of RING pixel p from the closed formulas (Górski et al. 2005, §4; rings numbered from the north
// pole, pixels within a ring from φ ≥ 0), written out here rather than taken from HEALPix C++: (z, φ).
std::pair<double, double> ring_centre(int64_t nside, int64_t p) {
  const int64_t npix = 12 * nside * nside;
  const int64_t ncap = 2 * nside * (nside - 1);
  const double ns = static_cast<double>(nside);
  if (p < ncap) {
    const int64_t i = static_cast<int64_t>(std::floor((1 + std::sqrt(1.0 + 2.0 * p)) / 2));
    const int64_t j = p - 2 * i * (i - 1) + 1;
    return {1 - double(i * i) / (3 * ns * ns), M_PI / (2 * i) * (j - 0.5)};
  }
  if (p < npix - ncap) {
    const int64_t q = p - ncap;
    const int64_t i = q / (4 * nside) + nside;
    const int64_t j = q % (4 * nside) + 1;
    const int64_t s = (i - nside + 1) % 2;  // 1: the ring's first centre is half a pixel east of φ = 0
    return {4.0 / 3 - 2.0 * i / (3 * ns), M_PI / (2 * ns) * (j - 1 + s / 2.0)};
  }
  const int64_t q = npix - p - 1;
  const int64_t i = static_cast<int64_t>(std::floor((1 + std::sqrt(1.0 + 2.0 * q)) / 2));
  const int64_t j = 4 * i - (q - 2 * i * (i - 1));
  return {-1 + double(i * i) / (3 * ns * ns), M_PI / (2 * i) * (j - 0.5)};
}

TEST(HealpixGridTest, SizesKeysAndWeights) {
  for (int64_t nside : {1, 2, 4, 16, 64}) {
    HealpixGrid g(nside);
    EXPECT_EQ(g.size(), 12 * nside * nside);
    EXPECT_TRUE(g.is_full_sky());
    EXPECT_EQ(g.key(), "healpix(nside=" + std::to_string(nside) + ",nest)");
    const auto w = g.quadrature_weights();
    EXPECT_EQ(w.scalar_type(), torch::kDouble);
    EXPECT_NEAR(w.sum().item<double>(), 4 * M_PI, 1e-12);
    EXPECT_TRUE(torch::equal(g.nest_pixels(), torch::arange(g.size(), torch::kLong)));
  }
}

TEST(HealpixGridTest, CheckNsideNamesTheSetting) {
  for (int64_t bad : {0, 3, 12, -4, 16384}) {
    try {
      check_nside(bad, "data.nside");
      FAIL() << bad;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("data.nside"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(check_nside(8192));
  EXPECT_THROW(HealpixGrid(6), InvalidArgument);
}

TEST(HealpixGridTest, DirectionsAreUnitVectorsOnIsoLatitudeRings) {
  HealpixGrid g(8);
  const auto d = g.directions();
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{768, 3}));
  EXPECT_EQ(d.scalar_type(), torch::kDouble);
  EXPECT_LT((d.norm(2, 1) - 1).abs().max().item<double>(), 1e-15);
  // Equal areas: the centroid of all centres is the origin.
  EXPECT_LT(d.sum(0).abs().max().item<double>(), 1e-12);
}

TEST(HealpixGridTest, RingOrderMatchesTheClosedFormulas) {
  for (int64_t nside : {1, 2, 4, 8, 32}) {
    HealpixGrid g(nside);
    const auto r2n = g.ring_to_nest();
    const auto n2r = g.nest_to_ring();
    const int64_t n = g.size();
    // Inverse permutations of each other.
    EXPECT_TRUE(torch::equal(n2r.index_select(0, r2n), torch::arange(n, torch::kLong)));
    EXPECT_TRUE(torch::equal(r2n.index_select(0, n2r), torch::arange(n, torch::kLong)));
    // The NEST pixel that ring_to_nest names for RING pixel p has the centre of RING pixel p.
    const auto d = g.directions().index_select(0, r2n);
    const auto* dp = d.data_ptr<double>();
    double worst = 0;
    for (int64_t p = 0; p < n; ++p) {
      const auto [z, phi] = ring_centre(nside, p);
      const double s = std::sqrt((1 - z) * (1 + z));
      worst = std::max({worst, std::abs(dp[3 * p] - s * std::cos(phi)), std::abs(dp[3 * p + 1] - s * std::sin(phi)),
                        std::abs(dp[3 * p + 2] - z)});
    }
    EXPECT_LT(worst, 1e-13) << "nside " << nside;
  }
  // NEST is hierarchical: at nside 2 the north polar ring is the last child of base pixels 0..3.
  EXPECT_TRUE(torch::equal(HealpixGrid(2).ring_to_nest().slice(0, 0, 4), torch::tensor({3, 7, 11, 15}, torch::kLong)));
  EXPECT_THROW(HealpixGrid::patch(8, 1, 0)->ring_to_nest(), InvalidArgument);
}

TEST(HealpixGridTest, NeighboursAreSymmetricAndEightExceptAtTheThreeFaceVertices) {
  for (int64_t nside : {2, 4, 16}) {
    HealpixGrid g(nside);
    const auto nb = g.neighbours();
    ASSERT_EQ(nb.sizes(), (std::vector<int64_t>{g.size(), 8}));
    const auto missing = nb.eq(-1).sum(1);
    // 8 vertices where three base pixels meet, 3 corner pixels at each, lacking one neighbour.
    EXPECT_EQ(missing.eq(1).sum().item<int64_t>(), 24) << nside;
    EXPECT_EQ(missing.gt(1).sum().item<int64_t>(), 0) << nside;
    const auto* p = nb.data_ptr<int64_t>();
    const auto d = g.directions();
    const auto* x = d.data_ptr<double>();
    const double spacing = std::sqrt(4 * M_PI / g.size());
    for (int64_t i = 0; i < g.size(); ++i) {
      std::set<int64_t> mine;
      for (int j = 0; j < 8; ++j) {
        const int64_t q = p[8 * i + j];
        if (q < 0) continue;
        mine.insert(q);
        bool back = false;
        for (int t = 0; t < 8; ++t) back = back || p[8 * q + t] == i;
        EXPECT_TRUE(back) << i << " -> " << q;
        const double dist = std::sqrt(std::pow(x[3 * i] - x[3 * q], 2) + std::pow(x[3 * i + 1] - x[3 * q + 1], 2) +
                                      std::pow(x[3 * i + 2] - x[3 * q + 2], 2));
        EXPECT_LT(dist, 2.0 * spacing);
      }
      EXPECT_EQ(mine.size(), static_cast<size_t>(8 - missing[i].item<int64_t>())) << "duplicates at " << i;
    }
  }
}

TEST(HealpixGridTest, PatchesAreContiguousNestRanges) {
  auto p = HealpixGrid::patch(8, 1, 3);
  EXPECT_EQ(p->size(), 64);
  EXPECT_TRUE(torch::equal(p->nest_pixels(), torch::arange(192, 256, torch::kLong)));
  EXPECT_EQ(p->key(), "healpix(nside=8,nest,patch=3,order=1)");
  EXPECT_FALSE(p->is_full_sky());
  auto q = HealpixGrid::patch(16, 2, 47);
  EXPECT_EQ(q->size(), 64);
  EXPECT_EQ(q->nest_pixels()[0].item<int64_t>(), 47 * 64);
  // The directions are those of the full sky at these pixels.
  EXPECT_TRUE(torch::equal(q->directions(), HealpixGrid(16).directions().slice(0, 47 * 64, 48 * 64)));
  EXPECT_THROW(HealpixGrid::patch(8, 3, 0), InvalidArgument);
  EXPECT_THROW(HealpixGrid::patch(8, 16, 0), InvalidArgument);
  EXPECT_THROW(HealpixGrid::patch(8, 2, 48), InvalidArgument);
  EXPECT_THROW(HealpixGrid::patch(8, 2, -1), InvalidArgument);
  // Patches have distinct keys, so cached graphs never mix.
  EXPECT_NE(HealpixGrid::patch(8, 1, 0)->key(), HealpixGrid::patch(8, 1, 1)->key());
  EXPECT_NE(HealpixGrid::patch(8, 1, 0)->key(), HealpixGrid::patch(8, 2, 0)->key());
}

TEST(HealpixGridTest, PartialSkyNeighboursAreLocalPositions) {
  auto pixels = torch::tensor({0, 1, 2, 3, 5, 100}, torch::kLong);
  HealpixGrid g(4, pixels);
  EXPECT_EQ(g.size(), 6);
  EXPECT_EQ(g.position_of(5), 4);
  EXPECT_EQ(g.position_of(4), -1);
  EXPECT_EQ(g.position_of(100), 5);
  const auto nb = g.neighbours();
  const auto full = HealpixGrid(4).neighbours();
  for (int64_t i = 0; i < g.size(); ++i) {
    for (int j = 0; j < 8; ++j) {
      const int64_t q = nb[i][j].item<int64_t>();
      const int64_t f = full[pixels[i].item<int64_t>()][j].item<int64_t>();
      if (q >= 0) {
        EXPECT_EQ(pixels[q].item<int64_t>(), f);
      } else {
        EXPECT_TRUE(f < 0 || g.position_of(f) < 0);
      }
    }
  }
  EXPECT_NE(g.key().find("pixels=6"), std::string::npos) << g.key();
  EXPECT_NE(g.key(), HealpixGrid(4, torch::tensor({0, 1, 2, 3, 5, 101}, torch::kLong)).key());
  EXPECT_THROW(HealpixGrid(4, torch::tensor({3, 2}, torch::kLong)), InvalidArgument);
  EXPECT_THROW(HealpixGrid(4, torch::tensor({0, 192}, torch::kLong)), InvalidArgument);
  EXPECT_THROW(HealpixGrid(4, torch::tensor({0, 1}, torch::kInt)), InvalidArgument);
}

TEST(HealpixGridTest, CoarsenAndRefineFollowNestChildren) {
  HealpixGrid g(8);
  auto c = g.coarsened();
  EXPECT_EQ(c->nside(), 4);
  EXPECT_TRUE(c->is_full_sky());
  EXPECT_EQ(c->refined()->key(), g.key());
  // Each parent direction lies among its 4 children's.
  const auto parent_dirs = c->directions();
  const auto child_mean = g.directions().reshape({-1, 4, 3}).mean(1);
  EXPECT_GT((parent_dirs * child_mean).sum(1).min().item<double>(), 0.99);

  auto p = HealpixGrid::patch(8, 2, 5);
  auto pc = p->coarsened();
  EXPECT_EQ(pc->key(), HealpixGrid::patch(4, 2, 5)->key());
  EXPECT_TRUE(torch::equal(pc->nest_pixels(), torch::arange(5 * 4, 6 * 4, torch::kLong)));
  EXPECT_EQ(pc->refined()->key(), p->key());
  auto single = pc->coarsened();  // nside 2 = order: one pixel
  EXPECT_EQ(single->size(), 1);
  EXPECT_THROW(single->coarsened(), InvalidArgument);  // its parent's other children are missing

  HealpixGrid partial(4, torch::tensor({4, 5, 6, 7, 40, 41, 42, 43}, torch::kLong));
  EXPECT_TRUE(torch::equal(partial.coarsened()->nest_pixels(), torch::tensor({1, 10}, torch::kLong)));
  EXPECT_TRUE(torch::equal(partial.coarsened()->refined()->nest_pixels(), partial.nest_pixels()));
  EXPECT_THROW(HealpixGrid(4, torch::tensor({4, 5, 6, 8}, torch::kLong)).coarsened(), InvalidArgument);
  EXPECT_THROW(HealpixGrid(1).coarsened(), InvalidArgument);
  EXPECT_THROW(HealpixGrid(8192).refined(), InvalidArgument);
}

}  // namespace
