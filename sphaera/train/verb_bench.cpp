// `sphaera bench`: graph convolutions (ChebConv on DeepSphere's V2 graph) against spectral convolutions
// (SpectralConv), from a config (every nside and variant of it) or from flags (one nside, one layer of each), with
// train/bench.h doing the measuring and writing.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "sphaera/core/check.h"
#include "sphaera/train/bench.h"
#include "sphaera/train/cli.h"
#include "sphaera/train/config.h"
#include "sphaera/transforms/graph_csr.h"
#include "sphaera/transforms/healpix_grid.h"

namespace sphaera::train {

namespace {

struct BenchArgs {
  std::string config;
  std::vector<std::string> overrides;
  int64_t nside = 32;
  int64_t channels = 16;
  int64_t batch = 4;
  int k = 8;
  int64_t kernel_size = 3;
  int64_t lmax = -1;
  int repeats = 5;
  int64_t equivariance_nside = -1;
  uint64_t seed = 0;
  std::string dtype = "float32";
  std::string out;
  bool peers = false;
};

// The single case of the flags: one nside, a ChebConv and a SpectralConv on HEALPix.
BenchPlan plan_from_flags(const BenchArgs& a) {
  transforms::check_nside(a.nside, "--nside");
  SPHAERA_CHECK(a.channels >= 1, "--channels: must be >= 1, got ", a.channels);
  SPHAERA_CHECK(a.batch >= 1, "--batch: must be >= 1, got ", a.batch);
  SPHAERA_CHECK(a.kernel_size >= 1, "--kernel-size: must be >= 1, got ", a.kernel_size);
  SPHAERA_CHECK(a.repeats >= 1, "--repeats: must be >= 1, got ", a.repeats);
  SPHAERA_CHECK(a.dtype == "float32" || a.dtype == "float64", "--dtype: float32 or float64, got '", a.dtype, "'");
  transforms::v2_kernel_width(a.nside, a.k);  // fails early, listing the k with published kernel widths
  SPHAERA_CHECK(a.lmax <= 4 * a.nside, "--lmax: ", a.lmax, " is above 4 nside (", 4 * a.nside,
                "), where HEALPix maps no longer resolve the degrees");
  BenchPlan plan;
  plan.source = "command line";
  plan.nsides = {a.nside};
  plan.batch = a.batch;
  plan.channels = a.channels;
  plan.dtype = a.dtype;
  plan.seed = a.seed;
  plan.repeats = a.repeats;
  plan.peers = a.peers;
  plan.equivariance_nside = a.equivariance_nside >= 0 ? a.equivariance_nside : std::min<int64_t>(a.nside, 32);
  if (plan.equivariance_nside > 0) transforms::check_nside(plan.equivariance_nside, "--equivariance-nside");
  BenchLayer graph;
  graph.k = a.k;
  graph.kernel_size = a.kernel_size;
  BenchLayer spectral;
  spectral.type = "spectral";
  spectral.lmax_fixed = a.lmax;  // -1: 2 nside at every nside (the equivariance one too)
  plan.layers = {graph, spectral};
  plan.config = {{"maps", {{"nsides", plan.nsides}, {"batch", a.batch}, {"channels", a.channels},
                           {"dtype", a.dtype}, {"seed", a.seed}}},
                 {"timing", {{"warmup", plan.warmup}, {"repeats", a.repeats}}},
                 {"equivariance", {{"nside", plan.equivariance_nside}}},
                 {"layers", {{{"type", "chebconv"}, {"k", a.k}, {"K", a.kernel_size}},
                             {{"type", "spectral"}, {"lmax", a.lmax >= 0 ? nlohmann::json(a.lmax) : nlohmann::json("2nside")}}}}};
  return plan;
}

void run(const BenchArgs& a, bool flags_given, int threads) {
  apply_threads(threads);
  BenchPlan plan;
  if (!a.config.empty()) {
    SPHAERA_CHECK(!flags_given, "--nside, --channels, --batch, --k, --kernel-size, --lmax, --repeats, --seed, "
                                "--dtype and --equivariance-nside describe a single case without a config; with ",
                  a.config, " change its values with --set (e.g. --set maps.nsides=[32,64])");
    Config config = Config::load(a.config, a.overrides);
    plan = read_bench_plan(config);
    plan.peers = plan.peers || a.peers;
  } else {
    SPHAERA_CHECK(a.overrides.empty(), "--set changes a config's values: give the config first");
    plan = plan_from_flags(a);
  }
  const auto results = run_bench(plan);
  std::printf("%s", bench_markdown(results).c_str());
  std::fflush(stdout);
  if (!a.out.empty()) {
    for (const auto& path : write_bench_outputs(results, a.out)) std::fprintf(stderr, "wrote %s\n", path.c_str());
  }
}

}  // namespace

void add_bench_verb(CLI::App& app) {
  auto* verb = app.add_subcommand(
      "bench", "Graph (ChebConv) against spectral (SpectralConv) convolution: time, memory, rotation equivariance");
  verb->footer(
      "With CONFIG (configs/bench_graph_vs_spectral.yaml): every layer variant of the config (ChebConv for\n"
      "several k and K, SpectralConv at several band limits, on HEALPix or on a Gauss-Legendre grid of as many\n"
      "pixels) at every nside of its list. Without: one nside, a ChebConv and a SpectralConv, from the flags.\n"
      "Each layer maps random maps [batch, channels, pixels] to as many channels. Reported per case:\n"
      "parameters; the memory of its geometry (the rescaled Laplacian, or the Legendre tables when they fit in\n"
      "the SHT's memory budget) and the time to build it; forward and forward + backward time (median of the\n"
      "timed runs after a warm-up, with the fastest and slowest); the process's peak resident memory while the\n"
      "layer ran. SpectralConv is measured as networks use it: one quadrature step on HEALPix (a config's\n"
      "`iterations: 3` adds healpy's refinement steps). Then the rotation equivariance error against the\n"
      "degree l, in float64 at one nside:\n"
      "E ||A R f - R A f||^2 / ||A f||^2 over random maps f of degree l and random rotations R (DeepSphere,\n"
      "ICLR 2020), with the identity's error as the floor of the measurement on each grid (HEALPix has no\n"
      "sampling theorem, so even a spectral layer is only nearly equivariant there).\n"
      "Printed: a Markdown table. --out DIR also writes results.json, results.md, time_vs_nside.png,\n"
      "memory_vs_nside.png and equivariance_vs_degree.png.\n"
      "--peers adds, for each case, the peer library doing the same job on the same maps and threads, run from\n"
      "the peers' own environment (bash scripts/bench_peers.sh --install; not needed otherwise): a table of\n"
      "their times and the speed-up of Sphaera over each.\n"
      "Accuracy needs training: configs/cosmo_classification.yaml (graph) and configs/cosmo_spectral.yaml\n"
      "(spectral) are the same task (sphaera train CONFIG, then summary.json).\n"
      "Examples: sphaera bench configs/bench_graph_vs_spectral.yaml --out bench_results\n"
      "          sphaera bench configs/bench_graph_vs_spectral.yaml --set maps.nsides=[32,64] --out quick\n"
      "          sphaera bench --nside 64 --channels 16 --batch 4\n"
      "          sphaera bench --nside 128 --batch 8 --peers");
  auto a = std::make_shared<BenchArgs>();
  auto flags = std::make_shared<std::vector<CLI::Option*>>();
  verb->add_option("config", a->config, "Benchmark config (YAML); without it, one case from the flags below");
  verb->add_option("--set", a->overrides, "Override a config value: key.path=value (repeatable)");
  flags->push_back(verb->add_option("--nside", a->nside, "HEALPix nside (a power of two)")->capture_default_str());
  flags->push_back(
      verb->add_option("--channels", a->channels, "Input and output channels of both layers")->capture_default_str());
  flags->push_back(verb->add_option("--batch", a->batch, "Maps per batch")->capture_default_str());
  flags->push_back(
      verb->add_option("--k", a->k, "Neighbours per vertex of the graph: 8, 20, 40 or 60")->capture_default_str());
  flags->push_back(
      verb->add_option("--kernel-size", a->kernel_size, "Chebyshev terms K of the graph layer")->capture_default_str());
  flags->push_back(verb->add_option("--lmax", a->lmax, "Band limit of the spectral layer (default: 2 nside)"));
  flags->push_back(verb->add_option("--repeats", a->repeats, "Timed runs per measurement (the median is reported)")
                       ->capture_default_str());
  flags->push_back(verb->add_option("--equivariance-nside", a->equivariance_nside,
                                    "nside of the equivariance curve (default: the smaller of --nside and 32; 0: none)"));
  flags->push_back(verb->add_option("--seed", a->seed, "Seed of the maps, weights and rotations")->capture_default_str());
  flags->push_back(verb->add_option("--dtype", a->dtype, "float32 or float64 (the equivariance is always float64)")
                       ->capture_default_str());
  verb->add_option("--out", a->out, "Directory for results.json, results.md and the plots (created)");
  verb->add_flag("--peers", a->peers,
                 "Also time each case's peer in the same run: torch-geometric (ChebConv), healpy (HEALPix transforms), "
                 "torch-harmonics (Gauss-Legendre); installed by scripts/bench_peers.sh --install");
  int* threads = &add_threads_option(*verb);
  verb->callback([a, flags, threads] {
    bool given = false;
    for (const auto* f : *flags) given = given || f->count() > 0;
    run(*a, given, *threads);
  });
}

}  // namespace sphaera::train
