// `sphaera bench`: a graph convolution (ChebConv on the DeepSphere V2 graph) against a spectral convolution
// (SpectralConv) on the same HEALPix grid and maps: parameters, geometry memory, set-up time, forward and
// forward + backward time, rotation equivariance error, peak memory. Accuracy needs training: the configs
// cosmo_classification.yaml (graph) and cosmo_spectral.yaml (spectral) are the same task for both.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/models/cheb_conv.h"
#include "sphaera/models/spectral_conv.h"
#include "sphaera/train/cli.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/sht.h"
#include "sphaera/transforms/wigner.h"

namespace sphaera::train {

namespace {

struct BenchArgs {
  int64_t nside = 32;
  int64_t channels = 16;
  int64_t batch = 4;
  int k = 8;
  int64_t kernel_size = 3;
  int64_t lmax = -1;
  int repeats = 5;
  uint64_t seed = 0;
  std::string dtype = "float32";
  std::string out;
};

double peak_rss_gb() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e9;  // kilobytes on Linux
}

double seconds_of(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The median time of `repeats` runs of `work`, after one untimed warm-up run.
double median_seconds(int repeats, const std::function<void()>& work) {
  work();
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) times.push_back(seconds_of(work));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Results of one layer.
struct LayerResult {
  std::string name, description;
  int64_t parameters = 0;
  double geometry_gb = 0;  // what the layer's precomputed geometry takes (Laplacian, Legendre tables)
  double setup_s = 0, forward_s = 0, backward_s = 0;
  double equivariance = 0;
  double peak_rss_gb = 0;
};

// ‖A R f − R A f‖ / ‖A f‖ for maps f band-limited to `band`, a rotation R applied to maps through the
// transform (forward at lmax `rotation_lmax` with healpy's default refinement, rotate_alm, inverse).
double equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& layer, const transforms::GridPtr& grid,
                          const at::Tensor& f_alm, int64_t rotation_lmax, const std::array<double, 3>& euler) {
  transforms::ShtOptions options;
  options.lmax = f_alm.size(-1) - 1;
  const transforms::Sht band(grid, options);
  options.lmax = rotation_lmax;
  const transforms::Sht wide(grid, options);
  auto rotate = [&](const at::Tensor& alm) { return transforms::rotate_alm(alm, euler[0], euler[1], euler[2]); };
  const at::Tensor f = band.inverse(f_alm);
  const at::Tensor rf = band.inverse(rotate(f_alm));
  const at::Tensor af = layer(f);
  const at::Tensor r_af = wide.inverse(rotate(wide.forward(af)));
  return ((layer(rf) - r_af).norm() / af.norm()).item<double>();
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

nlohmann::json to_json(const LayerResult& r) {
  return {{"layer", r.description},
          {"parameters", r.parameters},
          {"geometry_gb", r.geometry_gb},
          {"setup_s", r.setup_s},
          {"forward_ms", r.forward_s * 1e3},
          {"forward_backward_ms", r.backward_s * 1e3},
          {"equivariance_error", r.equivariance},
          {"peak_rss_gb", r.peak_rss_gb}};
}

void run_bench(const BenchArgs& a, int threads) {
  apply_threads(threads);
  transforms::check_nside(a.nside, "--nside");
  SPHAERA_CHECK(a.channels >= 1, "--channels: must be >= 1, got ", a.channels);
  SPHAERA_CHECK(a.batch >= 1, "--batch: must be >= 1, got ", a.batch);
  SPHAERA_CHECK(a.kernel_size >= 1, "--kernel-size: must be >= 1, got ", a.kernel_size);
  SPHAERA_CHECK(a.repeats >= 1, "--repeats: must be >= 1, got ", a.repeats);
  SPHAERA_CHECK(a.dtype == "float32" || a.dtype == "float64", "--dtype: float32 or float64, got '", a.dtype, "'");
  transforms::v2_kernel_width(a.nside, a.k);  // fails early, listing the k with published kernel widths
  const int64_t lmax = a.lmax >= 0 ? a.lmax : 2 * a.nside;
  SPHAERA_CHECK(lmax <= 4 * a.nside, "--lmax: ", lmax, " is above 4 nside (", 4 * a.nside,
                "), where HEALPix maps no longer resolve the degrees");
  const auto dtype = a.dtype == "float32" ? torch::kFloat : torch::kDouble;
  const auto grid = std::make_shared<transforms::HealpixGrid>(a.nside);
  const int64_t C = a.channels;

  // Inputs: random band-limited maps (degrees up to nside, well resolved by the grid), the same for both.
  core::seed_everything(a.seed);
  const int64_t band = a.nside;
  const at::Tensor lower = torch::ones({band + 1, band + 1}, torch::kDouble).tril();
  at::Tensor im = torch::randn({a.batch, C, band + 1, band + 1}, torch::kDouble);
  im.select(-1, 0).zero_();  // real a_l0: a real map
  const at::Tensor f_alm =
      at::complex(torch::randn({a.batch, C, band + 1, band + 1}, torch::kDouble) * lower, im * lower);
  transforms::ShtOptions band_options;
  band_options.lmax = band;
  const at::Tensor x = transforms::Sht(grid, band_options).inverse(f_alm).to(dtype);
  std::mt19937_64 rng(a.seed);
  std::uniform_real_distribution<double> angle(0.0, 2.0 * M_PI);
  const std::array<double, 3> euler{angle(rng), std::acos(1.0 - 2.0 * std::uniform_real_distribution<double>()(rng)),
                                    angle(rng)};

  std::vector<LayerResult> results;
  auto measure = [&](LayerResult r, torch::nn::Module& module,
                     const std::function<at::Tensor(const at::Tensor&)>& fwd) {
    std::fprintf(stderr, "bench: %s...\n", r.description.c_str());
    r.parameters = parameter_count(module);
    {
      torch::NoGradGuard no_grad;
      r.forward_s = median_seconds(a.repeats, [&] { fwd(x); });
    }
    const at::Tensor input = x.clone().requires_grad_(true);
    r.backward_s = median_seconds(a.repeats, [&] {
      module.zero_grad();
      fwd(input).square().mean().backward();
    });
    {
      torch::NoGradGuard no_grad;
      module.to(torch::kDouble);
      r.equivariance = equivariance_error(fwd, grid, f_alm, 3 * a.nside - 1, euler);
      module.to(dtype);
    }
    r.peak_rss_gb = peak_rss_gb();
    results.push_back(r);
  };

  {  // graph
    LayerResult r;
    r.name = "graph";
    r.description = "ChebConv K=" + std::to_string(a.kernel_size) + " on the v2 graph, k=" + std::to_string(a.k);
    transforms::GraphOptions graph;
    graph.k = a.k;
    std::shared_ptr<const core::CsrMatrix> laplacian;
    r.setup_s = seconds_of(
        [&] { laplacian = transforms::cached_rescaled_laplacian(grid, graph, torch::kDouble, torch::kCPU); });
    r.geometry_gb = static_cast<double>(laplacian->storage_bytes()) / 1e9;
    models::ChebConv conv(models::ChebConvOptions(C, C, a.kernel_size), laplacian);
    conv->to(dtype);
    measure(r, *conv, [&](const at::Tensor& in) { return conv->forward(in); });
  }
  {  // spectral
    LayerResult r;
    r.name = "spectral";
    r.description = "SpectralConv lmax=" + std::to_string(lmax);
    transforms::ShtOptions sht;
    sht.lmax = lmax;
    std::shared_ptr<const transforms::Sht> plan;
    r.setup_s = seconds_of([&] { plan = transforms::cached_sht(grid, sht); });
    r.geometry_gb = static_cast<double>(plan->table_bytes()) / 1e9;
    models::SpectralConv conv(models::SpectralConvOptions(C, C, lmax), grid, sht);
    conv->to(dtype);
    measure(r, *conv, [&](const at::Tensor& in) { return conv->forward(in); });
  }

  std::printf("maps: %lld x %lld channels on healpix nside %lld (%lld pixels), %s, band limit %lld\n",
              static_cast<long long>(a.batch), static_cast<long long>(C), static_cast<long long>(a.nside),
              static_cast<long long>(grid->size()), a.dtype.c_str(), static_cast<long long>(band));
  std::printf("%-9s %-36s %10s %11s %8s %11s %11s %12s %8s\n", "layer", "", "parameters", "geometry", "setup",
              "forward", "fwd+bwd", "equivariance", "peak RSS");
  for (const auto& r : results) {
    std::printf("%-9s %-36s %10lld %8.1f MB %6.2f s %8.2f ms %8.2f ms %12.2e %5.2f GB\n", r.name.c_str(),
                r.description.c_str(), static_cast<long long>(r.parameters), r.geometry_gb * 1e3, r.setup_s,
                r.forward_s * 1e3, r.backward_s * 1e3, r.equivariance, r.peak_rss_gb);
  }
  std::printf("times: median of %d runs; equivariance: ||A R f - R A f|| / ||A f||, float64, one random rotation\n",
              a.repeats);
  std::fflush(stdout);

  if (!a.out.empty()) {
    nlohmann::json j = {
        {"nside", a.nside},   {"channels", C},        {"batch", a.batch}, {"dtype", a.dtype},
        {"band_limit", band}, {"repeats", a.repeats}, {"euler", euler},   {"threads", torch::get_num_threads()}};
    for (const auto& r : results) j[r.name] = to_json(r);
    data_tools::write_text_atomic(a.out, j.dump(2) + "\n");
    std::fprintf(stderr, "wrote %s\n", a.out.c_str());
  }
}

}  // namespace

void add_bench_verb(CLI::App& app) {
  auto* verb = app.add_subcommand(
      "bench", "Graph (ChebConv) against spectral (SpectralConv) convolution: time, memory, rotation equivariance");
  verb->footer(
      "Both layers map the same random band-limited maps [batch, channels, pixels] on a full-sky HEALPix grid\n"
      "(NEST) to as many channels. Reported per layer: parameters; the memory of its geometry (the rescaled\n"
      "Laplacian, or the Legendre tables when they fit in the SHT's memory budget); the time to build that\n"
      "geometry; the median time of a forward pass and of a forward + backward pass; the rotation equivariance\n"
      "error ||A R f - R A f|| / ||A f|| for one random rotation R (applied through the transform, in float64;\n"
      "HEALPix has no sampling theorem, so even the spectral layer is only nearly equivariant); the peak\n"
      "resident memory of the process after the layer ran (the graph layer runs first).\n"
      "Accuracy needs training: configs/cosmo_classification.yaml (graph) and configs/cosmo_spectral.yaml\n"
      "(spectral) are the same task (sphaera train CONFIG, then summary.json).\n"
      "Example: sphaera bench --nside 64 --channels 16 --batch 4 --out bench.json");
  auto a = std::make_shared<BenchArgs>();
  verb->add_option("--nside", a->nside, "HEALPix nside (a power of two)")->capture_default_str();
  verb->add_option("--channels", a->channels, "Input and output channels of both layers")->capture_default_str();
  verb->add_option("--batch", a->batch, "Maps per batch")->capture_default_str();
  verb->add_option("--k", a->k, "Neighbours per vertex of the graph: 8, 20, 40 or 60")->capture_default_str();
  verb->add_option("--kernel-size", a->kernel_size, "Chebyshev terms K of the graph layer")->capture_default_str();
  verb->add_option("--lmax", a->lmax, "Band limit of the spectral layer (default: 2 nside)");
  verb->add_option("--repeats", a->repeats, "Timed runs per measurement (the median is reported)")
      ->capture_default_str();
  verb->add_option("--seed", a->seed, "Seed of the maps, weights and rotation")->capture_default_str();
  verb->add_option("--dtype", a->dtype, "float32 or float64 (the equivariance is always measured in float64)")
      ->capture_default_str();
  verb->add_option("--out", a->out, "Also write the results as JSON to this file");
  int* threads = &add_threads_option(*verb);
  verb->callback([a, threads] { run_bench(*a, *threads); });
}

}  // namespace sphaera::train
