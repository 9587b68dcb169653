// `sphaera bench` as users run it: the single case of the flags, a config, what they write, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "sphaera/train/bench.h"
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

TEST_F(VerbBenchTest, MeasuresBothLayersAndWritesResults) {
  const auto r = sphaera(
      "--nside 8 --channels 2 --batch 1 --kernel-size 3 --repeats 1 --dtype float64 --equivariance-nside 4 --out b");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| ChebConv k=8 K=3 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| SpectralConv lmax=2nside |"), std::string::npos) << r.out;  // the default
  std::ifstream file(path("b/results.json"));
  ASSERT_TRUE(file.good());
  const auto j = nlohmann::json::parse(file);
  ASSERT_EQ(j["cases"].size(), 2u);
  const auto& graph = j["cases"][0];
  const auto& spectral = j["cases"][1];
  EXPECT_EQ(graph["nside"], 8);
  EXPECT_EQ(spectral["lmax"], 16);
  // Parameters: weight [Cin, K, Cout] + bias [Cout]; weight [Cin, Cout, lmax + 1] + bias [Cout].
  EXPECT_EQ(graph["parameters"], 2 * 3 * 2 + 2);
  EXPECT_EQ(spectral["parameters"], 2 * 2 * 17 + 2);
  // The graph's geometry is its Laplacian: 768 rows of int64 pointers, 768·9 entries (k = 8 neighbours, the
  // diagonal, a few more where the k-NN relation is not symmetric) of int32 columns and float64 values.
  const double graph_bytes = graph["geometry_bytes"].get<double>();
  EXPECT_GE(graph_bytes, 769 * 8 + 768 * 9 * 12);
  EXPECT_LT(graph_bytes, 769 * 8 + 768 * 12 * 12);
  for (const auto& c : {graph, spectral}) {
    for (const char* pass : {"forward", "forward_backward"}) {
      EXPECT_GT(c[pass]["median_s"].get<double>(), 0.0) << pass;
      EXPECT_LE(c[pass]["min_s"].get<double>(), c[pass]["max_s"].get<double>()) << pass;
      EXPECT_GT(c[pass]["peak_bytes"].get<double>(), 0.0) << pass;
    }
  }
  for (const char* name : {"results.md", "time_vs_nside.png", "memory_vs_nside.png", "equivariance_vs_degree.png"}) {
    EXPECT_TRUE(std::filesystem::exists(path(std::string("b/") + name))) << name;
  }
  // Equivariance rows: the identity (the floor), then the two layers, at every degree up to 3 nside - 1 = 11.
  const auto& eq = j["equivariance"];
  ASSERT_EQ(eq["layers"].size(), 3u);
  EXPECT_EQ(eq["degrees"].back(), 11);
  for (size_t d = 0; d < eq["degrees"].size(); ++d) {
    const int64_t l = eq["degrees"][d].get<int64_t>();
    if (l > 4) continue;  // well resolved by nside 4
    // The identity's floor (R applied through the transform, healpy's 3 refinement steps) is about 1e-6 for
    // l <= nside. The spectral layer as networks use it (iterations 0: one quadrature step) commutes with
    // rotations up to that step's error, about 1e-3 at nside 8 (iterations: 3 in a config, below, shrinks it).
    const double floor = eq["layers"][0]["errors"][d].get<double>();
    const double spectral_e = eq["layers"][2]["errors"][d].get<double>();
    EXPECT_LT(floor, 1e-4) << l;
    EXPECT_LT(spectral_e, 3e-2) << l;
    EXPECT_GT(spectral_e, 10 * floor) << l;
  }
}

// A config: every variant at every nside, one skipped above its max_nside, the Gauss-Legendre identity exact.
TEST_F(VerbBenchTest, RunsEveryVariantOfAConfig) {
  std::ofstream(path("b.yaml")) << "maps: {nsides: [4, 8], batch: 1, channels: 1, dtype: float64}\n"
                                   "timing: {warmup: 0, repeats: 1}\n"
                                   "equivariance: {nside: 4, degrees: [1, 3], samples: 1}\n"
                                   "layers:\n"
                                   "  - {type: chebconv, k: 8, K: 2}\n"
                                   "  - {type: spectral, lmax: 2nside, grid: gauss_legendre, max_nside: 4}\n"
                                   "  - {type: spectral, lmax: 2nside, max_nside: 4}\n"
                                   "  - {type: spectral, lmax: 2nside, iterations: 3, max_nside: 4}\n";
  const auto r = sphaera("b.yaml --out out");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream file(path("out/results.json"));
  const auto j = nlohmann::json::parse(file);
  ASSERT_EQ(j["cases"].size(), 8u);
  EXPECT_EQ(j["cases"][1]["grid"], "gauss_legendre");
  EXPECT_EQ(j["cases"][1]["pixels"], 10 * 19);  // round(sqrt(6) 4) = 10 rings of 19 points
  EXPECT_FALSE(j["cases"][1].contains("skipped"));
  EXPECT_NE(j["cases"][5]["skipped"].get<std::string>().find("max_nside"), std::string::npos);
  EXPECT_EQ(j["cases"][3]["layer"], "SpectralConv lmax=2nside iter=3");
  // Gauss-Legendre transforms are exact: the identity's error is rounding, and so is the spectral layer's.
  const auto& eq = j["equivariance"]["layers"];
  ASSERT_EQ(eq.size(), 6u);  // identity (HEALPix), identity (GL), the four variants
  EXPECT_EQ(eq[1]["layer"], "identity (GL)");
  for (int row : {1, 3}) {
    for (const auto& e : eq[row]["errors"]) EXPECT_LT(e.get<double>(), 1e-24) << eq[row]["layer"];
  }
  // On HEALPix the refinement steps of the forward transform bring the spectral layer towards the floor.
  for (size_t d = 0; d < 2; ++d) {
    const double floor = eq[0]["errors"][d].get<double>(), one_step = eq[4]["errors"][d].get<double>(),
                 refined = eq[5]["errors"][d].get<double>();
    std::cout << "l " << j["equivariance"]["degrees"][d] << ": floor " << floor << ", iterations 0 " << one_step
              << ", iterations 3 " << refined << "\n";
    EXPECT_LT(refined, one_step / 10) << d;
    EXPECT_LT(refined, 10 * floor + 1e-12) << d;
  }
}

TEST_F(VerbBenchTest, BadConfigNamesFileLineAndKey) {
  std::ofstream(path("bad.yaml")) << "maps: {nsides: [8]}\nlayers:\n  - {type: chebconv, k: 9}\n";
  auto r = sphaera("bad.yaml --out bad");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("bad.yaml:3: layers[0].k"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("bad")));
  std::ofstream(path("bad2.yaml")) << "maps: {nsides: [8]}\nlayers:\n  - {type: spectral, lmax: twice}\n";
  r = sphaera("bad2.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("layers[0].lmax"), std::string::npos) << r.err;
  std::ofstream(path("bad3.yaml")) << "maps: {nsides: []}\nlayers:\n  - {type: spectral}\n";
  r = sphaera("bad3.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("bad3.yaml:1: maps.nsides"), std::string::npos) << r.err;
  r = sphaera("bad2.yaml --nside 8");  // flags describe the single case only
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--set"), std::string::npos) << r.err;
}

// --peers: each case's peer runs as the peers' script under SPHAERA_PEERS_PYTHON (here a stand-in that checks
// what it is given, answers for the graph case and fails for the spectral one, as a peer out of memory would).
TEST_F(VerbBenchTest, PeersRunBesideEachCaseAndTheirFailuresAreReported) {
  {
    std::ofstream fake(path("fake_python"));
    fake << "#!/bin/bash\n"
            "shift\n"  // the script's path
            "echo \"$*\" >> '" << path("peer_args.txt") << "'\n"
            "args=(\"$@\")\n"
            "for i in \"${!args[@]}\"; do [[ ${args[i]} == --laplacian ]] && lap=${args[i+1]}; done\n"
            "if [[ \" $* \" == *' --peer torch_geometric '* ]]; then\n"
            "  head -n1 \"$lap\" | grep -q '^%%MatrixMarket' || { echo 'no Laplacian' >&2; exit 5; }\n"
            "  echo 'peer chatter'\n"
            "  echo '{\"peer\": \"torch_geometric\", \"what\": \"stand-in ChebConv\", \"forward\": {\"median_s\": 0.5, "
            "\"min_s\": 0.5, \"max_s\": 0.5}, \"forward_backward\": {\"median_s\": 1.5, \"min_s\": 1.5, \"max_s\": 1.5}, "
            "\"peak_bytes\": 2e9}'\n"
            "else\n"
            "  echo 'MemoryError: stand-in out of memory' >&2; exit 3\n"
            "fi\n";
  }
  std::filesystem::permissions(path("fake_python"), std::filesystem::perms::owner_all);
  const auto r = run_command("cd " + dir_.string() + " && SPHAERA_PEERS_PYTHON=" + path("fake_python") + " " +
                             cli_path() + " bench --nside 8 --channels 2 --batch 1 --kernel-size 3 --repeats 1 "
                             "--equivariance-nside 0 --peers --out p");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream file(path("p/results.json"));
  const auto j = nlohmann::json::parse(file);
  const auto& graph = j["cases"][0]["peer"];
  const auto& spectral = j["cases"][1]["peer"];
  EXPECT_EQ(graph["what"], "stand-in ChebConv");
  EXPECT_EQ(graph["forward_backward"]["median_s"], 1.5);
  EXPECT_EQ(spectral["peer"], "healpy");
  const std::string failed = spectral.value("failed", "");
  EXPECT_NE(failed.find("exit status 3"), std::string::npos) << failed;
  EXPECT_NE(failed.find("MemoryError: stand-in out of memory"), std::string::npos) << failed;
  EXPECT_NE(r.err.find("peer healpy failed"), std::string::npos) << r.err;
  // The table: the peer's time over ours for the graph case, the failure spelled out for the spectral one.
  const double ours = j["cases"][0]["forward"]["median_s"].get<double>();
  char speedup[32];
  std::snprintf(speedup, sizeof speedup, "%.2fx", 0.5 / ours);
  EXPECT_NE(r.out.find("## Peers in the same run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::string("| stand-in ChebConv | 500.0 | ") + speedup), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("healpy: failed, exit status 3"), std::string::npos) << r.out;
  // The plots carry each peer as a series of its own beside Sphaera's: its time and peak where it ran, a missing
  // point where it failed.
  const auto figures = sphaera::train::bench_figures(j);
  ASSERT_GE(figures.size(), 2u);
  auto series = [&](size_t figure, size_t panel, const std::string& name) -> const sphaera::data_tools::Series* {
    for (const auto& s : figures[figure].panels.at(panel).series) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  const std::string graph_label = j["cases"][0]["layer"], spectral_label = j["cases"][1]["layer"];
  EXPECT_EQ(figures[0].file, "time_vs_nside.png");
  EXPECT_EQ(figures[1].file, "memory_vs_nside.png");
  for (const auto& [panel, figure, value] : {std::tuple<size_t, size_t, double>{0, 0, 0.5}, {1, 0, 1.5}, {0, 1, 2.0}}) {
    const auto* peer = series(figure, panel, "torch_geometric (" + graph_label + ")");
    ASSERT_NE(peer, nullptr) << figures[figure].file << " panel " << panel;
    ASSERT_EQ(peer->y.size(), 1u);
    EXPECT_DOUBLE_EQ(peer->y[0], value) << figures[figure].file << " panel " << panel;
    EXPECT_DOUBLE_EQ(peer->x[0], 8.0);
    ASSERT_NE(series(figure, panel, graph_label), nullptr);  // Sphaera's own series stays
    const auto* failed_peer = series(figure, panel, "healpy (" + spectral_label + ")");
    ASSERT_NE(failed_peer, nullptr);
    EXPECT_TRUE(std::isnan(failed_peer->y.at(0)));
  }
  EXPECT_EQ(series(1, 1, "torch_geometric (" + graph_label + ")"), nullptr);  // geometry: no peer figure
  // What each peer was given: the case's problem, the same threads, and the spectral case's band limit.
  std::ifstream args_file(path("peer_args.txt"));
  const std::string args((std::istreambuf_iterator<char>(args_file)), std::istreambuf_iterator<char>());
  for (const char* expected : {"--peer torch_geometric --pixels 768 --batch 1 --channels 2 --dtype float32",
                               "--K 3", "--peer healpy --pixels 768", "--lmax 16", "--threads "}) {
    EXPECT_NE(args.find(expected), std::string::npos) << expected << "\n" << args;
  }
  // Without a peers' environment: one error naming what to run, before any case.
  const auto missing = run_command("cd " + dir_.string() + " && SPHAERA_PEERS_PYTHON=" + path("none") + " " +
                                   cli_path() + " bench --nside 8 --repeats 1 --equivariance-nside 0 --peers --out q");
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_NE(missing.err.find("bench_peers.sh --install"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(path("q")));
}

TEST_F(VerbBenchTest, BadInputGivesOneErrorLine) {
  for (const auto& [args, word] : {std::pair<std::string, std::string>{"--nside 3", "--nside"},
                                   {"--repeats 0", "--repeats"},
                                   {"--channels 0", "--channels"},
                                   {"--k 9", "20"},
                                   {"--dtype half", "--dtype"},
                                   {"--nside 4 --lmax 40", "--lmax"}}) {
    const auto r = sphaera(args + " --out bad");
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("sphaera bench: error:"), std::string::npos) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(word), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(path("bad"))) << args;
  }
}

}  // namespace
