// ChebConv on the DeepSphere V2 graph of a full HEALPix sky (k = 8), float32, B = 8 maps of 16 channels to 16,
// K = 5: the case issue 12 compares with deepsphere-pytorch (its figures at nside 256 on this machine kind:
// forward 13.0 s, forward + backward 32.0 s, peak 7.6 GB). Also one sparse product of the same size, alone, with
// the bytes it must move, to set against the machine's streaming bandwidth (`bytes_per_second`).
//   ./build/bench/chebconv_bench --benchmark_filter=/256          (one nside; all: 64, 128, 256, 512 and 1024)
//   ./build/bench/chebconv_bench --benchmark_filter=/1024         (nside 1024: 12.6M pixels, several GB)
// Peak memory: the counter peak_GB is the process's peak resident memory while the case runs (input, Laplacian and
// whatever the layer allocates; Linux's VmHWM, reset after the setup). scripts/bench_peers.sh runs the peer beside.
// Threads: all cores (OMP_NUM_THREADS to change). The Laplacian is built before timing. Freed memory is kept for
// reuse as the `sphaera` command does (core::keep_freed_memory); CHEBCONV_BENCH_SYSTEM_MALLOC=1 measures without.
// Memory against the layer's own account of it (counter estimate_GB, see counters()), one case per process:
//   for n in 64 128 256 512 1024; do for c in Forward ForwardBackward; do
//     ./build/bench/chebconv_bench --benchmark_filter="ChebConv$c/$n/"; done; done
#include <sys/resource.h>

#include <cstdlib>
#include <map>
#include <string>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "sphaera/core/process_memory.h"
#include "sphaera/core/runtime.h"
#include "sphaera/core/sparse.h"
#include "sphaera/models/functional.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"

namespace {

constexpr int64_t kBatch = 8, kChannels = 16, kTerms = 5;

struct Problem {
  std::shared_ptr<const sphaera::core::CsrMatrix> laplacian;
  at::Tensor x, weight, bias;
};

const Problem& problem(int64_t nside) {
  static std::map<int64_t, Problem> cache;
  auto it = cache.find(nside);
  if (it != cache.end()) return it->second;
  sphaera::core::set_num_threads(0);
  if (std::getenv("CHEBCONV_BENCH_SYSTEM_MALLOC") == nullptr) sphaera::core::keep_freed_memory();  // as `sphaera`
  torch::manual_seed(0);
  const auto grid = std::make_shared<sphaera::transforms::HealpixGrid>(nside);
  sphaera::transforms::GraphOptions graph;
  graph.k = 8;
  Problem p;
  p.laplacian = sphaera::transforms::cached_rescaled_laplacian(grid, graph, torch::kFloat, torch::kCPU);
  p.x = torch::randn({kBatch, kChannels, grid->size()}, torch::kFloat);
  p.weight = torch::randn({kChannels, kTerms, kChannels}, torch::kFloat) * 0.1;
  p.bias = torch::randn({kChannels}, torch::kFloat);
  return cache.emplace(nside, std::move(p)).first->second;
}

// Minor page faults of the process so far (each a fresh page the kernel had to clear).
double minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_minflt);
}

// Counters: the peak resident memory while the case ran, and the estimate to hold it against: what was resident
// when it began (LibTorch, the input, the Laplacian: `start_GB`) plus what the layer says it adds
// (models::cheb_conv_workspace_bytes: its work buffers; its output or input gradient; in backward the transposed
// Laplacian). An upper bound: start_GB also counts pages freed during the setup, which the case may reuse.
// Run one case per process for the estimate to hold: freed memory stays resident for reuse (keep_freed_memory), so
// a case after another starts with the other's free pages counted in start_GB.
void counters(benchmark::State& state, const Problem& p, double start_bytes, bool backward) {
  const int64_t batch = p.x.size(0), cin = p.x.size(1), v = p.x.size(2), cout = p.weight.size(2);
  const int64_t element = p.x.element_size();
  const auto workspace = [&](bool b) {
    return static_cast<double>(sphaera::models::cheb_conv_workspace_bytes(batch, v, cin, cout, element, b));
  };
  // Forward: the output and three buffers. Forward + backward: the output is freed before backward (the sum's
  // node does not keep it) and the input gradient takes its place; the buffers grow to backward's four.
  // Backward's products with L̂ᵀ also take the transposed pattern, built at the first backward and kept with the
  // matrix (row pointers, column indices, the entry permutation), and its values, gathered per product.
  const double nnz = static_cast<double>(p.laplacian->nnz());
  const double transposed = 8.0 * static_cast<double>(v + 1) + nnz * (4.0 + 8.0 + static_cast<double>(element));
  const double maps = static_cast<double>(v * batch * element) * static_cast<double>(backward ? std::max(cin, cout) : cout);
  const double held =
      maps + (backward ? std::max(workspace(false), workspace(true)) + transposed : workspace(false));
  state.counters["pixels"] = static_cast<double>(v);
  state.counters["threads"] = at::get_num_threads();
  state.counters["peak_GB"] = sphaera::core::peak_memory_bytes() / 1e9;
  state.counters["start_GB"] = start_bytes / 1e9;
  state.counters["estimate_GB"] = (start_bytes + held) / 1e9;
}

void BM_ChebConvForward(benchmark::State& state) {
  const auto& p = problem(state.range(0));
  torch::NoGradGuard no_grad;
  sphaera::core::reset_peak_memory();
  const double start = sphaera::core::resident_memory_bytes();
  const double faults = minor_faults();
  for (auto _ : state) benchmark::DoNotOptimize(sphaera::models::cheb_conv(p.x, *p.laplacian, p.weight, p.bias));
  state.counters["faults"] = benchmark::Counter(minor_faults() - faults, benchmark::Counter::kAvgIterations);
  counters(state, p, start, false);
}

void BM_ChebConvForwardBackward(benchmark::State& state) {
  const auto& p = problem(state.range(0));
  // The same memory as the problem's tensors (at nside 1024 the input alone is 6.4 GB), with gradients wanted.
  const auto x = p.x.detach().requires_grad_(true);
  const auto w = p.weight.detach().requires_grad_(true);
  const auto b = p.bias.detach().requires_grad_(true);
  sphaera::core::reset_peak_memory();
  const double start = sphaera::core::resident_memory_bytes();
  const double faults = minor_faults();
  for (auto _ : state) {
    // The output is freed before backward (the sum's node does not keep it), as in a network whose next layer
    // keeps only what its own backward needs; the gradients are returned, not accumulated into .grad (which
    // would copy the input's gradient to the input's strides: 6.4 GB more at nside 1024, that no inner layer of a
    // network pays).
    const auto loss = sphaera::models::cheb_conv(x, *p.laplacian, w, b).sum();
    benchmark::DoNotOptimize(torch::autograd::grad({loss}, {x, w, b}));
  }
  state.counters["faults"] = benchmark::Counter(minor_faults() - faults, benchmark::Counter::kAvgIterations);
  counters(state, p, start, true);
}

// One product L̂ X with X [V, B·Cin]: the bytes it moves at the least are the CSR arrays, X once and Y once.
void BM_SparseProduct(benchmark::State& state) {
  const auto& p = problem(state.range(0));
  const auto& l = *p.laplacian;
  const auto x = p.x.permute({2, 0, 1}).reshape({p.x.size(2), kBatch * kChannels}).contiguous();
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(sphaera::core::spmm(l, x));
  const double bytes = static_cast<double>(l.storage_bytes() + 2 * x.numel() * x.element_size());
  state.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(state.iterations())));
  state.counters["threads"] = at::get_num_threads();
}

// What streaming alone costs: a copy of X (read once, written once), the bandwidth the product is held to.
void BM_StreamCopy(benchmark::State& state) {
  const auto& p = problem(state.range(0));
  const auto x = p.x.reshape({p.x.size(2), kBatch * kChannels}).contiguous();
  auto y = torch::empty_like(x);
  for (auto _ : state) y.copy_(x);
  state.SetBytesProcessed(static_cast<int64_t>(2.0 * x.numel() * x.element_size() * state.iterations()));
  state.counters["threads"] = at::get_num_threads();
}

BENCHMARK(BM_ChebConvForward)->Arg(64)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ChebConvForwardBackward)->Arg(64)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ChebConvForward)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_ChebConvForwardBackward)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_SparseProduct)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StreamCopy)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ChebConvForward)->Arg(1024)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_ChebConvForwardBackward)->Arg(1024)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
