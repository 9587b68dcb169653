// `sphaera graph`: build a DeepSphere graph Laplacian on a HEALPix grid, report its size, time and memory, and
// optionally export it (Matrix Market) and bound its largest eigenvalue. Torch-free (graph_csr.h): the
// `sphaera` executable runs it without loading LibTorch.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "sphaera/core/buffer.h"
#include "sphaera/core/check.h"
#include "sphaera/core/process_memory.h"
#include "sphaera/data_tools/matrix_market.h"
#include "sphaera/train/cli_base.h"
#include "sphaera/train/progress.h"
#include "sphaera/transforms/graph_csr.h"
#include "sphaera/transforms/healpix_nest.h"

namespace sphaera::train {

namespace {

struct GraphArgs {
  int64_t nside = 0;
  int k = 8;
  bool k_given = false;
  std::string laplacian;
  std::string construction = "v2";
  double kernel_width = 0;
  std::string out;
  bool symmetric = false;
  bool lmax = false;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string gigabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GB", bytes / 1e9);
  return text;
}

// Progress of the Lanczos run behind --lmax (Progress of unknown length). The number of steps is not known
// in advance: the ETA extrapolates the decay of the residual over the last few seconds (it slows down as
// the run goes on, so older samples would promise too much).
class LanczosProgress {
 public:
  void operator()(int step, double residual_over_target) {
    const double elapsed = progress_.elapsed_seconds();
    const double log_residual = std::log(std::max(residual_over_target, 1.0));
    samples_.push_back({elapsed, log_residual});
    while (samples_.size() > 2 && elapsed - samples_[1].seconds >= kWindowSeconds) samples_.pop_front();
    if (residual_over_target <= 1) return;
    const Sample& old = samples_.front();
    const double rate = samples_.size() > 1 ? (old.log_residual - log_residual) / (elapsed - old.seconds) : 0;
    char status[96];
    std::snprintf(status, sizeof status, "Lanczos step %d, residual %.3g x the target", step, residual_over_target);
    progress_.update_open(status, rate > 0 ? log_residual / rate : -1);
    steps_ = step;
  }
  void finish() { progress_.finish(std::to_string(steps_) + " Lanczos steps"); }

 private:
  struct Sample {
    double seconds, log_residual;
  };
  static constexpr double kWindowSeconds = 3.0;
  Progress progress_{"lmax bound:"};
  std::deque<Sample> samples_;
  int steps_ = 0;
};

void run_graph(const GraphArgs& a, int threads) {
  apply_omp_threads(threads);
  transforms::check_nside(a.nside, "--nside");
  transforms::GraphOptions options;
  options.construction = transforms::parse_graph_construction(a.construction);
  if (options.construction == transforms::GraphConstruction::kV1) {
    SPHAERA_CHECK(!a.k_given || a.k == 8,
                  "--k: construction v1 links the 8 HEALPix neighbours; k must be 8 or "
                  "absent, got ",
                  a.k);
    SPHAERA_CHECK(a.kernel_width == 0, "--kernel-width: only for construction v2");
  } else {
    SPHAERA_CHECK(a.k >= 1, "--k: must be ≥ 1, got ", a.k);
    options.k = a.k;
    if (a.kernel_width > 0) {
      options.kernel_width = a.kernel_width;
    } else {
      transforms::v2_kernel_width(a.nside, a.k);  // fails early, listing the valid k
    }
  }
  if (!a.laplacian.empty()) options.laplacian = transforms::parse_laplacian_kind(a.laplacian);

  const std::string grid = "healpix(nside=" + std::to_string(a.nside) + ",nest)";
  std::cerr << "building the " << options.key() << " graph on " << grid << " with "
            << plural(threads_in_use(), "thread", "threads") << "...\n";
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = 12 * a.nside * a.nside;
  core::Buffer<double> xyz(3 * n);
  transforms::healpix_nest_directions(a.nside, nullptr, n, xyz.data());
  transforms::SpherePoints points;
  points.xyz = xyz.data();
  points.n = n;
  points.healpix_nside = a.nside;
  const core::CsrArrays l = transforms::graph_matrix(points, options,
                                                     options.laplacian_kind() == transforms::LaplacianKind::kNormalized
                                                         ? transforms::GraphMatrix::kNormalized
                                                         : transforms::GraphMatrix::kCombinatorial);
  const double build_seconds = seconds_since(start);
  const double storage =
      static_cast<double>((l.rows + 1) * sizeof(int64_t) + l.nnz() * (sizeof(int32_t) + sizeof(double)));

  std::printf("graph: %s on %s, Laplacian not rescaled, NEST order\n", options.key().c_str(), grid.c_str());
  std::printf("vertices: %lld\n", static_cast<long long>(l.rows));
  std::printf("non-zeros: %lld (%.2f per row, diagonal included)\n", static_cast<long long>(l.nnz()),
              static_cast<double>(l.nnz()) / static_cast<double>(l.rows));
  std::printf("types: int64 row pointers, int32 column indices, float64 values (%s)\n", gigabytes(storage).c_str());
  std::printf("build time: %.3f s\n", build_seconds);
  std::printf("peak memory: %s (maximum resident set)\n", gigabytes(core::peak_memory_bytes()).c_str());
  std::fflush(stdout);

  if (a.lmax) {
    const auto t = std::chrono::steady_clock::now();
    LanczosProgress progress;
    const double bound = transforms::largest_eigenvalue_bound(l.view(), std::ref(progress));
    progress.finish();
    std::printf("lmax bound: %.17g (%.3f s; Lanczos, deterministic, within 1%% above the largest eigenvalue)\n", bound,
                seconds_since(t));
    std::fflush(stdout);
  }
  if (!a.out.empty()) {
    std::cerr << "writing " << a.out << "...\n";
    const auto t = std::chrono::steady_clock::now();
    data_tools::MatrixMarketOptions mm;
    mm.symmetry =
        a.symmetric ? data_tools::MatrixMarketSymmetry::kSymmetric : data_tools::MatrixMarketSymmetry::kGeneral;
    std::ostringstream comment;
    comment << "sphaera graph: " << options.key() << " Laplacian on " << grid << " (NEST order, not rescaled)";
    mm.comment = comment.str();
    data_tools::write_matrix_market(a.out, l.view(), mm);
    std::error_code ec;
    const auto size = std::filesystem::file_size(a.out, ec);
    std::printf("wrote: %s (%s, %.3f s)\n", a.out.c_str(), gigabytes(ec ? 0.0 : static_cast<double>(size)).c_str(),
                seconds_since(t));
    std::printf("peak memory: %s (maximum resident set)\n", gigabytes(core::peak_memory_bytes()).c_str());
  }
}

}  // namespace

void add_graph_verb(CLI::App& app) {
  auto* verb = app.add_subcommand(
      "graph",
      "Build a DeepSphere graph Laplacian on a full-sky HEALPix grid (NEST): print its size, build time and peak "
      "memory; export it as Matrix Market with --out");
  auto args = std::make_shared<GraphArgs>();
  verb->add_option("--nside", args->nside, "HEALPix nside (a power of two, 1 to 8192)")->required();
  verb->add_option_function<int>(
      "--k",
      [args](const int& k) {
        args->k = k;
        args->k_given = true;
      },
      "Neighbours per vertex for v2: 8, 20, 40 or 60 (default 8; any k with --kernel-width)");
  verb->add_option("--laplacian", args->laplacian,
                   "combinatorial (D - W) or normalized (I - D^-1/2 W D^-1/2); default: combinatorial for v2, "
                   "normalized for v1");
  verb->add_option("--construction", args->construction,
                   "v2: k nearest neighbours, published kernel widths (Defferrard et al. 2020, default); "
                   "v1: the 8 HEALPix neighbours (Perraudin et al. 2019)");
  verb->add_option("--kernel-width", args->kernel_width, "Kernel width sigma for v2 (default: the published table)");
  verb->add_option("--out", args->out, "Write the Laplacian (NEST order, not rescaled) to this Matrix Market file");
  verb->add_flag("--symmetric", args->symmetric, "With --out: write the lower triangle only (symmetric format)");
  verb->add_flag("--lmax", args->lmax, "Also compute the deterministic upper bound of the largest eigenvalue");
  int& threads = add_threads_option(*verb);
  verb->callback([args, &threads] { run_graph(*args, threads); });
}

}  // namespace sphaera::train
