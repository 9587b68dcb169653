// DeepSphere graphs: V2 against every reference graph of deepsphere-pytorch/pygsp (tests/data/
// deepsphere_laplacians), with differences allowed only where k-NN ties make the peer's choice arbitrary; V1
// against its defining invariants; the eigenvalue bound against the exact λmax; the rescaling and the cache.
#include "sphaera/transforms/graph.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"
#include "sphaera/transforms/fast_math.h"
#include "sphaera/transforms/healpix_grid.h"
#include "tests/support/npy.h"

namespace fs = std::filesystem;
using sphaera::core::CsrMatrix;
using sphaera::core::InvalidArgument;
using sphaera::testing::load_npy;
using sphaera::testing::relative_error;
using sphaera::testing::test_data;
using namespace sphaera::transforms;

namespace {

// A grid of arbitrary points (not HEALPix), to exercise the generic paths.
class PointsGrid : public Grid {
 public:
  explicit PointsGrid(at::Tensor dirs) : dirs_(std::move(dirs)) {}
  int64_t size() const override { return dirs_.size(0); }
  at::Tensor directions() const override { return dirs_; }
  at::Tensor quadrature_weights() const override { return torch::full({size()}, 4 * M_PI / size(), torch::kDouble); }
  std::string key() const override { return "points(" + std::to_string(size()) + ")"; }

 private:
  at::Tensor dirs_;
};

struct Reference {
  std::string name;
  int64_t nside = 0;
  int k = 0;
  LaplacianKind kind = LaplacianKind::kCombinatorial;
  double kernel_width = 0;
  double lmax_exact = 0;
  at::Tensor coords;  // [n, 3]
  at::Tensor w_row, w_col, w_val, l_row, l_col, l_val;
  int64_t n() const { return coords.size(0); }
};

std::vector<Reference> references() {
  std::vector<Reference> out;
  const fs::path root = test_data("deepsphere_laplacians");
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    Reference r;
    r.name = entry.path().filename().string();
    std::ifstream meta_file(entry.path() / "meta.json");
    const auto meta = nlohmann::json::parse(meta_file);
    r.nside = meta.at("nside").get<int64_t>();
    r.k = meta.at("k").get<int>();
    r.kind = parse_laplacian_kind(meta.at("lap_type").get<std::string>());
    r.kernel_width = meta.at("kernel_width").get<double>();
    r.lmax_exact = meta.at("lmax_exact").get<double>();
    auto load = [&](const char* f) { return load_npy((entry.path() / f).string()); };
    r.coords = load("coords.npy");
    r.w_row = load("W_row.npy");
    r.w_col = load("W_col.npy");
    r.w_val = load("W_val.npy");
    r.l_row = load("L_row.npy");
    r.l_col = load("L_col.npy");
    r.l_val = load("L_val.npy");
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const Reference& a, const Reference& b) { return a.name < b.name; });
  return out;
}

const std::vector<Reference>& all_references() {
  static const std::vector<Reference> refs = references();
  return refs;
}

at::Tensor dense(const at::Tensor& row, const at::Tensor& col, const at::Tensor& val, int64_t n) {
  auto d = torch::zeros({n, n}, torch::kDouble);
  d.index_put_({row.to(torch::kLong), col.to(torch::kLong)}, val.to(torch::kDouble), /*accumulate=*/true);
  return d;
}

// Pairs {i, j} whose presence in a k-NN graph depends on how ties are broken: j is at i's k-th distance while
// i's k-th and (k+1)-th distances are equal (1e-12 relative), or the same with i and j swapped. Computed by
// brute force from the reference coordinates, independently of the code under test.
struct Ties {
  at::Tensor pair_mask;      // bool [n, n], symmetric
  at::Tensor vertex_mask;    // bool [n]: vertices with such a pair (their degree may differ)
  int64_t tied_vertices = 0;  // vertices whose k-th and (k+1)-th distances are equal
};

Ties find_ties(const at::Tensor& coords, int k) {
  const int64_t n = coords.size(0);
  const auto diff = coords.unsqueeze(1) - coords.unsqueeze(0);
  const auto dist = diff.pow(2).sum(2).sqrt();
  const auto sorted = std::get<0>(dist.sort(1));  // column 0 is self (distance 0)
  const auto dk = sorted.select(1, k);
  const auto dk1 = sorted.select(1, k + 1);
  const auto tied = (dk1 - dk).le(1e-12 * dk);
  const auto at_kth = (dist - dk.unsqueeze(1)).abs().le(1e-12 * dk.unsqueeze(1)) & tied.unsqueeze(1);
  Ties t;
  t.pair_mask = at_kth | at_kth.t();
  t.pair_mask.fill_diagonal_(false);
  t.vertex_mask = t.pair_mask.any(1);
  t.tied_vertices = tied.sum().item<int64_t>();
  (void)n;
  return t;
}

double masked_relative_error(const at::Tensor& a, const at::Tensor& b, const at::Tensor& keep) {
  const auto m = keep.to(torch::kDouble);
  return ((a - b) * m).norm().item<double>() / (b * m).norm().item<double>();
}

TEST(GraphTest, KernelWidthsFollowThePublishedTable) {
  EXPECT_EQ(v2_kernel_width(32, 8), 0.025);
  EXPECT_EQ(v2_kernel_width(1024, 20), 0.00098);
  EXPECT_EQ(v2_kernel_width(256, 60), 0.006351);
  EXPECT_EQ(v2_kernel_width(4, 8), 0.2);             // σ(32)·32/nside
  EXPECT_EQ(v2_kernel_width(16, 40), 0.042432 * 2);
  EXPECT_EQ(v2_kernel_width(512, 40), 0.005551 / 2);  // missing entries halve per doubling
  EXPECT_EQ(v2_kernel_width(1024, 60), 0.006351 / 4);
  EXPECT_EQ(v2_kernel_width(2048, 8), 0.00077 / 2);
  for (const auto& r : all_references()) {
    EXPECT_DOUBLE_EQ(v2_kernel_width(r.nside, r.k), r.kernel_width) << r.name;
  }
  try {
    v2_kernel_width(32, 7);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("8, 20, 40, 60"), std::string::npos) << e.what();
  }
  EXPECT_THROW(v2_kernel_width(48, 8), InvalidArgument);
}

TEST(GraphTest, CoordinatesMatchTheReference) {
  ASSERT_EQ(all_references().size(), 16u);
  for (const auto& r : all_references()) {
    HealpixGrid g(r.nside);
    EXPECT_LT((g.directions() - r.coords).abs().max().item<double>(), 1e-12) << r.name;
  }
}

// The main comparison: our W and L equal the peer's everywhere except on tie-dependent edges and the degrees
// (and, for the normalized Laplacian, the rows and columns) they touch.
TEST(GraphTest, V2MatchesDeepspherePytorchExceptAtTies) {
  for (const auto& r : all_references()) {
    SCOPED_TRACE(r.name);
    HealpixGrid grid(r.nside);
    GraphOptions options;
    options.k = r.k;
    options.laplacian = r.kind;
    const int64_t n = r.n();
    const auto w = adjacency(grid, options);
    const auto l = graph_laplacian(grid, options);
    const auto w_ours = w.to_dense();
    const auto l_ours = l.to_dense();
    const auto w_ref = dense(r.w_row, r.w_col, r.w_val, n);
    const auto l_ref = dense(r.l_row, r.l_col, r.l_val, n);
    const Ties ties = find_ties(r.coords, r.k);

    // Edge sets differ only on tied pairs.
    const auto differ = w_ours.ne(0) ^ w_ref.ne(0);
    EXPECT_EQ((differ & ~ties.pair_mask).sum().item<int64_t>(), 0);

    // W: everything but the tied pairs, to 1e-10.
    const auto keep_w = ~ties.pair_mask;
    EXPECT_LT(masked_relative_error(w_ours, w_ref, keep_w), 1e-10);
    const double excluded_w = (ties.pair_mask & w_ref.ne(0)).sum().item<double>() / r.w_val.numel();
    EXPECT_LT(excluded_w, 0.06);
    // Degrees: all but those of vertices with a tied pair.
    const auto deg_ours = w_ours.sum(1);
    const auto deg_ref = w_ref.sum(1);
    EXPECT_LT(masked_relative_error(deg_ours, deg_ref, ~ties.vertex_mask), 1e-10);
    double excluded_l = 0;
    const auto eye = torch::eye(n, torch::kDouble);
    if (r.kind == LaplacianKind::kCombinatorial) {
      // D − W: the tied pairs and the diagonal of the vertices with a tied pair are excluded.
      const auto keep_l = keep_w & ~(eye.to(torch::kBool) & ties.vertex_mask.unsqueeze(1));
      EXPECT_LT(masked_relative_error(l_ours, l_ref, keep_l), 1e-10);
      excluded_l = (~keep_l & l_ref.ne(0)).sum().item<double>() / r.l_val.numel();
      EXPECT_LT(excluded_l, 0.12);
    } else {
      // I − D^-½ W D^-½: a changed degree rescales its whole row and column, so compare the entries with the
      // degrees taken out (each side with its own degrees: −(L − I)_ij √(d_i d_j) = w_ij) on the untied pairs,
      // the degrees themselves above, and the unit diagonal everywhere.
      auto unscale = [&](const at::Tensor& l, const at::Tensor& deg) {
        const auto s = deg.sqrt();
        return -(l - eye) * s.unsqueeze(1) * s.unsqueeze(0);
      };
      EXPECT_LT(masked_relative_error(unscale(l_ours, deg_ours), unscale(l_ref, deg_ref), keep_w), 1e-10);
      EXPECT_LT(relative_error(l_ours.diagonal(), l_ref.diagonal()), 1e-15);
      // And directly, on the rows and columns of vertices without a tied pair.
      const auto keep_l = keep_w & ~ties.vertex_mask.unsqueeze(1) & ~ties.vertex_mask.unsqueeze(0);
      EXPECT_LT(masked_relative_error(l_ours, l_ref, keep_l), 1e-10);
      excluded_l = (ties.pair_mask & l_ref.ne(0)).sum().item<double>() / r.l_val.numel();
    }
    std::cout << "[          ] " << r.name << ": " << ties.tied_vertices << " of " << n
              << " vertices with tied k-th neighbours, " << ties.vertex_mask.sum().item<int64_t>()
              << " with a tie-dependent edge; excluded " << 100 * excluded_w << "% of W, " << 100 * excluded_l
              << "% of L entries\n";

    // Our own graph is symmetric, with a zero-sum (combinatorial) or unit (normalized) diagonal.
    EXPECT_TRUE(torch::equal(w_ours, w_ours.t()));
    EXPECT_TRUE(torch::equal(laplacian(w, r.kind).to_dense(), l_ours));
  }
}

// Where the edge set is the peer's, the weights and Laplacians agree everywhere: rebuild the peer's W from its
// own pattern with our kernel, and its L with our laplacian().
TEST(GraphTest, OnThePeersEdgeSetWeightsAndLaplaciansAgreeEverywhere) {
  for (const auto& r : all_references()) {
    SCOPED_TRACE(r.name);
    const auto rows = r.w_row.to(torch::kLong);
    const auto cols = r.w_col.to(torch::kLong);
    const auto d2 = (r.coords.index_select(0, rows) - r.coords.index_select(0, cols)).pow(2).sum(1);
    const auto weights = torch::exp(-std::log(2.0) * d2 / (r.kernel_width * r.kernel_width));
    EXPECT_LT(relative_error(weights, r.w_val), 1e-10);
    const auto w = CsrMatrix::from_coo(r.n(), r.n(), rows, cols, weights);
    EXPECT_LT(relative_error(laplacian(w, r.kind).to_dense(), dense(r.l_row, r.l_col, r.l_val, r.n())), 1e-10);
  }
}

TEST(GraphTest, EigenvalueBoundIsWithinOnePercentAboveTheExactValue) {
  for (const auto& r : all_references()) {
    SCOPED_TRACE(r.name);
    const auto l_ref = CsrMatrix::from_coo(r.n(), r.n(), r.l_row, r.l_col, r.l_val);
    const double bound = largest_eigenvalue_bound(l_ref);
    EXPECT_GE(bound, r.lmax_exact);
    EXPECT_LE(bound, 1.01 * r.lmax_exact);
    EXPECT_EQ(bound, largest_eigenvalue_bound(l_ref));  // deterministic
    // Our own Laplacian (ties broken our way): against its exact spectrum.
    GraphOptions options;
    options.k = r.k;
    options.laplacian = r.kind;
    const auto l = graph_laplacian(HealpixGrid(r.nside), options);
    const double exact = at::linalg_eigvalsh(l.to_dense(), "L").max().item<double>();
    const double ours = largest_eigenvalue_bound(l);
    EXPECT_GE(ours, exact);
    EXPECT_LE(ours, 1.01 * exact);
  }
}

TEST(GraphTest, RescaledSpectrumStaysInItsInterval) {
  HealpixGrid grid(8);
  GraphOptions v2;
  v2.k = 20;
  const auto l2 = graph_laplacian(grid, v2);
  const auto s2 = at::linalg_eigvalsh(rescale_laplacian(l2, largest_eigenvalue_bound(l2), v2.construction)
                                              .to_dense(), "L");
  EXPECT_GE(s2.min().item<double>(), -1 - 1e-12);
  EXPECT_LE(s2.max().item<double>(), 1 + 1e-12);
  EXPECT_GE(s2.max().item<double>(), 0.98);
  // V1: (1.5 / (1.02 λ)) L − I has its spectrum in [−1, 1.5/1.02 − 1].
  GraphOptions v1;
  v1.construction = GraphConstruction::kV1;
  const auto l1 = graph_laplacian(grid, v1);
  const auto s1 = at::linalg_eigvalsh(rescale_laplacian(l1, largest_eigenvalue_bound(l1), v1.construction)
                                              .to_dense(), "L");
  EXPECT_GE(s1.min().item<double>(), -1 - 1e-12);
  EXPECT_LE(s1.max().item<double>(), 1.5 / 1.02 - 1 + 1e-12);
  EXPECT_GE(s1.max().item<double>(), 1.5 / 1.02 - 1 - 0.02);
  // Rescaling is affine: L̂ = a L − I.
  const auto r = rescale_laplacian(l2, 4.0, GraphConstruction::kV2).to_dense();
  EXPECT_LT(relative_error(r, l2.to_dense() / 2 - torch::eye(768, torch::kDouble)), 1e-15);
}

TEST(GraphTest, V1LinksTheHealpixNeighbours) {
  for (int64_t nside : {4, 8}) {
    HealpixGrid grid(nside);
    GraphOptions options;
    options.construction = GraphConstruction::kV1;
    EXPECT_EQ(options.laplacian_kind(), LaplacianKind::kNormalized);
    const auto w = adjacency(grid, options);
    const auto wd = w.to_dense();
    EXPECT_TRUE(torch::equal(wd, wd.t()));
    EXPECT_TRUE(torch::equal(wd.diagonal(), torch::zeros({grid.size()}, torch::kDouble)));
    // Exactly the HEALPix neighbours, with w = exp(−d² / (2 mean d²)).
    const auto nb = grid.neighbours();
    const auto dirs = grid.directions();
    const auto valid = nb.ge(0);
    const auto rows = torch::arange(grid.size(), torch::kLong).unsqueeze(1).expand({-1, 8}).masked_select(valid);
    const auto cols = nb.masked_select(valid);
    const auto d2 = (dirs.index_select(0, rows) - dirs.index_select(0, cols)).pow(2).sum(1);
    const auto expected = torch::exp(-d2 / (2 * d2.mean()));
    EXPECT_LT(relative_error(wd.index({rows, cols}), expected), 1e-14);
    EXPECT_EQ(w.nnz(), cols.numel());
    // Normalized Laplacian: unit diagonal, D^½ 1 in its kernel, neighbours + 1 entries per row.
    const auto l = graph_laplacian(grid, options);
    const auto ld = l.to_dense();
    EXPECT_LT((ld.diagonal() - 1).abs().max().item<double>(), 1e-15);
    const auto sqrt_deg = wd.sum(1).sqrt();
    EXPECT_LT(ld.matmul(sqrt_deg).abs().max().item<double>(), 1e-14);
    const auto per_row = l.row_ptr().slice(0, 1) - l.row_ptr().slice(0, 0, -1);
    EXPECT_TRUE(torch::equal(per_row, valid.sum(1) + 1));
    EXPECT_LT(relative_error(ld, laplacian(w, LaplacianKind::kNormalized).to_dense()), 1e-15);
    // Combinatorial option: zero row sums.
    options.laplacian = LaplacianKind::kCombinatorial;
    EXPECT_LT(graph_laplacian(grid, options).to_dense().sum(1).abs().max().item<double>(), 1e-14);
  }
}

TEST(GraphTest, V1OnAPatchDropsOutsideNeighbours) {
  auto patch = HealpixGrid::patch(8, 1, 4);
  GraphOptions options;
  options.construction = GraphConstruction::kV1;
  const auto w = adjacency(*patch, options);
  EXPECT_EQ(w.rows(), 64);
  EXPECT_EQ(w.nnz(), patch->neighbours().ge(0).sum().item<int64_t>());
  // Interior pixels keep 8 neighbours, edge pixels fewer.
  const auto per_row = w.row_ptr().slice(0, 1) - w.row_ptr().slice(0, 0, -1);
  EXPECT_EQ(per_row.max().item<int64_t>(), 8);
  EXPECT_LT(per_row.min().item<int64_t>(), 8);
}

TEST(GraphTest, V2OnAPartialSkyEqualsTheGraphOfItsPoints) {
  // pygsp builds the k-NN graph of the subset's own points: the same as a points grid with the same σ.
  auto patch = HealpixGrid::patch(16, 1, 7);
  GraphOptions options;
  options.k = 20;
  const auto on_patch = adjacency(*patch, options).to_dense();
  GraphOptions explicit_width = options;
  explicit_width.kernel_width = v2_kernel_width(16, 20);
  const auto on_points = adjacency(PointsGrid(patch->directions()), explicit_width).to_dense();
  EXPECT_TRUE(torch::equal(on_patch, on_points));
  // Each vertex keeps at least k neighbours, all inside the patch.
  EXPECT_GE(on_patch.ne(0).sum(1).min().item<int64_t>(), 20);
}

TEST(GraphTest, TinyGridsLinkEverything) {
  // A coarsened patch of 4 pixels with k = 8: each vertex links to the 3 others.
  HealpixGrid tiny(2, torch::tensor({0, 1, 2, 3}, torch::kLong));
  const auto w = adjacency(tiny, GraphOptions{}).to_dense();
  EXPECT_EQ(w.ne(0).sum().item<int64_t>(), 12);
  const auto l = cached_rescaled_laplacian(std::make_shared<HealpixGrid>(1, torch::tensor({3}, torch::kLong)),
                                           GraphOptions{}, torch::kDouble, torch::kCPU);
  EXPECT_TRUE(torch::equal(l->to_dense(), -torch::ones({1, 1}, torch::kDouble)));
}

TEST(GraphTest, BadInputsAreClearErrors) {
  GraphOptions k7;
  k7.k = 7;
  try {
    adjacency(HealpixGrid(8), k7);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("valid k: 8, 20, 40, 60"), std::string::npos) << e.what();
  }
  k7.kernel_width = 0.1;  // any k with an explicit width
  EXPECT_EQ(adjacency(HealpixGrid(4), k7).rows(), 192);
  GraphOptions k0;
  k0.k = 0;
  k0.kernel_width = 0.1;
  EXPECT_THROW(adjacency(HealpixGrid(4), k0), InvalidArgument);
  PointsGrid points(HealpixGrid(2).directions());
  EXPECT_THROW(adjacency(points, GraphOptions{}), InvalidArgument);  // no published width for points
  GraphOptions v1;
  v1.construction = GraphConstruction::kV1;
  EXPECT_THROW(adjacency(points, v1), InvalidArgument);
  EXPECT_THROW(parse_graph_construction("v3"), InvalidArgument);
  EXPECT_THROW(parse_laplacian_kind("random_walk"), InvalidArgument);
  EXPECT_EQ(parse_graph_construction("v1"), GraphConstruction::kV1);
  EXPECT_EQ(parse_laplacian_kind("normalized"), LaplacianKind::kNormalized);
  EXPECT_THROW(largest_eigenvalue_bound(CsrMatrix::from_dense(torch::ones({2, 3}, torch::kDouble))), InvalidArgument);
}

TEST(GraphTest, OptionKeysNameWhatChangesTheGraph) {
  GraphOptions a;
  EXPECT_EQ(a.key(), "v2,k=8,combinatorial");
  a.k = 20;
  a.laplacian = LaplacianKind::kNormalized;
  EXPECT_EQ(a.key(), "v2,k=20,normalized");
  a.kernel_width = 0.5;
  EXPECT_EQ(a.key(), "v2,k=20,normalized,sigma=0.5");
  GraphOptions v1;
  v1.construction = GraphConstruction::kV1;
  EXPECT_EQ(v1.key(), "v1,normalized");
}

TEST(GraphTest, SameGraphWhateverTheThreadCount) {
  HealpixGrid grid(64);  // 49152 vertices: large enough for the parallel paths
  GraphOptions options;
  options.k = 20;
  sphaera::core::set_num_threads(1);
  const auto one = graph_laplacian(grid, options);
  const double bound_one = largest_eigenvalue_bound(one);
  sphaera::core::set_num_threads(2);
  const auto two = graph_laplacian(grid, options);
  EXPECT_TRUE(torch::equal(one.row_ptr(), two.row_ptr()));
  EXPECT_TRUE(torch::equal(one.col_index(), two.col_index()));
  EXPECT_TRUE(torch::equal(one.values(), two.values()));
  EXPECT_EQ(bound_one, largest_eigenvalue_bound(two));
  sphaera::core::set_num_threads(0);
}

TEST(GraphTest, FastExponentialIsWithinTwoUlp) {
  std::vector<double> x;
  for (double v = 0; v > -700; v -= 0.0137) x.push_back(v);
  for (double v : {-0.0, -1e-300, -1e-17, -0.5 * std::log(2.0), -std::log(2.0), -699.999}) x.push_back(v);
  std::vector<double> y = x;
  exp_nonpositive_inplace(y.data(), static_cast<int64_t>(y.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double exact = std::exp(x[i]);
    worst = std::max(worst, std::abs(exp_nonpositive(x[i]) - exact) / exact);
    worst = std::max(worst, std::abs(y[i] - exact) / exact);
  }
  EXPECT_LT(worst, 4.5e-16);
  EXPECT_EQ(exp_nonpositive(-800.0), 0.0);
}

TEST(GraphTest, CacheBuildsOncePerGridOptionsDtypeAndDevice) {
  auto grid = std::make_shared<HealpixGrid>(4);
  GraphOptions options;
  std::vector<std::shared_ptr<const CsrMatrix>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] { got[t] = cached_rescaled_laplacian(grid, options, torch::kDouble, torch::kCPU); });
  }
  for (auto& t : threads) t.join();
  for (int t = 1; t < 4; ++t) EXPECT_EQ(got[t].get(), got[0].get());
  // Another grid object with the same key shares the entry.
  EXPECT_EQ(cached_rescaled_laplacian(std::make_shared<HealpixGrid>(4), options, torch::kDouble, torch::kCPU).get(),
            got[0].get());
  const auto f32 = cached_rescaled_laplacian(grid, options, torch::kFloat, torch::kCPU);
  EXPECT_EQ(f32->values().scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(f32->values(), got[0]->values().to(torch::kFloat)));
  // Its value: 2 L / λ − I with λ the deterministic bound.
  const auto l = graph_laplacian(*grid, options);
  const auto expected = rescale_laplacian(l, largest_eigenvalue_bound(l), GraphConstruction::kV2);
  EXPECT_TRUE(torch::equal(got[0]->to_dense(), expected.to_dense()));
  // Different options, different entry.
  GraphOptions k20;
  k20.k = 20;
  EXPECT_NE(cached_rescaled_laplacian(grid, k20, torch::kDouble, torch::kCPU).get(), got[0].get());
  // Released: the holders keep theirs, the next call builds a new matrix of the same values.
  release_cached_laplacians();
  const auto rebuilt = cached_rescaled_laplacian(grid, options, torch::kDouble, torch::kCPU);
  EXPECT_NE(rebuilt.get(), got[0].get());
  EXPECT_TRUE(torch::equal(rebuilt->to_dense(), got[0]->to_dense()));
}

}  // namespace
