// Spherical harmonic transforms on HEALPix at lmax = 2·nside, Sphaera against HEALPix C++ (libsharp inside),
// in the same run: forward (map2alm, iter 0) and inverse (alm2map), batches of 1 and 16 maps, Legendre tables
// precomputed or recomputed on the fly. items_per_second is maps per second (HEALPix C++ does one map at a time).
//   ./build/bench/sht_bench --benchmark_filter='/256/'         (nside 256, lmax 512)
//   ./build/bench/sht_bench --benchmark_filter='/512/'         (nside 512, lmax 1024: tables 4.3 GB)
// Threads: all cores for both (OMP_NUM_THREADS to change). Counters: table_GB = precomputed Legendre tables.
#include <benchmark/benchmark.h>

#include <alm.h>
#include <alm_healpix_tools.h>
#include <healpix_map.h>

#include <map>
#include <memory>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "sphaera/core/runtime.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/sht.h"

namespace {

using sphaera::transforms::HealpixGrid;
using sphaera::transforms::Sht;
using sphaera::transforms::ShtMode;
using sphaera::transforms::ShtOptions;

// One plan per (nside, mode), kept across benchmarks (building tables is not what is timed).
const Sht& plan(int64_t nside, ShtMode mode) {
  static std::map<std::pair<int64_t, int>, std::unique_ptr<Sht>> plans;
  const std::pair<int64_t, int> key{nside, static_cast<int>(mode)};
  if (mode == ShtMode::kPrecompute && plans.count(key) == 0) plans.clear();  // one set of big tables at a time
  auto& p = plans[key];
  if (!p) {
    sphaera::core::set_num_threads(0);
    ShtOptions options;
    options.lmax = 2 * nside;
    options.iterations = 0;
    options.mode = mode;
    p = std::make_unique<Sht>(std::make_shared<HealpixGrid>(nside), options);
  }
  return *p;
}

// Args: nside, batch, forward (1) or inverse (0), mode (1 precompute, 2 on the fly).
void BM_Sphaera(benchmark::State& state) {
  const int64_t nside = state.range(0), batch = state.range(1);
  const bool forward = state.range(2) == 1;
  const auto mode = state.range(3) == 1 ? ShtMode::kPrecompute : ShtMode::kOnTheFly;
  const Sht& sht = plan(nside, mode);
  const at::Tensor map = at::randn({batch, 12 * nside * nside}, at::kDouble);
  const at::Tensor alm = sht.forward(map);
  for (auto _ : state) benchmark::DoNotOptimize(forward ? sht.forward(map) : sht.inverse(alm));
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["table_GB"] = static_cast<double>(sht.table_bytes()) / 1e9;
  state.counters["threads"] = at::get_num_threads();
}

// Args: nside, batch, forward (1) or inverse (0).
void BM_HealpixCxx(benchmark::State& state) {
  const int nside = static_cast<int>(state.range(0)), batch = static_cast<int>(state.range(1)), lmax = 2 * nside;
  const bool forward = state.range(2) == 1;
  Healpix_Map<double> map(nside, RING, SET_NSIDE);
  for (int i = 0; i < map.Npix(); ++i) map[i] = std::sin(0.001 * i);
  Alm<xcomplex<double>> alm(lmax, lmax);
  arr<double> weight(2 * nside, 1.0);
  map2alm(map, alm, weight);
  for (auto _ : state) {
    for (int b = 0; b < batch; ++b) {
      if (forward) {
        map2alm(map, alm, weight);
      } else {
        alm2map(alm, map);
      }
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void sizes(benchmark::internal::Benchmark* b, bool with_mode) {
  for (int64_t nside : {256, 512})
    for (int64_t batch : {1, 16})
      for (int64_t forward : {1, 0}) {
        if (!with_mode) {
          b->Args({nside, batch, forward});
          continue;
        }
        for (int64_t mode : {1, 2}) b->Args({nside, batch, forward, mode});
      }
}

BENCHMARK(BM_HealpixCxx)->Apply([](benchmark::internal::Benchmark* b) { sizes(b, false); })->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Sphaera)->Apply([](benchmark::internal::Benchmark* b) { sizes(b, true); })->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
