#include "sphaera/transforms/graph_csr.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

#include <healpix_base.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/fast_math.h"
#include "sphaera/transforms/healpix_nest.h"

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
  int level = 0;                                                            // nside = 32 · 2^level
  while ((int64_t{32} << level) < nside) ++level;
  int known = std::min(level, 5);
  while (row->width[known] == 0) --known;
  return std::ldexp(row->width[known], -(level - known));  // halved per doubling beyond the table
}

namespace {

// V1: HEALPix's 8 (or 7) neighbours, pixels outside a partial sky dropped (symmetric, since "touches" is);
// w = exp(−d² / (2 mean d²)), the mean over all directed edges.
core::CsrArrays healpix_neighbour_graph(const SpherePoints& p, GraphMatrix what) {
  const int64_t n = p.n;
  const T_Healpix_Base<int64> base(p.healpix_nside, NEST, SET_NSIDE);
  const bool diagonal = what != GraphMatrix::kAdjacency;
  // The sorted row of point i (neighbours as positions in the point set, and i itself for the Laplacians).
  auto sorted_row = [&](int64_t i, int64_t* buf) {
    fix_arr<int64, 8> nb;
    base.neighbors(p.nest_pixels != nullptr ? p.nest_pixels[i] : i, nb);
    int m = 0;
    for (int j = 0; j < 8; ++j) {
      if (nb[j] < 0) continue;
      if (p.nest_pixels == nullptr) {
        buf[m++] = nb[j];
        continue;
      }
      const int64_t* at = std::lower_bound(p.nest_pixels, p.nest_pixels + n, static_cast<int64_t>(nb[j]));
      if (at != p.nest_pixels + n && *at == nb[j]) buf[m++] = at - p.nest_pixels;
    }
    if (diagonal) buf[m++] = i;
    for (int a = 1; a < m; ++a) {  // insertion sort of at most 9
      const int64_t v = buf[a];
      int b = a;
      for (; b > 0 && buf[b - 1] > v; --b) buf[b] = buf[b - 1];
      buf[b] = v;
    }
    return static_cast<int>(std::unique(buf, buf + m) - buf);
  };
  core::CsrArrays out;
  out.rows = out.cols = n;
  out.row_ptr = core::Buffer<int64_t>(n + 1);
  int64_t* rp = out.row_ptr.data();
  rp[0] = 0;
  // Mean squared distance, summed per row then in row order (independent of the thread count).
  std::vector<double> row_sum(n);
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    int64_t buf[9];
    const int m = sorted_row(i, buf);
    double s = 0;
    for (int t = 0; t < m; ++t) {
      if (buf[t] != i) s += chord2(p.xyz + 3 * i, p.xyz + 3 * buf[t]);
    }
    row_sum[i] = s;
    rp[i + 1] = m;
  }
  double total = 0;
  int64_t edges = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += row_sum[i];
    edges += rp[i + 1] - (diagonal ? 1 : 0);
    rp[i + 1] += rp[i];
  }
  const double c = 1.0 / (2.0 * (edges > 0 ? total / static_cast<double>(edges) : 1.0));
  out.col = core::Buffer<int32_t>(rp[n]);
  out.val = core::Buffer<double>(rp[n]);
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    int64_t buf[9];
    const int m = sorted_row(i, buf);
    for (int t = 0; t < m; ++t) {
      out.col[rp[i] + t] = static_cast<int32_t>(buf[t]);
      out.val[rp[i] + t] = -c * chord2(p.xyz + 3 * i, p.xyz + 3 * buf[t]);
    }
    exp_nonpositive_inplace(out.val.data() + rp[i], m);
  }
  weights_to_matrix(out, what);
  return out;
}

// ---- Lanczos
// ---------------------------------------------------------------------------------------------------------

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

}  // namespace

core::CsrArrays graph_matrix(const SpherePoints& points, const GraphOptions& options, GraphMatrix what) {
  if (options.construction == GraphConstruction::kV1) {
    SPHAERA_CHECK(points.healpix_nside > 0,
                  "graph: construction v1 links HEALPix neighbours, but the points are "
                  "not HEALPix pixels (use v2)");
    return healpix_neighbour_graph(points, what);
  }
  SPHAERA_CHECK(options.k >= 1, "graph: k must be ≥ 1, got ", options.k);
  double sigma = 0;
  if (options.kernel_width) {
    sigma = *options.kernel_width;
    SPHAERA_CHECK(sigma > 0 && std::isfinite(sigma), "graph: kernel_width must be > 0, got ", sigma);
  } else {
    SPHAERA_CHECK(points.healpix_nside > 0,
                  "graph: no published kernel width for points that are not HEALPix "
                  "pixels: set kernel_width");
    sigma = v2_kernel_width(points.healpix_nside, options.k);
  }
  KnnGraphOptions knn;
  knn.k = options.k;
  knn.c = std::log(2.0) / (sigma * sigma);
  knn.matrix = what;
  return symmetric_knn_graph(points, knn);
}

double largest_eigenvalue_bound(const core::CsrView& a,
                                const std::function<void(int step, double residual_over_target)>& on_step) {
  SPHAERA_CHECK(a.rows == a.cols, "largest_eigenvalue_bound: the matrix must be square, got [", a.rows, ", ", a.cols,
                "]");
  const int64_t n = a.rows;
  if (n == 0) return 0.0;
  const int64_t* rp = a.row_ptr;
  const int32_t* col = a.col;
  const double* val = a.val;

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
    if (on_step) on_step(j + 1, residual / (2e-3 * std::abs(theta)));
    if (residual <= 2e-3 * std::abs(theta) || b_j <= 1e-13 * gershgorin) break;
    prev.swap(v);
#pragma omp parallel for schedule(static) if (big)
    for (int64_t i = 0; i < n; ++i) v[i] = w[i] / b_j;
  }
  return std::min(theta + residual, gershgorin);
}

}  // namespace sphaera::transforms
