// Sparse × dense products: Sphaera's CSR kernel against LibTorch's COO path, on the rescaled Laplacian of the
// DeepSphere V2 graph of a full HEALPix sky at nside 256, k = 8 (NEST order; 786,432 rows, 9 non-zeros per row),
// the product ChebConv's recurrence runs, and against the machine's bandwidth measured in the same run:
//   BM_SphaeraCsr/<cols>/<dtype>        y = A x, x [rows, cols]; dtype 0 float32, 1 float64; ChebConv on B maps
//                                       of C channels has cols = B·C (128: B = 8, C = 16)
//   BM_SphaeraCsrUpdate/<cols>/<dtype>  y ← A x into an existing y (core::spmm_update), as ChebConv runs it
//   BM_SphaeraCsrBackward/<cols>/<dtype>/<values> forward, then backward for x (the transposed product) and,
//                                       values 1, for A's values
//   BM_TorchCoo/<cols>                  torch::mm on the same matrix as a sparse COO tensor (float32)
//   BM_StreamCopy/<cols>/<dtype>        y = x, a dense copy of the same size: what this machine streams
// Counter GB_per_s: bytes a product must move at least (the CSR arrays once, x once, y once; for backward the
// three passes' arrays) over its time; BM_StreamCopy's is read + write over its time, the bandwidth bound.
//   ./build/bench/sparse_bench --benchmark_filter=.  (threads: OMP_NUM_THREADS / all cores)
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "sphaera/core/runtime.h"
#include "sphaera/core/sparse.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"

namespace {

struct Problem {
  sphaera::core::CsrMatrix csr;
  at::Tensor coo;
  at::Tensor x;
};

const Problem& problem(int64_t columns, bool float64 = false) {
  static std::map<std::pair<int64_t, bool>, Problem> cache;
  auto it = cache.find({columns, float64});
  if (it != cache.end()) return it->second;
  sphaera::core::set_num_threads(0);
  sphaera::core::keep_freed_memory();  // as `sphaera` does: a fresh y per product reuses freed pages
  torch::manual_seed(0);
  sphaera::transforms::GraphOptions graph;
  graph.k = 8;
  Problem p;
  p.csr = *sphaera::transforms::cached_rescaled_laplacian(std::make_shared<sphaera::transforms::HealpixGrid>(256),
                                                          graph, float64 ? torch::kDouble : torch::kFloat,
                                                          torch::kCPU);
  const at::Tensor vals = p.csr.values();
  p.coo = torch::sparse_coo_tensor(torch::stack({p.csr.row_index(), p.csr.col_index().to(torch::kLong)}),
                                   p.csr.values(), {p.csr.rows(), p.csr.cols()})
              .coalesce();
  p.x = torch::randn({p.csr.rows(), columns}, vals.options());
  return cache.emplace(std::make_pair(columns, float64), std::move(p)).first->second;
}

// The bytes one product y = A x moves at least: the CSR arrays, x and y once each.
double product_bytes(const Problem& p) {
  const double element = static_cast<double>(p.x.element_size());
  const double nnz = static_cast<double>(p.csr.nnz()), rows = static_cast<double>(p.x.size(0));
  return 8.0 * (rows + 1) + nnz * (4.0 + element) + 2.0 * static_cast<double>(p.x.numel()) * element;
}

void set_bandwidth(benchmark::State& state, double bytes_per_iteration) {
  state.counters["GB_per_s"] = benchmark::Counter(bytes_per_iteration * static_cast<double>(state.iterations()) / 1e9,
                                                  benchmark::Counter::kIsRate);
  state.counters["threads"] = at::get_num_threads();
}

void BM_SphaeraCsr(benchmark::State& state) {
  const auto& p = problem(state.range(0), state.range(1) == 1);
  for (auto _ : state) benchmark::DoNotOptimize(sphaera::core::spmm(p.csr, p.x));
  set_bandwidth(state, product_bytes(p));
}

// y ← A x into an existing y (core::spmm_update, β = 0), as ChebConv's recurrence runs it: no allocation.
void BM_SphaeraCsrUpdate(benchmark::State& state) {
  const auto& p = problem(state.range(0), state.range(1) == 1);
  at::Tensor y = torch::zeros_like(p.x);
  for (auto _ : state) {
    sphaera::core::spmm_update(p.csr, p.x, y, 1.0, 0.0);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_bandwidth(state, product_bytes(p));
}

// Forward and backward as in training: dx = Aᵀ dy (the transposed product; ChebConv on a fixed graph needs only
// this) and, with range(2) = 1, A's values' gradient too (rows of dy · x, for learnt edge weights).
void BM_SphaeraCsrBackward(benchmark::State& state) {
  const auto& p = problem(state.range(0), state.range(1) == 1);
  const bool values = state.range(2) == 1;
  const sphaera::core::CsrMatrix a = p.csr.with_values(p.csr.values().clone().requires_grad_(values));
  const at::Tensor x = p.x.clone().requires_grad_(true);
  const at::Tensor dy = torch::randn_like(p.x);
  const std::vector<at::Tensor> inputs = values ? std::vector<at::Tensor>{x, a.values()} : std::vector<at::Tensor>{x};
  // One untimed pass: the first backward builds the transposed pattern that later ones reuse (cached per matrix).
  torch::autograd::grad({sphaera::core::spmm(a, x)}, inputs, {dy});
  for (auto _ : state) benchmark::DoNotOptimize(torch::autograd::grad({sphaera::core::spmm(a, x)}, inputs, {dy}));
  // Forward, the transposed product and (values) the values' gradient: each reads the CSR arrays, one dense
  // operand and writes or reads the other once.
  set_bandwidth(state, (values ? 3.0 : 2.0) * product_bytes(p));
}

void BM_StreamCopy(benchmark::State& state) {
  const auto& p = problem(state.range(0), state.range(1) == 1);
  at::Tensor y = torch::empty_like(p.x);
  for (auto _ : state) {
    y.copy_(p.x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_bandwidth(state, 2.0 * static_cast<double>(p.x.numel()) * static_cast<double>(p.x.element_size()));
}

void BM_TorchCoo(benchmark::State& state) {
  const auto& p = problem(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(torch::mm(p.coo, p.x));
  state.counters["threads"] = at::get_num_threads();
}

BENCHMARK(BM_SphaeraCsr)->ArgsProduct({{16, 128}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SphaeraCsrUpdate)->ArgsProduct({{16, 128}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SphaeraCsrBackward)->ArgsProduct({{16, 128}, {0, 1}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TorchCoo)->Arg(16)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StreamCopy)->ArgsProduct({{16, 128}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
