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

namespace sphaera::transforms {

// ---- options ---------------------------------------------------------------------------------------------------

LaplacianKind GraphOptions::laplacian_kind() const {
  if (laplacian) return *laplacian;
  return construction == GraphConstruction::kV1 ? LaplacianKind::kNormalized : LaplacianKind::kCombinatorial;
}

std::string GraphOptions::key() const {
  std::ostringstream out;
  out.precision(17);
  if (construction == GraphConstruction::kV1) {
    out << "v1";
  } else {
    out << "v2,k=" << k;
  }
  out << (laplacian_kind() == LaplacianKind::kNormalized ? ",normalized" : ",combinatorial");
  if (construction == GraphConstruction::kV2 && kernel_width) out << ",sigma=" << *kernel_width;
  return out.str();
}

GraphConstruction parse_graph_construction(const std::string& text) {
  if (text == "v1") return GraphConstruction::kV1;
  if (text == "v2") return GraphConstruction::kV2;
  throw core::InvalidArgument("graph construction: expected v1 or v2, got '" + text + "'");
}

LaplacianKind parse_laplacian_kind(const std::string& text) {
  if (text == "combinatorial") return LaplacianKind::kCombinatorial;
  if (text == "normalized") return LaplacianKind::kNormalized;
  throw core::InvalidArgument("laplacian: expected combinatorial or normalized, got '" + text + "'");
}

double v2_kernel_width(int64_t nside, int k) {
  check_nside(nside);
  // CONVENTIONS.md: σ at nside 32, 64, 128, 256, 512, 1024 (0: not published).
  struct Row {
    int k;
    double width[6];
  };
  static const Row table[] = {
      {8, {0.02500, 0.01228, 0.00614, 0.00307, 0.00154, 0.00077}},
      {20, {0.03185, 0.01564, 0.00782, 0.00391, 0.00196, 0.00098}},
      {40, {0.042432, 0.021354, 0.010595, 0.005551, 0, 0}},
      {60, {0.051720, 0.025403, 0.012695, 0.006351, 0, 0}},
  };
  const Row* row = nullptr;
  for (const Row& r : table) {
    if (r.k == k) row = &r;
  }
  SPHAERA_CHECK(row != nullptr, "graph: no published V2 kernel width for k = ", k,
                " (valid k: 8, 20, 40, 60; or give kernel_width explicitly)");
  if (nside <= 16) return row->width[0] * 32 / static_cast<double>(nside);  // powers of two: exact
  int level = 0;  // nside = 32 · 2^level
  while ((int64_t{32} << level) < nside) ++level;
  int known = std::min(level, 5);
  while (row->width[known] == 0) --known;
  return std::ldexp(row->width[known], -(level - known));  // halved per doubling beyond the table
}

namespace {

// ---- assembly -------------------------------------------------------------------------------------------------------
//
// A graph is built row by row straight into CSR: one pass counts each row (then a prefix sum gives the row
// pointers), one parallel pass writes each row's sorted columns and, while they are in cache, their values.

enum class Output { kAdjacency, kCombinatorial, kNormalized };

void prefix_sum_in_place(int64_t* counts, int64_t n) {
  // counts[0] = 0, counts[i + 1] = size of row i  ->  offsets
  for (int64_t i = 0; i < n; ++i) counts[i + 1] += counts[i];
}

// `count(i)`: entries of row i (diagonal slot included unless `output` is the adjacency);
// `fill(i, rp, out)`: writes row i's sorted columns to out. Values: w_ij = exp(−c · d²_ij), then W, D − W or
// I − D^-½ W D^-½ (an isolated vertex gets L_ii = 0, as pygsp).
//
// `reuse`: optional memory of `reuse_bytes` bytes for the values (it may hold what `fill` reads: all columns
// are written before the first value). Fresh memory costs page faults (about 1 s per GB in some VMs), so the
// V2 build lets the values overwrite the k-NN lists.
template <typename Count, typename Fill>
core::CsrMatrix assemble(int64_t n, const double* xyz, double c, Output output, Count count, Fill fill,
                         std::shared_ptr<void> reuse = nullptr, size_t reuse_bytes = 0) {
  auto row_ptr = at::empty({n + 1}, at::kLong);
  int64_t* rp = row_ptr.data_ptr<int64_t>();
  rp[0] = 0;
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) rp[i + 1] = count(i);
  prefix_sum_in_place(rp, n);
  const int64_t nnz = rp[n];
  auto col_t = at::empty({nnz}, at::kInt);
  int32_t* col = col_t.data_ptr<int32_t>();
#pragma omp parallel for schedule(dynamic, 4096) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) fill(i, rp, col + rp[i]);
  at::Tensor val_t;
  if (reuse != nullptr && static_cast<size_t>(nnz) * sizeof(double) <= reuse_bytes) {
    auto* keep = new std::shared_ptr<void>(std::move(reuse));
    val_t = at::from_blob(
        keep->get(), {nnz}, [keep](void*) { delete keep; }, at::TensorOptions().dtype(at::kDouble));
  } else {
    reuse.reset();
    val_t = at::empty({nnz}, at::kDouble);
  }
  double* v = val_t.data_ptr<double>();
  const double sign = output == Output::kCombinatorial ? -1.0 : 1.0;
  std::vector<double> degree(output == Output::kNormalized ? n : 0);
#pragma omp parallel if (n > 20000)
  {
    std::vector<double> w;  // the row's −c·d², then its weights
#pragma omp for schedule(dynamic, 4096)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t b = rp[i];
      const int64_t e = rp[i + 1];
      const double* xi = xyz + 3 * i;
      w.resize(e - b);
      for (int64_t t = b; t < e; ++t) w[t - b] = -c * chord2(xi, xyz + 3 * static_cast<int64_t>(col[t]));
      exp_nonpositive_inplace(w.data(), e - b);
      double deg = 0;
      int64_t d = -1;
      for (int64_t t = b; t < e; ++t) {
        if (col[t] == i) {
          d = t;
          continue;
        }
        deg += w[t - b];
        v[t] = sign * w[t - b];
      }
      if (d >= 0) v[d] = output == Output::kCombinatorial ? deg : 0.0;
      if (output == Output::kNormalized) degree[i] = deg;
    }
  }
  if (output == Output::kNormalized) {
    std::vector<double> inv_sqrt(n);
    for (int64_t i = 0; i < n; ++i) inv_sqrt[i] = degree[i] > 0 ? 1.0 / std::sqrt(degree[i]) : 0.0;
#pragma omp parallel for schedule(static) if (n > 20000)
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t t = rp[i]; t < rp[i + 1]; ++t) {
        const int64_t j = col[t];
        v[t] = j == i ? (degree[i] > 0 ? 1.0 : 0.0) : -(inv_sqrt[i] * v[t]) * inv_sqrt[j];
      }
    }
  }
  return core::CsrMatrix(n, n, std::move(row_ptr), std::move(col_t), std::move(val_t));
}

// Does i belong to the k nearest of j? Exact: compares keys away from the boundary, searches the list near it.
inline bool knn_contains(const NearestNeighbours& nn, const double* xyz, int64_t j, int32_t i) {
  const double d2 = chord2(xyz + 3 * static_cast<int64_t>(i), xyz + 3 * j);
  const double kd = nn.kth_dist2[j];
  if (d2 < kd * (1 - 1e-12)) return true;
  if (d2 > kd * (1 + 1e-12)) return false;
  const int32_t* row = nn.row(j);
  return std::binary_search(row, row + nn.k, i);
}

// V2: the union of the directed k-NN lists and their transposes (pygsp's "fill" symmetrisation: a distance
// is the same double both ways, so its averaging step changes nothing).
core::CsrMatrix assemble_knn(const NearestNeighbours& nn, const double* xyz, double c, Output output,
                             std::shared_ptr<void> reuse, size_t reuse_bytes) {
  const int64_t n = nn.points;
  const int k = nn.k;
  // Row j also needs i when i chose j but j did not choose i (about 1% of the edges).
  std::vector<std::vector<std::pair<int32_t, int32_t>>> per_thread(omp_get_max_threads());
#pragma omp parallel if (n > 20000)
  {
    auto& mine = per_thread[omp_get_thread_num()];
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const int32_t* row = nn.row(i);
      for (int t = 0; t < k; ++t) {
        if (!knn_contains(nn, xyz, row[t], static_cast<int32_t>(i))) mine.push_back({row[t], static_cast<int32_t>(i)});
      }
    }
  }
  std::vector<std::pair<int32_t, int32_t>> extra;
  for (auto& v : per_thread) {
    extra.insert(extra.end(), v.begin(), v.end());
    std::vector<std::pair<int32_t, int32_t>>().swap(v);
  }
  std::sort(extra.begin(), extra.end());
  std::vector<int32_t> extra_count(n, 0);
  for (const auto& e : extra) ++extra_count[e.first];
  const int base = k + (output != Output::kAdjacency ? 1 : 0);
  const bool diagonal = output != Output::kAdjacency;
  const auto* ex = extra.data();
  return assemble(
      n, xyz, c, output, [&](int64_t i) { return static_cast<int64_t>(base + extra_count[i]); },
      [&](int64_t i, const int64_t* rp, int32_t* out) {
        // Row i's extras are sorted and follow those of the rows before it.
        int64_t e = rp[i] - i * base;
        const int64_t e_end = rp[i + 1] - (i + 1) * base;
        const int32_t* a = nn.row(i);
        const int32_t* a_end = a + k;
        bool diag_pending = diagonal;
        for (;;) {
          const bool have_a = a != a_end;
          const bool have_e = e != e_end;
          if (!have_a && !have_e) break;
          const int32_t next = (have_a && (!have_e || *a < ex[e].second)) ? *a++ : ex[e++].second;
          if (diag_pending && next > i) {
            *out++ = static_cast<int32_t>(i);
            diag_pending = false;
          }
          *out++ = next;
        }
        if (diag_pending) *out++ = static_cast<int32_t>(i);
      },
      std::move(reuse), reuse_bytes);
}

// V1: HEALPix's 8 (or 7) neighbours, outside pixels dropped (symmetric, since "touches" is);
// w = exp(−d² / (2 mean d²)), the mean over all directed edges.
core::CsrMatrix assemble_healpix_neighbours(const HealpixGrid& grid, const double* xyz, Output output) {
  const int64_t n = grid.size();
  const auto nb = grid.neighbours();
  const int64_t* nbp = nb.data_ptr<int64_t>();
  const bool diagonal = output != Output::kAdjacency;
  auto sorted_row = [&](int64_t i, int64_t* buf) {
    int m = 0;
    for (int j = 0; j < 8; ++j) {
      if (nbp[8 * i + j] >= 0) buf[m++] = nbp[8 * i + j];
    }
    if (diagonal) buf[m++] = i;
    std::sort(buf, buf + m);
    return static_cast<int>(std::unique(buf, buf + m) - buf);
  };
  // Mean squared distance, summed per row then in row order (independent of the thread count).
  std::vector<double> row_sum(n);
  std::vector<int64_t> row_count(n);
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    int64_t buf[9];
    const int m = sorted_row(i, buf);
    double s = 0;
    int64_t edges = 0;
    for (int t = 0; t < m; ++t) {
      if (buf[t] == i) continue;
      s += chord2(xyz + 3 * i, xyz + 3 * buf[t]);
      ++edges;
    }
    row_sum[i] = s;
    row_count[i] = edges;
  }
  double total = 0;
  int64_t edges = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += row_sum[i];
    edges += row_count[i];
  }
  const double mean = edges > 0 ? total / static_cast<double>(edges) : 1.0;
  return assemble(
      n, xyz, 1.0 / (2.0 * mean), output,
      [&](int64_t i) { return row_count[i] + (diagonal ? 1 : 0); },
      [&](int64_t i, const int64_t*, int32_t* out) {
        int64_t buf[9];
        const int m = sorted_row(i, buf);
        for (int t = 0; t < m; ++t) out[t] = static_cast<int32_t>(buf[t]);
      });
}

// SPHAERA_GRAPH_TIMING=1 prints the time of each construction phase on stderr (for profiling).
class PhaseTimer {
 public:
  PhaseTimer() : on_(std::getenv("SPHAERA_GRAPH_TIMING") != nullptr), last_(std::chrono::steady_clock::now()) {}
  void operator()(const char* phase, const std::string& extra = "") {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "graph: %-12s %8.3f s %s\n", phase, std::chrono::duration<double>(now - last_).count(),
                 extra.c_str());
    last_ = now;
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point last_;
};

core::CsrMatrix build(const Grid& grid, const GraphOptions& options, Output output) {
  PhaseTimer timer;
  const auto* healpix = dynamic_cast<const HealpixGrid*>(&grid);
  const auto dirs = grid.directions().to(at::kCPU, at::kDouble).contiguous();
  const double* xyz = dirs.data_ptr<double>();
  timer("directions");
  if (options.construction == GraphConstruction::kV1) {
    SPHAERA_CHECK(healpix != nullptr, "graph: construction v1 links HEALPix neighbours, but the grid is ",
                  grid.key(), " (use v2)");
    auto result = assemble_healpix_neighbours(*healpix, xyz, output);
    timer("assemble");
    return result;
  }
  SPHAERA_CHECK(options.k >= 1, "graph: k must be ≥ 1, got ", options.k);
  double sigma = 0;
  if (options.kernel_width) {
    sigma = *options.kernel_width;
    SPHAERA_CHECK(sigma > 0 && std::isfinite(sigma), "graph: kernel_width must be > 0, got ", sigma);
  } else {
    SPHAERA_CHECK(healpix != nullptr, "graph: no published kernel width for ", grid.key(),
                  " (the table is for HEALPix): set kernel_width");
    sigma = v2_kernel_width(healpix->nside(), options.k);
  }
  // One buffer first holds the k-NN lists, then the values (about 1% more entries than k + 1 per row).
  const int64_t n = grid.size();
  const int64_t k = std::min<int64_t>(options.k, std::max<int64_t>(n - 1, 0));
  const size_t bytes = std::max<size_t>(static_cast<size_t>(n) * k * sizeof(int32_t),
                                        static_cast<size_t>(n) * (k + 1) * sizeof(double) * 105 / 100) + 64;
  std::shared_ptr<void> buffer(std::malloc(bytes), [](void* p) { std::free(p); });
  SPHAERA_CHECK(buffer != nullptr, "graph: cannot allocate ", bytes, " bytes for ", grid.key());
  std::shared_ptr<int32_t[]> lists(buffer, static_cast<int32_t*>(buffer.get()));
  const NearestNeighbours nn = healpix != nullptr ? nearest_neighbours(*healpix, options.k, lists)
                                            : nearest_neighbours(dirs, options.k, lists);
  timer("knn", "(" + std::to_string(nn.expanded_queries) + " queries widened)");
  // From here the values overwrite the lists once every row's columns are written (see assemble).
  auto result = assemble_knn(nn, xyz, std::log(2.0) / (sigma * sigma), output, std::move(buffer), bytes);
  timer("assemble");
  return result;
}

Output output_of(LaplacianKind kind) {
  return kind == LaplacianKind::kNormalized ? Output::kNormalized : Output::kCombinatorial;
}

// ---- Lanczos ---------------------------------------------------------------------------------------------------------

// Dot product summed by fixed blocks, so that the result does not depend on the thread count.
double dot(const double* a, const double* b, int64_t n) {
  constexpr int64_t kBlock = 8192;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks);
#pragma omp parallel for schedule(static) if (blocks > 4)
  for (int64_t q = 0; q < blocks; ++q) {
    double s = 0;
    const int64_t end = std::min(n, (q + 1) * kBlock);
    for (int64_t i = q * kBlock; i < end; ++i) s += a[i] * b[i];
    partial[q] = s;
  }
  double s = 0;
  for (double x : partial) s += x;
  return s;
}

// Number of eigenvalues of the symmetric tridiagonal (alpha, beta) below x (Sturm sequence).
int sturm_count(const std::vector<double>& alpha, const std::vector<double>& beta, int m, double x) {
  int count = 0;
  double q = 1;
  for (int i = 0; i < m; ++i) {
    const double b2 = i > 0 ? beta[i - 1] * beta[i - 1] : 0.0;
    q = (alpha[i] - x) - (i > 0 ? b2 / q : 0.0);
    if (q == 0) q = -1e-300;
    if (q < 0) ++count;
  }
  return count;
}

// Largest eigenvalue of the m × m tridiagonal and the last component of its unit eigenvector.
std::pair<double, double> top_eigenpair(const std::vector<double>& alpha, const std::vector<double>& beta, int m) {
  double lo = alpha[0], hi = alpha[0];
  for (int i = 0; i < m; ++i) {
    const double r = (i > 0 ? std::abs(beta[i - 1]) : 0.0) + (i + 1 < m ? std::abs(beta[i]) : 0.0);
    lo = std::min(lo, alpha[i] - r);
    hi = std::max(hi, alpha[i] + r);
  }
  for (int it = 0; it < 200 && hi - lo > 1e-15 * std::max(std::abs(lo), std::abs(hi)); ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (sturm_count(alpha, beta, m, mid) == m) {
      hi = mid;  // all eigenvalues below mid
    } else {
      lo = mid;
    }
  }
  const double theta = hi;
  if (m == 1) return {theta, 1.0};
  // Inverse iteration: (T − θ I) y = b, Gaussian elimination with partial pivoting (tridiagonal).
  const double scale = std::max(std::abs(lo), std::abs(hi)) + 1e-300;
  std::vector<double> y(m, 1.0);
  for (int iter = 0; iter < 3; ++iter) {
    std::vector<double> d(m), du(m, 0.0), dl(m, 0.0), du2(m, 0.0);
    for (int i = 0; i < m; ++i) d[i] = alpha[i] - theta;
    for (int i = 0; i + 1 < m; ++i) du[i] = dl[i] = beta[i];
    std::vector<double> b = y;
    for (int i = 0; i + 1 < m; ++i) {
      if (std::abs(d[i]) >= std::abs(dl[i])) {
        if (d[i] == 0) d[i] = 1e-16 * scale;
        const double f = dl[i] / d[i];
        d[i + 1] -= f * du[i];
        b[i + 1] -= f * b[i];
      } else {
        const double f = d[i] / dl[i];
        d[i] = dl[i];
        const double t = d[i + 1];
        d[i + 1] = du[i] - f * t;
        if (i + 2 < m) {
          du2[i] = du[i + 1];
          du[i + 1] = -f * du2[i];
        }
        du[i] = t;
        const double tb = b[i];
        b[i] = b[i + 1];
        b[i + 1] = tb - f * b[i + 1];
      }
    }
    if (d[m - 1] == 0) d[m - 1] = 1e-16 * scale;
    b[m - 1] /= d[m - 1];
    b[m - 2] = (b[m - 2] - du[m - 2] * b[m - 1]) / d[m - 2];
    for (int i = m - 3; i >= 0; --i) b[i] = (b[i] - du[i] * b[i + 1] - du2[i] * b[i + 2]) / d[i];
    double norm = 0;
    for (double x : b) norm += x * x;
    norm = std::sqrt(norm);
    for (int i = 0; i < m; ++i) y[i] = b[i] / norm;
  }
  return {theta, y[m - 1]};
}

// ---- cache -----------------------------------------------------------------------------------------------------------

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

std::shared_ptr<const core::CsrMatrix> cached(const std::string& key,
                                              const std::function<core::CsrMatrix()>& make) {
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

// ---- public ------------------------------------------------------------------------------------------------------------

core::CsrMatrix adjacency(const Grid& grid, const GraphOptions& options) {
  return build(grid, options, Output::kAdjacency);
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
    double deg = 0;
    for (int64_t e = arp[i]; e < arp[i + 1]; ++e) {
      deg += aval[e];
      if (acol[e] == i) {
        has_diag = true;
        w_diag[i] = aval[e];
      }
    }
    degree[i] = deg;
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
  const int64_t n = a.rows();
  if (n == 0) return 0.0;
  const auto rp_t = a.row_ptr().contiguous();
  const auto col_t = a.col_index().contiguous();
  const auto val_t = a.values().contiguous();
  const int64_t* rp = rp_t.data_ptr<int64_t>();
  const int32_t* col = col_t.data_ptr<int32_t>();
  const double* val = val_t.data_ptr<double>();

  double gershgorin = 0;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t e = rp[i]; e < rp[i + 1]; ++e) s += std::abs(val[e]);
    gershgorin = std::max(gershgorin, s);
  }
  if (gershgorin == 0) return 0.0;

  const bool big = n > 50000;  // below, threads cost more than they save
  auto multiply = [&](const double* x, double* y) {
#pragma omp parallel for schedule(static) if (big)
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t e = rp[i]; e < rp[i + 1]; ++e) s += val[e] * x[col[e]];
      y[i] = s;
    }
  };
  const int max_steps = static_cast<int>(std::min<int64_t>(500, n));
  // Full reorthogonalisation costs O(n·steps²): kept for small matrices. Without it, the top Ritz pair and its
  // residual estimate stay reliable (Paige); only spurious copies of converged values appear, which do no harm.
  const bool full_reorth = n <= 200000;
  std::vector<std::vector<double>> basis;  // all Lanczos vectors (full reorthogonalisation)
  std::vector<double> v(n), w(n), prev(n, 0.0);
  // Fixed start: splitmix64 of the index, uniform in [−1, 1).
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = static_cast<uint64_t>(i) + 0x9e3779b97f4a7c15ull * 0x5348ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    v[i] = static_cast<double>(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  }
  {
    const double norm = std::sqrt(dot(v.data(), v.data(), n));
    for (auto& x : v) x /= norm;
  }
  std::vector<double> alpha, beta;
  double theta = 0, residual = gershgorin;
  for (int j = 0; j < max_steps; ++j) {
    if (full_reorth) basis.push_back(v);
    multiply(v.data(), w.data());
    const double a_j = dot(w.data(), v.data(), n);
    const double b_prev = j > 0 ? beta[j - 1] : 0.0;
#pragma omp parallel for schedule(static) if (big)
    for (int64_t i = 0; i < n; ++i) w[i] -= a_j * v[i] + b_prev * prev[i];
    if (full_reorth) {
      for (int pass = 0; pass < 2; ++pass) {
        for (const auto& q : basis) {
          const double c = dot(w.data(), q.data(), n);
#pragma omp parallel for schedule(static) if (big)
          for (int64_t i = 0; i < n; ++i) w[i] -= c * q[i];
        }
      }
    }
    const double b_j = std::sqrt(dot(w.data(), w.data(), n));
    alpha.push_back(a_j);
    beta.push_back(b_j);
    const auto [t, s_last] = top_eigenpair(alpha, beta, j + 1);
    theta = t;
    residual = b_j * std::abs(s_last);
    if (residual <= 2e-3 * std::abs(theta) || b_j <= 1e-13 * gershgorin) break;
    prev.swap(v);
#pragma omp parallel for schedule(static) if (big)
    for (int64_t i = 0; i < n; ++i) v[i] = w[i] / b_j;
  }
  return std::min(theta + residual, gershgorin);
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
