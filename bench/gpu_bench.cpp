// The GPU benchmark of scripts/gpu_check.sh, float32 on CUDA device 0:
//   ChebConv: nside 1024 (and 512), batch 8, 16 -> 16 channels, K = 5, V2 graph k = 8; forward, forward+backward.
//   SHT: HEALPix nside 1024 at lmax 2048 and Gauss-Legendre at the same band limit, batch 16; forward
//        (no iterations), inverse; Legendre tables on the GPU (34 GB and 17 GB in float32) or the recurrence run
//        there at every call.
//   ./build/bench/gpu_bench --benchmark_filter=ChebConv
// Times are per call, synchronised (manual time: the GPU's work, not the launch); peak_GB is the CUDA caching
// allocator's peak during the benchmark; set-up (graph, Laplacian, tables) is done before timing. Without a
// CUDA device every case reports "no CUDA device".
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>

#include <torch/cuda.h>
#include <torch/torch.h>
#ifdef SPHAERA_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "sphaera/core/runtime.h"
#include "sphaera/models/cheb_conv.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/ring_grids.h"
#include "sphaera/transforms/sht.h"

namespace {

using Clock = std::chrono::steady_clock;

bool have_cuda(benchmark::State& state) {
  if (torch::cuda::is_available()) return true;
  state.SkipWithError("no CUDA device");
  return false;
}

void reset_peak() {
#ifdef SPHAERA_WITH_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(0);
#endif
}

double peak_gb() {
#ifdef SPHAERA_WITH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
  return static_cast<double>(stats.allocated_bytes[0].peak) / 1e9;  // [0]: all pools
#else
  return 0.0;
#endif
}

// Runs f once untimed (geometry onto the device), then times each iteration to the end of the GPU's work.
template <typename F>
void timed(benchmark::State& state, F&& f) {
  f();
  torch::cuda::synchronize();
  for (auto _ : state) {
    const auto start = Clock::now();
    f();
    torch::cuda::synchronize();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  state.counters["peak_GB"] = peak_gb();
}

// Args: nside, backward (0: forward only, 1: forward + backward).
void BM_ChebConvCuda(benchmark::State& state) {
  if (!have_cuda(state)) return;
  const int64_t nside = state.range(0);
  const bool backward = state.range(1) == 1;
  sphaera::core::set_num_threads(0);
  const auto grid = std::make_shared<sphaera::transforms::HealpixGrid>(nside);
  const torch::Device cuda(torch::kCUDA, 0);
  sphaera::models::LaplacianProvider provider = [grid](c10::ScalarType dtype, c10::Device device) {
    return sphaera::transforms::cached_rescaled_laplacian(grid, sphaera::transforms::GraphOptions{}, dtype, device);
  };
  sphaera::models::ChebConv conv(sphaera::models::ChebConvOptions(16, 16, 5), provider);
  conv->to(cuda);
  reset_peak();
  try {
    const auto x = torch::randn({8, 16, grid->size()}, torch::TensorOptions().device(cuda)).requires_grad_(backward);
    timed(state, [&] {
      const auto y = conv->forward(x);
      if (backward) y.sum().backward();
    });
  } catch (const c10::OutOfMemoryError& e) {
    state.SkipWithError("out of GPU memory");
  }
}
BENCHMARK(BM_ChebConvCuda)
    ->ArgsProduct({{512, 1024}, {0, 1}})
    ->ArgNames({"nside", "backward"})
    ->UseManualTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);

// Args: grid (0: HEALPix nside 1024, 1: Gauss-Legendre), inverse (0: forward, 1: inverse), recurrence (0: tables
// on the GPU, 1: the recurrence run on the GPU at every call, in blocks of up to 4 GB).
void BM_ShtCuda(benchmark::State& state) {
  if (!have_cuda(state)) return;
  const bool healpix = state.range(0) == 0;
  const bool inverse = state.range(1) == 1;
  const bool recurrence = state.range(2) == 1;
  constexpr int64_t kLmax = 2048;
  sphaera::core::set_num_threads(0);
  sphaera::transforms::GridPtr grid;
  if (healpix) {
    grid = std::make_shared<sphaera::transforms::HealpixGrid>(1024);
  } else {
    grid = sphaera::transforms::GaussLegendreGrid::for_lmax(kLmax);
  }
  sphaera::transforms::ShtOptions options;
  options.lmax = kLmax;
  options.iterations = 0;
  options.mode = recurrence ? sphaera::transforms::ShtMode::kOnTheFly : sphaera::transforms::ShtMode::kPrecompute;
  options.memory_budget = int64_t{16} << 30;  // recurrence blocks of a quarter of it
  // Kept for the whole run: forward and inverse share one set of tables per grid (built once, seconds).
  static std::shared_ptr<const sphaera::transforms::Sht> plans[2][2];
  auto& sht = plans[healpix ? 0 : 1][recurrence ? 1 : 0];
  if (!sht) sht = sphaera::transforms::cached_sht(grid, options);
  const torch::Device cuda(torch::kCUDA, 0);
  reset_peak();
  try {
    const auto maps = torch::randn({16, grid->size()}, torch::TensorOptions().device(cuda));
    const auto alm = sht->forward(maps);
    timed(state, [&] { benchmark::DoNotOptimize(inverse ? sht->inverse(alm) : sht->forward(maps)); });
    state.counters["table_GB"] = recurrence ? 0.0 : static_cast<double>(sht->tensor_table_bytes(4)) / 1e9;
  } catch (const c10::OutOfMemoryError& e) {
    state.SkipWithError("out of GPU memory");
  }
}
BENCHMARK(BM_ShtCuda)
    ->ArgsProduct({{0, 1}, {0, 1}, {0, 1}})
    ->ArgNames({"gl", "inverse", "recurrence"})
    ->UseManualTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
