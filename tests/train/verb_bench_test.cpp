// `sphaera bench` as users run it: both layers measured, the JSON it writes, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/scratch.h"

using sphaera::testing::cli_path;
using sphaera::testing::run_command;

namespace {

class VerbBenchTest : public sphaera::testing::ScratchDirTest {
 protected:
  sphaera::testing::CommandResult sphaera(const std::string& args) {
    return run_command("cd " + dir_.string() + " && " + cli_path() + " bench " + args);
  }
};

TEST_F(VerbBenchTest, MeasuresBothLayersAndWritesJson) {
  const auto r = sphaera("--nside 8 --channels 2 --batch 1 --kernel-size 3 --repeats 1 --dtype float64 --out b.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ChebConv K=3 on the v2 graph, k=8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SpectralConv lmax=16"), std::string::npos) << r.out;  // default 2 nside
  std::ifstream file(path("b.json"));
  ASSERT_TRUE(file.good());
  const auto j = nlohmann::json::parse(file);
  EXPECT_EQ(j["nside"], 8);
  EXPECT_EQ(j["band_limit"], 8);
  // Parameters: weight [Cin, K, Cout] + bias [Cout]; weight [Cin, Cout, lmax + 1] + bias [Cout].
  EXPECT_EQ(j["graph"]["parameters"], 2 * 3 * 2 + 2);
  EXPECT_EQ(j["spectral"]["parameters"], 2 * 2 * 17 + 2);
  // The graph's geometry is its Laplacian: 768 rows of int64 pointers, 768·9 entries (k = 8 neighbours, the
  // diagonal, a few more where the k-NN relation is not symmetric) of int32 columns and float64 values.
  const double graph_bytes = j["graph"]["geometry_gb"].get<double>() * 1e9;
  EXPECT_GE(graph_bytes, 769 * 8 + 768 * 9 * 12);
  EXPECT_LT(graph_bytes, 769 * 8 + 768 * 12 * 12);
  for (const char* layer : {"graph", "spectral"}) {
    for (const char* key : {"setup_s", "forward_ms", "forward_backward_ms", "peak_rss_gb"}) {
      EXPECT_GT(j[layer][key].get<double>(), 0.0) << layer << " " << key;
    }
    const double e = j[layer]["equivariance_error"].get<double>();
    EXPECT_TRUE(std::isfinite(e) && e > 0) << layer << " " << e;
  }
  // A spectral layer commutes with rotations up to the HEALPix quadrature error of the band-limited maps
  // (about 1e-3 at nside 8 with healpy's 3 refinement steps); a graph layer of random weights is far from it.
  EXPECT_LT(j["spectral"]["equivariance_error"].get<double>(), 1e-2);
  EXPECT_GT(j["graph"]["equivariance_error"].get<double>(), j["spectral"]["equivariance_error"].get<double>());
}

TEST_F(VerbBenchTest, BadInputGivesOneErrorLine) {
  for (const auto& [args, word] : {std::pair<std::string, std::string>{"--nside 3", "--nside"},
                                   {"--repeats 0", "--repeats"},
                                   {"--channels 0", "--channels"},
                                   {"--k 9", "20"},
                                   {"--dtype half", "--dtype"},
                                   {"--nside 4 --lmax 40", "--lmax"}}) {
    const auto r = sphaera(args + " --out bad.json");
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("sphaera bench: error:"), std::string::npos) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(word), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(path("bad.json"))) << args;
  }
}

}  // namespace
