#include "sphaera/transforms/graph.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/fast_math.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/knn.h"
#include "sphaera/transforms/phase_timer.h"

namespace sphaera::transforms {

namespace {

core::CsrMatrix build(const Grid& grid, const GraphOptions& options, GraphMatrix what) {
  PhaseTimer timer("graph");  // SPHAERA_GRAPH_TIMING: the time of each phase on stderr
  const auto* healpix = dynamic_cast<const HealpixGrid*>(&grid);
  const auto dirs = grid.directions().to(at::kCPU, at::kDouble).contiguous();
  timer.lap("directions");
  SPHAERA_CHECK(healpix != nullptr || options.construction == GraphConstruction::kV2,
                "graph: construction v1 links HEALPix neighbours, but the grid is ", grid.key(), " (use v2)");
  SPHAERA_CHECK(healpix != nullptr || options.kernel_width.has_value(), "graph: no published kernel width for ",
                grid.key(), " (the table is for HEALPix): set kernel_width");
  auto result = core::CsrMatrix::from_arrays(graph_matrix(sphere_points(healpix, dirs), options, what));
  timer.lap("graph");
  return result;
}

GraphMatrix output_of(LaplacianKind kind) {
  return kind == LaplacianKind::kNormalized ? GraphMatrix::kNormalized : GraphMatrix::kCombinatorial;
}

// ---- cache
// -----------------------------------------------------------------------------------------------------------

struct CacheEntry {
  std::once_flag once;
  std::shared_ptr<const core::CsrMatrix> value;
};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::string, std::shared_ptr<CacheEntry>>& cache() {
  static std::map<std::string, std::shared_ptr<CacheEntry>> c;
  return c;
}

std::shared_ptr<const core::CsrMatrix> cached(const std::string& key, const std::function<core::CsrMatrix()>& make) {
  std::shared_ptr<CacheEntry> entry;
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto& slot = cache()[key];
    if (!slot) slot = std::make_shared<CacheEntry>();
    entry = slot;
  }
  // Builds once; a build that throws leaves the entry empty for the next caller to retry.
  std::call_once(entry->once, [&] { entry->value = std::make_shared<const core::CsrMatrix>(make()); });
  return entry->value;
}

}  // namespace

// ---- public

void release_cached_laplacians() {
  std::lock_guard<std::mutex> lock(cache_mutex());
  cache().clear();
}
// ------------------------------------------------------------------------------------------------------------

core::CsrMatrix adjacency(const Grid& grid, const GraphOptions& options) {
  return build(grid, options, GraphMatrix::kAdjacency);
}

core::CsrMatrix graph_laplacian(const Grid& grid, const GraphOptions& options) {
  return build(grid, options, output_of(options.laplacian_kind()));
}

core::CsrMatrix laplacian(const core::CsrMatrix& w, LaplacianKind kind) {
  SPHAERA_CHECK(w.rows() == w.cols(), "laplacian: W must be square, got [", w.rows(), ", ", w.cols(), "]");
  const auto device = w.values().device();
  const auto dtype = w.values().scalar_type();
  const core::CsrMatrix a = w.to(at::kCPU, at::kDouble);
  const int64_t n = a.rows();
  const auto a_rp_t = a.row_ptr().contiguous();
  const auto a_col_t = a.col_index().contiguous();
  const auto a_val_t = a.values().contiguous();
  const int64_t* arp = a_rp_t.data_ptr<int64_t>();
  const int32_t* acol = a_col_t.data_ptr<int32_t>();
  const double* aval = a_val_t.data_ptr<double>();
  // Pattern of W plus a diagonal slot in every row (columns of W are sorted and unique).
  auto row_ptr = at::empty({n + 1}, at::kLong);
  int64_t* rp = row_ptr.data_ptr<int64_t>();
  rp[0] = 0;
  std::vector<double> degree(n), w_diag(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    bool has_diag = false;
    DegreeSum deg;
    for (int64_t e = arp[i]; e < arp[i + 1]; ++e) {
      deg.add(aval[e]);
      if (acol[e] == i) {
        has_diag = true;
        w_diag[i] = aval[e];
      }
    }
    degree[i] = deg.total();
    rp[i + 1] = rp[i] + (arp[i + 1] - arp[i]) + (has_diag ? 0 : 1);
  }
  auto col = at::empty({rp[n]}, at::kInt);
  auto val = at::empty({rp[n]}, at::kDouble);
  int32_t* c = col.data_ptr<int32_t>();
  double* v = val.data_ptr<double>();
  std::vector<double> inv_sqrt(n);
  for (int64_t i = 0; i < n; ++i) inv_sqrt[i] = degree[i] > 0 ? 1.0 / std::sqrt(degree[i]) : 0.0;
  const bool normalized = kind == LaplacianKind::kNormalized;
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    int64_t o = rp[i];
    bool placed = false;
    auto put_diag = [&] {
      c[o] = static_cast<int32_t>(i);
      if (degree[i] == 0) {
        v[o] = 0.0;
      } else {
        v[o] = normalized ? 1.0 - inv_sqrt[i] * w_diag[i] * inv_sqrt[i] : degree[i] - w_diag[i];
      }
      ++o;
      placed = true;
    };
    for (int64_t e = arp[i]; e < arp[i + 1]; ++e) {
      const int64_t j = acol[e];
      if (!placed && j >= i) put_diag();
      if (j == i) continue;
      c[o] = static_cast<int32_t>(j);
      v[o] = normalized ? -(inv_sqrt[i] * aval[e]) * inv_sqrt[j] : -aval[e];
      ++o;
    }
    if (!placed) put_diag();
  }
  core::CsrMatrix l(n, n, row_ptr, col, val);
  return (device.is_cpu() && dtype == at::kDouble) ? l : l.to(device, dtype);
}

double largest_eigenvalue_bound(const core::CsrMatrix& symmetric) {
  SPHAERA_CHECK(symmetric.rows() == symmetric.cols(), "largest_eigenvalue_bound: the matrix must be square, got [",
                symmetric.rows(), ", ", symmetric.cols(), "]");
  const core::CsrMatrix a = symmetric.to(at::kCPU, at::kDouble);
  const core::CsrMatrix contiguous(a.rows(), a.cols(), a.row_ptr().contiguous(), a.col_index().contiguous(),
                                   a.values().contiguous());
  return largest_eigenvalue_bound(contiguous.view());
}

core::CsrMatrix rescale_laplacian(const core::CsrMatrix& l, double lmax, GraphConstruction construction) {
  SPHAERA_CHECK(l.rows() == l.cols(), "rescale_laplacian: L must be square, got [", l.rows(), ", ", l.cols(), "]");
  SPHAERA_CHECK(std::isfinite(lmax) && lmax >= 0, "rescale_laplacian: lmax must be finite and ≥ 0, got ", lmax);
  // A graph without edges has L = 0 and λ = 0: any scale gives L̂ = −I.
  const double lambda = lmax > 0 ? lmax : 1.0;
  const double scale = construction == GraphConstruction::kV1 ? 1.5 / (1.02 * lambda) : 2.0 / lambda;
  const auto rows = l.row_index();
  const auto cols = l.col_index().to(at::kLong);
  const auto on_diag = rows.eq(cols);
  if (on_diag.sum().item<int64_t>() == l.rows()) {
    return l.with_values(l.values() * scale - on_diag.to(l.values().scalar_type()));
  }
  const auto eye = at::arange(l.rows(), rows.options());
  return core::CsrMatrix::from_coo(l.rows(), l.cols(), at::cat({rows, eye}), at::cat({cols, eye}),
                                   at::cat({l.values() * scale, -at::ones({l.rows()}, l.values().options())}));
}

std::shared_ptr<const core::CsrMatrix> cached_rescaled_laplacian(const GridPtr& grid, const GraphOptions& options,
                                                                 c10::ScalarType dtype, c10::Device device) {
  SPHAERA_CHECK(grid != nullptr, "cached_rescaled_laplacian: no grid");
  SPHAERA_CHECK(dtype == at::kFloat || dtype == at::kDouble,
                "cached_rescaled_laplacian: dtype must be float32 or float64, got ", dtype);
  const std::string base_key = grid->key() + "|" + options.key();
  auto base = cached(base_key + "|Double|cpu", [&] {
    const core::CsrMatrix l = graph_laplacian(*grid, options);
    return rescale_laplacian(l, largest_eigenvalue_bound(l), options.construction);
  });
  if (dtype == at::kDouble && device.is_cpu()) return base;
  std::ostringstream key;
  key << base_key << "|" << c10::toString(dtype) << "|" << device;
  return cached(key.str(), [&] { return base->to(device, dtype); });
}

}  // namespace sphaera::transforms
