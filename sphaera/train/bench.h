#pragma once
/// The graph-against-spectral benchmark behind `sphaera bench`: for each resolution and each layer variant
/// (ChebConv on a k-NN graph, SpectralConv at a band limit; on HEALPix or on a Gauss–Legendre grid of as many
/// pixels), forward and forward + backward time, peak memory, parameters, geometry memory and set-up time; and the
/// rotation equivariance error of each variant against the degree of its input, as DeepSphere (ICLR 2020) plots it.
/// Results go to results.json, results.md and PNG plots (write_bench_outputs).
///
///   Config config = Config::load("configs/bench_graph_vs_spectral.yaml");
///   BenchPlan plan = read_bench_plan(config);           // every key checked, with file:line in errors
///   nlohmann::json results = run_bench(plan);           // progress with ETA on stderr
///   write_bench_outputs(results, "bench_results");     // results.json, results.md, *.png
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sphaera/data_tools/plot.h"
#include "sphaera/train/config.h"

namespace sphaera::train {

/// One layer variant, measured at every nside of the plan (up to max_nside).
struct BenchLayer {
  std::string type = "chebconv";  ///< "chebconv" or "spectral"
  /// "healpix" (full sky, NEST) or "gauss_legendre": round(√6 · nside) rings of 2·rings − 1 points, about as many
  /// pixels as HEALPix (12 nside²), exact for lmax ≤ rings − 1 ≈ 2.45 nside.
  std::string grid = "healpix";
  int k = 8;                    ///< chebconv: neighbours of the V2 graph (8, 20, 40 or 60: published kernel widths)
  int64_t kernel_size = 5;      ///< chebconv: Chebyshev terms K
  int64_t lmax_per_nside = 2;   ///< spectral: lmax = lmax_per_nside · nside + lmax_offset ...
  int64_t lmax_offset = 0;
  int64_t lmax_fixed = -1;      ///< ... or this, when ≥ 0
  /// spectral on HEALPix: refinement steps of the forward transform (healpy's iter); 0 as inside networks.
  int iterations = 0;
  int64_t max_nside = 0;        ///< 0: every nside of the plan
  std::string label() const;    ///< "ChebConv k=8 K=5" or "SpectralConv lmax=2nside", plus " (GL)" off HEALPix
  int64_t lmax(int64_t nside) const;
};

struct BenchPlan {
  std::vector<int64_t> nsides{32, 64, 128, 256};
  int64_t batch = 4;
  int64_t channels = 16;  ///< in and out
  std::string dtype = "float32";
  uint64_t seed = 0;
  int warmup = 1;
  int repeats = 5;
  /// A case whose estimated memory exceeds this fraction of the machine's available memory is skipped (and
  /// listed as skipped, with the estimate).
  double memory_fraction = 0.8;
  std::vector<BenchLayer> layers;
  /// Equivariance, in float64 at one resolution (0: not measured): for each degree l, random maps with
  /// harmonics of degree l only and `equivariance_samples` random rotations R (one per map).
  int64_t equivariance_nside = 32;
  std::vector<int64_t> degrees;  ///< empty: a spread from 1 to 3 nside − 1
  int equivariance_samples = 2;
  /// Also time each case's peer in the same run (`--peers`, timing.peers): torch-geometric's ChebConv on the same
  /// graph, torch-harmonics' transforms around the same mix on Gauss–Legendre, healpy's map2alm + alm2map on
  /// HEALPix; random maps of the same shape and dtype (healpy: float64), threads, warm-up and repeats. They run as
  /// bench/peers/layer_peers.py in the peers' environment (scripts/bench_peers.sh --install; SPHAERA_PEERS_PYTHON
  /// names another interpreter), one process per case; a peer that fails or is not installed is reported as such.
  bool peers = false;
  std::string source;  ///< the config file, or "command line"
  nlohmann::json config;  ///< the resolved config (recorded in results.json)
};

/// Reads the `maps`, `timing`, `equivariance` and `layers` sections of a bench config (see
/// configs/bench_graph_vs_spectral.yaml), with defaults; throws core::InvalidArgument naming file, line and key.
BenchPlan read_bench_plan(Config& config);

/// Runs every case of a plan that read_bench_plan (or the verb's flags, each checked) built, and returns the results (the layout of results.json, documented in docs/ARCHITECTURE.md).
nlohmann::json run_bench(const BenchPlan& plan);

/// The results as a Markdown document: a table of times and memory per nside, and one of equivariance errors.
std::string bench_markdown(const nlohmann::json& results);

/// One PNG of write_bench_outputs: its file name and panels, each panel_width × height pixels.
struct BenchFigure {
  std::string file;
  std::vector<data_tools::Panel> panels;
  int panel_width = 520;
  int height = 380;
};

/// The plots of the results: time_vs_nside.png (forward; forward + backward), memory_vs_nside.png (peak; geometry)
/// with one series per layer variant against nside, and, with peers, one per peer and variant ("healpy
/// (SpectralConv lmax=2nside)"; missing points where the peer failed); equivariance_vs_degree.png when measured.
std::vector<BenchFigure> bench_figures(const nlohmann::json& results);

/// Writes results.json, results.md, time_vs_nside.png, memory_vs_nside.png and (when measured)
/// equivariance_vs_degree.png into `dir` (created), each file atomically. Returns the paths written.
std::vector<std::string> write_bench_outputs(const nlohmann::json& results, const std::string& dir);

}  // namespace sphaera::train
