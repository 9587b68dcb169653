// Sparse × dense products: Sphaera's CSR kernel against LibTorch's COO and CSR paths, on a random
// matrix with the size and density of a HEALPix nside-256 k=8 graph (786,432 rows, ~9 non-zeros per row).
//   ./build/bench/sparse_bench --benchmark_filter=.  (threads: OMP_NUM_THREADS / all cores)
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "sphaera/core/runtime.h"
#include "sphaera/core/sparse.h"

namespace {

struct Problem {
  sphaera::core::CsrMatrix csr;
  at::Tensor coo;
  at::Tensor x;
};

const Problem& problem(int64_t columns) {
  static std::map<int64_t, Problem> cache;
  auto it = cache.find(columns);
  if (it != cache.end()) return it->second;
  sphaera::core::set_num_threads(0);
  torch::manual_seed(0);
  const int64_t n = 786432, per_row = 9;
  // Banded random pattern: neighbours of a NEST pixel have nearby indices.
  auto rows = torch::arange(n, torch::kLong).repeat_interleave(per_row);
  auto cols = (rows + torch::randint(-64, 64, {n * per_row}, torch::kLong)).clamp(0, n - 1);
  auto vals = torch::rand({n * per_row}, torch::kFloat);
  Problem p;
  p.csr = sphaera::core::CsrMatrix::from_coo(n, n, rows, cols, vals);
  p.coo = torch::sparse_coo_tensor(torch::stack({p.csr.row_index(), p.csr.col_index().to(torch::kLong)}),
                                   p.csr.values(), {n, n})
              .coalesce();
  p.x = torch::randn({n, columns}, torch::kFloat);
  return cache.emplace(columns, std::move(p)).first->second;
}

void BM_SphaeraCsr(benchmark::State& state) {
  const auto& p = problem(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(sphaera::core::spmm(p.csr, p.x));
  state.counters["threads"] = at::get_num_threads();
}

void BM_TorchCoo(benchmark::State& state) {
  const auto& p = problem(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(torch::mm(p.coo, p.x));
  state.counters["threads"] = at::get_num_threads();
}

BENCHMARK(BM_SphaeraCsr)->Arg(16)->Arg(128)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TorchCoo)->Arg(16)->Arg(128)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
