// `sphaera graph` as users run it, and the Matrix Market writer behind --out.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/matrix_market.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"
#include "tests/support/npy.h"
#include "tests/support/process.h"

namespace fs = std::filesystem;
using sphaera::core::CsrMatrix;
using sphaera::testing::cli_path;
using sphaera::testing::load_npy;
using sphaera::testing::lines_in;
using sphaera::testing::run_command;
using sphaera::testing::test_data;

namespace {

struct MatrixMarket {
  std::string banner;
  int64_t rows = 0, cols = 0, entries = 0;
  std::vector<int64_t> row, col;  // 0-based
  std::vector<double> value;
};

MatrixMarket read_matrix_market(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  MatrixMarket m;
  std::getline(in, m.banner);
  std::string line;
  while (std::getline(in, line) && !line.empty() && line[0] == '%') {
  }
  std::istringstream(line) >> m.rows >> m.cols >> m.entries;
  int64_t r, c;
  double v;
  while (in >> r >> c >> v) {
    m.row.push_back(r - 1);
    m.col.push_back(c - 1);
    m.value.push_back(v);
  }
  return m;
}

at::Tensor dense(const MatrixMarket& m) {
  auto d = torch::zeros({m.rows, m.cols}, torch::kDouble);
  d.index_put_({torch::tensor(m.row, torch::kLong), torch::tensor(m.col, torch::kLong)},
               torch::tensor(m.value, torch::kDouble), true);
  return d;
}

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("sphaera_verb_graph_" + std::to_string(::getpid()) + "_" + name);
}

TEST(VerbGraphTest, ExportsTheLaplacianOfTheReferenceGraph) {
  const auto out = temp_path("nside4_k8.mtx");
  const auto r = run_command(cli_path() + " graph --nside 4 --k 8 --out " + out.string() + " --lmax --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("vertices: 192"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("build time:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak memory:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lmax bound:"), std::string::npos) << r.out;
  const MatrixMarket m = read_matrix_market(out.string());
  fs::remove(out);
  EXPECT_EQ(m.banner, "%%MatrixMarket matrix coordinate real general");
  ASSERT_EQ(m.rows, 192);
  ASSERT_EQ(m.cols, 192);
  ASSERT_EQ(static_cast<int64_t>(m.value.size()), m.entries);
  const auto ours = dense(m);

  // Exactly the library's Laplacian (17 significant digits round-trip float64).
  sphaera::transforms::GraphOptions options;
  options.k = 8;
  const auto lib = sphaera::transforms::graph_laplacian(sphaera::transforms::HealpixGrid(4), options);
  EXPECT_EQ(m.entries, lib.nnz());
  EXPECT_TRUE(torch::equal(ours, lib.to_dense()));

  // The peer's Laplacian, on the rows and columns untouched by k-NN ties (vertices whose 8th and 9th nearest
  // neighbours are equidistant, and the vertices at that distance from them).
  const std::string dir = test_data("deepsphere_laplacians/lap_nside4_k8_combinatorial/");
  auto ref = torch::zeros({192, 192}, torch::kDouble);
  ref.index_put_({load_npy(dir + "L_row.npy"), load_npy(dir + "L_col.npy")}, load_npy(dir + "L_val.npy"), true);
  const auto coords = load_npy(dir + "coords.npy");
  const auto dist = (coords.unsqueeze(1) - coords.unsqueeze(0)).pow(2).sum(2).sqrt();
  const auto sorted = std::get<0>(dist.sort(1));
  const auto dk = sorted.select(1, 8).unsqueeze(1);
  const auto tied = (sorted.select(1, 9).unsqueeze(1) - dk).le(1e-12 * dk);
  const auto pairs = (dist - dk).abs().le(1e-12 * dk) & tied;
  const auto touched = (pairs | pairs.t()).any(1);
  const auto keep = (~touched).unsqueeze(1) & (~touched).unsqueeze(0);
  const auto kept = keep.sum().item<int64_t>();
  EXPECT_GT(kept, 192 * 192 / 3);
  EXPECT_LT(((ours - ref) * keep).norm().item<double>() / (ref * keep).norm().item<double>(), 1e-10);
}

TEST(VerbGraphTest, BadInputIsOneLineAndExitOne) {
  auto r = run_command(cli_path() + " graph --nside 3 --threads 1");
  EXPECT_EQ(r.exit_code, 1);
  const auto error = r.err.substr(r.err.find("sphaera graph: error:"));
  EXPECT_EQ(lines_in(error), 1) << r.err;
  EXPECT_NE(error.find("--nside"), std::string::npos) << error;
  EXPECT_NE(error.find("power of two"), std::string::npos) << error;

  r = run_command(cli_path() + " graph --nside 8 --k 7 --threads 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines_in(r.err.substr(r.err.find("sphaera graph: error:"))), 1) << r.err;
  EXPECT_NE(r.err.find("valid k: 8, 20, 40, 60"), std::string::npos) << r.err;

  r = run_command(cli_path() + " graph --nside 8 --laplacian random_walk --threads 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("combinatorial or normalized"), std::string::npos) << r.err;

  r = run_command(cli_path() + " graph --k 8");  // --nside missing: a usage error
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
}

TEST(VerbGraphTest, V1NormalizedWithoutOutputReportsTheGraph) {
  const auto r = run_command(cli_path() + " graph --nside 8 --construction v1 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("v1,normalized"), std::string::npos) << r.out;
  // 768 vertices, 8 neighbours but 24 with 7, plus the diagonal.
  EXPECT_NE(r.out.find("non-zeros: " + std::to_string(768 * 9 - 24)), std::string::npos) << r.out;
}

TEST(MatrixMarketTest, WritesGeneralAndSymmetricFilesAtomically) {
  auto d = torch::tensor({{2.0, -1.0 / 3.0, 0.0}, {-1.0 / 3.0, 1e-300, 5e20}, {0.0, 5e20, -0.0}}, torch::kDouble);
  const auto a = CsrMatrix::from_dense(d);
  const auto path = temp_path("small.mtx");
  sphaera::data_tools::write_matrix_market(
      path.string(), a.view(), {sphaera::data_tools::MatrixMarketSymmetry::kGeneral, "a comment\nover two lines"});
  auto m = read_matrix_market(path.string());
  EXPECT_EQ(m.banner, "%%MatrixMarket matrix coordinate real general");
  EXPECT_EQ(m.entries, a.nnz());
  EXPECT_TRUE(torch::equal(dense(m), d));  // exact round trip
  std::ifstream text(path);
  std::stringstream all;
  all << text.rdbuf();
  EXPECT_NE(all.str().find("% a comment\n% over two lines\n3 3 6\n1 1 2.0000000000000000e+00\n"), std::string::npos)
      << all.str();

  sphaera::data_tools::write_matrix_market(path.string(), a.view(),
                                           {sphaera::data_tools::MatrixMarketSymmetry::kSymmetric, ""});
  m = read_matrix_market(path.string());
  EXPECT_EQ(m.banner, "%%MatrixMarket matrix coordinate real symmetric");
  EXPECT_EQ(m.entries, 4);
  for (size_t e = 0; e < m.row.size(); ++e) EXPECT_GE(m.row[e], m.col[e]);
  auto lower = dense(m);
  EXPECT_TRUE(torch::equal(lower + lower.tril(-1).t(), d));
  // No temporary left beside the file.
  int siblings = 0;
  for (const auto& entry : fs::directory_iterator(path.parent_path())) {
    siblings += entry.path().filename().string().find(path.filename().string() + ".tmp") != std::string::npos;
  }
  EXPECT_EQ(siblings, 0);
  fs::remove(path);
  EXPECT_THROW(sphaera::data_tools::write_matrix_market("/proc/no/such/dir/a.mtx", a.view()),
               sphaera::core::InvalidArgument);
}

}  // namespace
