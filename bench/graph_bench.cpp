// DeepSphere graph construction on full-sky HEALPix grids: k-NN search alone, the whole Laplacian (search,
// weights, symmetrisation, CSR assembly), and the eigenvalue bound.
//   ./build/bench/graph_bench                                   (nside 256: k = 8, 20; bound)
//   ./build/bench/graph_bench --benchmark_filter=1024           (nside 1024, k = 20: 266M non-zeros, ~4 GB)
// Threads: all cores (OMP_NUM_THREADS to change). The grid's directions are computed before timing.
#include <sys/resource.h>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "sphaera/core/runtime.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/knn.h"

namespace {

using sphaera::transforms::HealpixGrid;

const HealpixGrid& grid(int64_t nside) {
  static std::map<int64_t, std::unique_ptr<HealpixGrid>> grids;
  auto& g = grids[nside];
  if (!g) {
    sphaera::core::set_num_threads(0);
    g = std::make_unique<HealpixGrid>(nside);
    g->directions();
  }
  return *g;
}

void BM_NearestNeighbours(benchmark::State& state) {
  const auto& g = grid(state.range(0));
  const int k = static_cast<int>(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(sphaera::transforms::nearest_neighbours(g, k).index);
  state.counters["vertices"] = static_cast<double>(g.size());
  state.counters["threads"] = at::get_num_threads();
}

void BM_GraphLaplacian(benchmark::State& state) {
  const auto& g = grid(state.range(0));
  sphaera::transforms::GraphOptions options;
  options.k = static_cast<int>(state.range(1));
  int64_t nnz = 0;
  for (auto _ : state) {
    const auto l = sphaera::transforms::graph_laplacian(g, options);
    nnz = l.nnz();
  }
  state.counters["nnz"] = static_cast<double>(nnz);
  state.counters["threads"] = at::get_num_threads();
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_GB"] = static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e9;  // of the whole process so far
}

void BM_LargestEigenvalueBound(benchmark::State& state) {
  sphaera::transforms::GraphOptions options;
  options.k = static_cast<int>(state.range(1));
  const auto l = sphaera::transforms::graph_laplacian(grid(state.range(0)), options);
  for (auto _ : state) benchmark::DoNotOptimize(sphaera::transforms::largest_eigenvalue_bound(l));
  state.counters["threads"] = at::get_num_threads();
}

BENCHMARK(BM_NearestNeighbours)->Args({256, 8})->Args({256, 20})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GraphLaplacian)->Args({256, 8})->Args({256, 20})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LargestEigenvalueBound)->Args({256, 20})->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_NearestNeighbours)->Args({1024, 20})->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(BM_GraphLaplacian)->Args({1024, 20})->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
