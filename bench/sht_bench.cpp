// Spherical harmonic transforms on HEALPix at lmax = 2·nside, Sphaera against HEALPix C++ (libsharp inside), in
// the same run, and the layer built on them:
//   BM_HealpixCxx / BM_Sphaera      whole transforms: forward (map2alm, iter 0) and inverse (alm2map), batches of
//                                   1 and 16 maps, Legendre tables precomputed (mode 1) or recomputed (mode 2)
//   BM_FourierStage                 the ring FFT stage alone (maps ↔ per-ring Fourier coefficients, NEST gather)
//   BM_LegendreStage                the Legendre stage alone (Fourier coefficients ↔ a_lm), both modes
//   BM_SpectralConv / BM_SpectralMix / BM_HealpixCxxSpectralConv
//                                   SpectralConv forward (pass 0) and forward + backward (pass 1), float32, B = 2
//                                   maps of 8 channels to 8; the per-degree channel mix alone; and HEALPix C++
//                                   doing the transforms the layer needs: B·Cin map2alm + B·Cout alm2map per
//                                   forward, twice that for forward + backward (each backward applies the adjoint
//                                   of each transform: as much work)
// items_per_second is maps per second (HEALPix C++ does one map at a time).
//   ./build/bench/sht_bench --benchmark_filter='/256/'         (nside 256, lmax 512)
//   ./build/bench/sht_bench --benchmark_filter='SpectralConv|SpectralMix'
//   ./build/bench/sht_bench --benchmark_filter='/512/'         (nside 512, lmax 1024: tables 4.3 GB)
// Threads: all cores for both (OMP_NUM_THREADS to change). Freed memory is kept for reuse, as the `sphaera` command
// does (core::keep_freed_memory). Counters: table_GB = precomputed Legendre tables.
#include <benchmark/benchmark.h>

#include <alm.h>
#include <alm_healpix_tools.h>
#include <healpix_map.h>

#include <map>
#include <memory>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "sphaera/core/runtime.h"
#include "sphaera/models/functional.h"
#include "sphaera/models/spectral_conv.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/ring_transform.h"
#include "sphaera/transforms/sht.h"

namespace {

using sphaera::transforms::HealpixGrid;
using sphaera::transforms::Sht;
using sphaera::transforms::ShtMode;
using sphaera::transforms::ShtOptions;

constexpr int64_t kConvBatch = 2, kConvChannels = 8;

void setup_once() {
  static const bool done = [] {
    sphaera::core::set_num_threads(0);
    sphaera::core::keep_freed_memory();
    return true;
  }();
  (void)done;
}

// One plan per (nside, mode), kept across benchmarks (building tables is not what is timed).
const Sht& plan(int64_t nside, ShtMode mode) {
  static std::map<std::pair<int64_t, int>, std::unique_ptr<Sht>> plans;
  const std::pair<int64_t, int> key{nside, static_cast<int>(mode)};
  if (mode == ShtMode::kPrecompute && plans.count(key) == 0) plans.clear();  // one set of big tables at a time
  auto& p = plans[key];
  if (!p) {
    setup_once();
    ShtOptions options;
    options.lmax = 2 * nside;
    options.iterations = 0;
    options.mode = mode;
    p = std::make_unique<Sht>(std::make_shared<HealpixGrid>(nside), options);
  }
  return *p;
}

ShtMode mode_arg(int64_t v) { return v == 1 ? ShtMode::kPrecompute : ShtMode::kOnTheFly; }

// Args: nside, batch, forward (1) or inverse (0), mode (1 precompute, 2 on the fly).
void BM_Sphaera(benchmark::State& state) {
  const int64_t nside = state.range(0), batch = state.range(1);
  const bool forward = state.range(2) == 1;
  const Sht& sht = plan(nside, mode_arg(state.range(3)));
  const at::Tensor map = at::randn({batch, 12 * nside * nside}, at::kDouble);
  const at::Tensor alm = sht.forward(map);
  for (auto _ : state) benchmark::DoNotOptimize(forward ? sht.forward(map) : sht.inverse(alm));
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["table_GB"] = static_cast<double>(sht.table_bytes()) / 1e9;
  state.counters["threads"] = at::get_num_threads();
}

// HEALPix C++ transforms of one map: `forward` map2alm (iter 0) or alm2map, `count` times.
struct HealpixCxx {
  explicit HealpixCxx(int nside) : map(nside, RING, SET_NSIDE), alm(2 * nside, 2 * nside), weight(2 * nside, 1.0) {
    for (int i = 0; i < map.Npix(); ++i) map[i] = std::sin(0.001 * i);
    map2alm(map, alm, weight);
  }
  void run(bool forward, int64_t count) {
    for (int64_t b = 0; b < count; ++b) {
      if (forward) {
        map2alm(map, alm, weight);
      } else {
        alm2map(alm, map);
      }
    }
    benchmark::ClobberMemory();
  }
  Healpix_Map<double> map;
  Alm<xcomplex<double>> alm;
  arr<double> weight;
};

// Args: nside, batch, forward (1) or inverse (0).
void BM_HealpixCxx(benchmark::State& state) {
  setup_once();
  HealpixCxx healpix(static_cast<int>(state.range(0)));
  const int64_t batch = state.range(1);
  for (auto _ : state) healpix.run(state.range(2) == 1, batch);
  state.SetItemsProcessed(state.iterations() * batch);
}

// Args: nside, batch, analysis (1: maps → F) or adjoint (0: F → maps, what the inverse transform ends with).
void BM_FourierStage(benchmark::State& state) {
  setup_once();
  const int64_t nside = state.range(0), n = state.range(1), lmax = 2 * nside, V = 12 * nside * nside;
  const auto rings = sphaera::transforms::healpix_rings(nside);
  const sphaera::transforms::RingFourier stage(rings, sphaera::transforms::healpix_ring_to_nest(nside), lmax, V,
                                               std::vector<double>(rings.size(), 1.0),
                                               std::vector<double>(lmax + 1, 1.0));
  const at::Tensor maps = at::randn({n, V}, at::kDouble);
  at::Tensor F = at::empty({lmax + 1, stage.rings(), n, 2}, at::kDouble);
  at::Tensor out = at::empty_like(maps);
  stage.analysis(maps.data_ptr<double>(), F.data_ptr<double>(), n);
  for (auto _ : state) {
    if (state.range(2) == 1) {
      stage.analysis(maps.data_ptr<double>(), F.data_ptr<double>(), n);
    } else {
      stage.adjoint(F.data_ptr<double>(), out.data_ptr<double>(), n);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// Args: nside, batch, analysis (1: F → a_lm) or synthesis (0), mode (1 tables, 2 recurrence).
void BM_LegendreStage(benchmark::State& state) {
  setup_once();
  const int64_t nside = state.range(0), n = state.range(1), lmax = 2 * nside, L = lmax + 1;
  std::vector<double> theta;
  for (const auto& ring : sphaera::transforms::healpix_rings(nside)) theta.push_back(ring.theta);
  const int64_t R = static_cast<int64_t>(theta.size());
  const sphaera::transforms::LegendrePlan legendre(theta, lmax, lmax, state.range(3) == 1);
  const at::Tensor F = at::randn({L, R, n, 2}, at::kDouble);
  at::Tensor alm = at::zeros({n, L, L, 2}, at::kDouble), out = at::empty_like(F);
  const sphaera::transforms::AlmStrides strides{2 * L, 2, 2 * L * L};
  for (auto _ : state) {
    if (state.range(2) == 1) {
      legendre.analysis(F.data_ptr<double>(), alm.data_ptr<double>(), strides, 2 * n);
    } else {
      legendre.synthesis(alm.data_ptr<double>(), strides, out.data_ptr<double>(), 2 * n);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// SpectralConv at lmax 2·nside (on-the-fly Legendre stage unless its tables fit 1 GiB, as in a network).
// Args: nside, pass (0 forward, 1 forward + backward).
void BM_SpectralConv(benchmark::State& state) {
  setup_once();
  torch::manual_seed(0);
  const int64_t nside = state.range(0);
  sphaera::transforms::ShtOptions sht;
  sht.iterations = 0;
  sphaera::models::SpectralConv conv(sphaera::models::SpectralConvOptions(kConvChannels, kConvChannels, 2 * nside),
                                     std::make_shared<HealpixGrid>(nside), sht);
  const at::Tensor x = torch::randn({kConvBatch, kConvChannels, 12 * nside * nside}).requires_grad_(state.range(1) == 1);
  auto pass = [&] {
    if (state.range(1) == 0) {
      torch::NoGradGuard no_grad;
      benchmark::DoNotOptimize(conv->forward(x));
    } else {
      const auto loss = conv->forward(x).square().sum();
      benchmark::DoNotOptimize(torch::autograd::grad({loss}, {x, conv->weight}));
    }
  };
  pass();  // the first call builds the layer's geometry (rings, Legendre tables), cached for later calls
  for (auto _ : state) pass();
  state.SetItemsProcessed(state.iterations() * kConvBatch);
  state.counters["transforms"] = static_cast<double>((1 + state.range(1)) * 2 * kConvBatch * kConvChannels);
}

// The layer's mix per degree alone (models::degree_mix, as SpectralConv::forward calls it), on coefficients of
// the same shape (zero at m > l, as the SHT gives them).
void BM_SpectralMix(benchmark::State& state) {
  setup_once();
  const int64_t L = 2 * state.range(0) + 1;
  const bool backward = state.range(1) == 1;
  const at::Tensor alm =
      (torch::randn({kConvBatch, kConvChannels, L, L, 2}) * torch::ones({L, L}).tril().view({L, L, 1})).requires_grad_(backward);
  const at::Tensor w = torch::randn({kConvChannels, kConvChannels, L}).requires_grad_(backward);
  for (auto _ : state) {
    if (!backward) {
      torch::NoGradGuard no_grad;
      benchmark::DoNotOptimize(sphaera::models::degree_mix(at::view_as_complex(alm), w));
    } else {
      const auto mixed = at::view_as_real(sphaera::models::degree_mix(at::view_as_complex(alm), w));
      benchmark::DoNotOptimize(torch::autograd::grad({mixed.sum()}, {alm, w}));
    }
  }
}

// What HEALPix C++ spends on the transforms of one SpectralConv pass (see the top). Args: nside, pass.
void BM_HealpixCxxSpectralConv(benchmark::State& state) {
  setup_once();
  HealpixCxx healpix(static_cast<int>(state.range(0)));
  const int64_t repeat = 1 + state.range(1), maps = kConvBatch * kConvChannels;
  for (auto _ : state) {
    for (int64_t r = 0; r < repeat; ++r) {
      healpix.run(true, maps);
      healpix.run(false, maps);
    }
  }
  state.SetItemsProcessed(state.iterations() * kConvBatch);
  state.counters["transforms"] = static_cast<double>(repeat * 2 * maps);
}

void sizes(benchmark::internal::Benchmark* b, bool with_mode) {
  for (int64_t nside : {128, 256, 512})
    for (int64_t batch : {1, 16})
      for (int64_t forward : {1, 0}) {
        if (!with_mode) {
          b->Args({nside, batch, forward});
          continue;
        }
        for (int64_t mode : {1, 2}) b->Args({nside, batch, forward, mode});
      }
}

void stage_sizes(benchmark::internal::Benchmark* b, bool with_mode) {
  for (int64_t nside : {128, 256})
    for (int64_t batch : {1, 4, 16})
      for (int64_t direction : {1, 0}) {
        if (!with_mode) {
          b->Args({nside, batch, direction});
          continue;
        }
        for (int64_t mode : {1, 2}) b->Args({nside, batch, direction, mode});
      }
}

void conv_sizes(benchmark::internal::Benchmark* b) {
  for (int64_t nside : {128, 256})
    for (int64_t pass : {0, 1}) b->Args({nside, pass});
}

BENCHMARK(BM_HealpixCxx)->Apply([](benchmark::internal::Benchmark* b) { sizes(b, false); })->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Sphaera)->Apply([](benchmark::internal::Benchmark* b) { sizes(b, true); })->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FourierStage)->Apply([](benchmark::internal::Benchmark* b) { stage_sizes(b, false); })->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LegendreStage)->Apply([](benchmark::internal::Benchmark* b) { stage_sizes(b, true); })->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_HealpixCxxSpectralConv)->Apply(conv_sizes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SpectralConv)->Apply(conv_sizes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SpectralMix)->Apply(conv_sizes)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
