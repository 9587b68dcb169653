#include "sphaera/transforms/points.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>

#include <ATen/ATen.h>
#include <omp.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/linear_node.h"

namespace sphaera::transforms {

/// Points sorted by colatitude and grouped into rings of (nearly) equal colatitude.
struct PointGrid::Geometry {
  int64_t size = 0;
  std::vector<int64_t> order;       // memory index of the j-th point in sorted order
  std::vector<int64_t> ring_of;     // ring of the j-th sorted point
  std::vector<double> phi;          // longitude of the j-th sorted point
  std::vector<double> ring_theta;   // distinct colatitudes, ascending
  std::vector<int64_t> ring_start;  // sorted position of each ring's first point, and the end (rings + 1)
};

struct PointGrid::Parts {
  at::Tensor directions, theta, phi;  // float64 [M, 3], [M], [M]
};

namespace {

using Geometry = PointGrid::Geometry;

// Colatitudes closer than this share one Legendre recurrence: 9 ulp of π, far below what a float64 unit vector
// resolves near the poles (atan2 of the same latitude from different longitudes differs by a few ulp).
constexpr double kSameColatitude = 4e-15;

// ---- the linear-map autograd node (the same helper as in sht.cpp) ----

using detail::apply_linear;

// ---- geometry ----

std::shared_ptr<const Geometry> make_geometry(const at::Tensor& theta, const at::Tensor& phi) {
  auto g = std::make_shared<Geometry>();
  const int64_t n = theta.size(0);
  const double* t = theta.data_ptr<double>();
  const double* p = phi.data_ptr<double>();
  g->size = n;
  g->order.resize(n);
  std::iota(g->order.begin(), g->order.end(), 0);
  std::stable_sort(g->order.begin(), g->order.end(), [&](int64_t a, int64_t b) { return t[a] < t[b]; });
  g->ring_of.resize(n);
  g->phi.resize(n);
  for (int64_t j = 0; j < n; ++j) {
    const double theta_j = t[g->order[j]];
    if (g->ring_theta.empty() || theta_j - g->ring_theta.back() > kSameColatitude) {
      g->ring_theta.push_back(theta_j);
      g->ring_start.push_back(j);
    }
    g->ring_of[j] = static_cast<int64_t>(g->ring_theta.size()) - 1;
    g->phi[j] = p[g->order[j]];
  }
  g->ring_start.push_back(n);
  return g;
}

// Consecutive rings whose Legendre values one LegendrePlan computes. A plan shares one recurrence between rings
// θ and π − θ when they match to 1e-12 rad, which would move one of them by up to that much; so a plan never
// holds rings of both hemispheres, and rings within 1e-11 rad of the equator (which could pair with each other)
// get a plan each. Each plan holds at most `per_chunk` rings.
struct Chunk {
  int64_t first_ring, rings;
};

std::vector<Chunk> make_chunks(const Geometry& g, int64_t lmax, int64_t ncols) {
  constexpr int64_t kBufferBytes = int64_t{64} << 20;   // ring Fourier coefficients of one chunk
  constexpr int64_t kMinRings = 256, kMaxRings = 4096;  // enough lanes per order; bounded buffers for small L
  const int64_t per_chunk =
      std::clamp<int64_t>(kBufferBytes / ((lmax + 1) * ncols * int64_t{sizeof(double)}), kMinRings, kMaxRings);
  auto near_equator = [](double theta) { return std::abs(theta - 0.5 * M_PI) < 1e-11; };
  auto north = [](double theta) { return theta <= 0.5 * M_PI; };
  const int64_t R = static_cast<int64_t>(g.ring_theta.size());
  std::vector<Chunk> chunks;
  for (int64_t r = 0; r < R;) {
    int64_t end = r + 1;
    const double t = g.ring_theta[r];
    if (!near_equator(t)) {
      while (end < R && end - r < per_chunk && !near_equator(g.ring_theta[end]) && north(g.ring_theta[end]) == north(t))
        ++end;
    }
    chunks.push_back(Chunk{r, end - r});
    r = end;
  }
  return chunks;
}

LegendrePlan chunk_plan(const Geometry& g, const Chunk& c, int64_t lmax) {
  return LegendrePlan(
      std::vector<double>(g.ring_theta.begin() + c.first_ring, g.ring_theta.begin() + c.first_ring + c.rings), lmax,
      lmax, /*precompute=*/false);
}

// Coefficients complex [n, L+1, L+1] viewed as real [n, L+1, L+1, 2].
AlmStrides coefficient_strides(int64_t lmax) { return AlmStrides{2 * (lmax + 1), 2, 2 * (lmax + 1) * (lmax + 1)}; }

// Points of one chunk are processed in tiles of consecutive (sorted) points, order by order, so that each
// order's ring coefficients F[m][ring][·] are read (or written) in one sweep: reading them point by point, all
// orders of one point, would stride by a power of two through memory and thrash the caches.
constexpr int64_t kTile = 64;
// Below this many (point, order, map) terms a chunk's Fourier stage runs on one thread (a parallel region costs
// more than the work).
constexpr int64_t kParallelWork = 1 << 16;

// e^{imφ_k} for the points of a tile and m = 0, 1, ...: one rotation per order, re-anchored with sin/cos every
// 64 orders so that rounding does not accumulate (error ≲ 64 ulp).
struct TilePhases {
  std::vector<double> re, im, step_re, step_im, phi;
  void reset(const double* phi_, int64_t count) {
    phi.assign(phi_, phi_ + count);
    re.assign(count, 1.0);
    im.assign(count, 0.0);
    step_re.resize(count);
    step_im.resize(count);
    for (int64_t k = 0; k < count; ++k) step_re[k] = std::cos(phi[k]), step_im[k] = std::sin(phi[k]);
  }
  void advance_to(int64_t m) {  // from m − 1 to m
    const int64_t count = static_cast<int64_t>(phi.size());
    if (m % 64 == 0) {
      for (int64_t k = 0; k < count; ++k) {
        const double t = static_cast<double>(m) * phi[k];
        re[k] = std::cos(t), im[k] = std::sin(t);
      }
    } else {
      for (int64_t k = 0; k < count; ++k) {
        const double r = re[k] * step_re[k] - im[k] * step_im[k];
        im[k] = re[k] * step_im[k] + im[k] * step_re[k];
        re[k] = r;
      }
    }
  }
};

// values[b, i] = Re F_0(θ_i) + 2 Re Σ_{m>0} F_m(θ_i) e^{imφ_i}, F_m = Σ_l λ_lm a_lm (b: map, i: point).
at::Tensor synthesise(const Geometry& g, int64_t lmax, const at::Tensor& alm) {
  const int64_t n = alm.size(0), M = g.size, ncols = 2 * n, L1 = lmax + 1;
  at::Tensor out = at::empty({n, M}, alm.options());
  if (n == 0) return out;
  const double* a = alm.data_ptr<double>();
  double* o = out.data_ptr<double>();
  std::vector<double> F;
  for (const Chunk& c : make_chunks(g, lmax, ncols)) {
    const LegendrePlan plan = chunk_plan(g, c, lmax);
    F.resize(L1 * c.rings * ncols);
    plan.synthesis(a, coefficient_strides(lmax), F.data(), ncols);  // F[m][ring][column]
    const int64_t first = g.ring_start[c.first_ring], last = g.ring_start[c.first_ring + c.rings];
    const int64_t row = c.rings * ncols;  // doubles from one order to the next
    const double* f = F.data();
    const bool parallel = (last - first) * L1 * n > kParallelWork;
#pragma omp parallel if (parallel)
    {
      TilePhases e;
      std::vector<double> acc(n * kTile);
      std::vector<int64_t> offset(kTile);
#pragma omp for schedule(static)
      for (int64_t t0 = first; t0 < last; t0 += kTile) {
        const int64_t count = std::min(kTile, last - t0);
        for (int64_t k = 0; k < count; ++k) offset[k] = (g.ring_of[t0 + k] - c.first_ring) * ncols;
        for (int64_t b = 0; b < n; ++b)  // m = 0: the imaginary part is ignored
          for (int64_t k = 0; k < count; ++k) acc[b * kTile + k] = f[offset[k] + 2 * b];
        e.reset(g.phi.data() + t0, count);
        for (int64_t m = 1; m <= lmax; ++m) {
          e.advance_to(m);
          const double* fm = f + m * row;
          for (int64_t b = 0; b < n; ++b) {
            double* ab = acc.data() + b * kTile;
            for (int64_t k = 0; k < count; ++k) {
              const double* x = fm + offset[k] + 2 * b;
              ab[k] += 2.0 * (x[0] * e.re[k] - x[1] * e.im[k]);
            }
          }
        }
        for (int64_t b = 0; b < n; ++b)
          for (int64_t k = 0; k < count; ++k) o[b * M + g.order[t0 + k]] = acc[b * kTile + k];
      }
    }
  }
  return out;
}

// Tiles of whole rings (about kTile points, or one larger ring): a ring's sums belong to one thread.
std::vector<int64_t> ring_tiles(const Geometry& g, const Chunk& c) {
  std::vector<int64_t> bounds = {c.first_ring};
  for (int64_t r = c.first_ring; r < c.first_ring + c.rings; ++r) {
    if (r > bounds.back() && g.ring_start[r + 1] - g.ring_start[bounds.back()] > kTile) bounds.push_back(r);
  }
  bounds.push_back(c.first_ring + c.rings);
  return bounds;
}

// The adjoint: b_lm = c_m Σ_i y_i λ_lm(θ_i) e^{−imφ_i}, as real [n, L+1, L+1, 2].
at::Tensor analyse(const Geometry& g, int64_t lmax, const at::Tensor& values) {
  const int64_t n = values.size(0), M = g.size, ncols = 2 * n, L1 = lmax + 1;
  at::Tensor out = at::zeros({n, L1, L1, 2}, values.options());
  if (n == 0) return out;
  const double* y = values.data_ptr<double>();
  double* o = out.data_ptr<double>();
  std::vector<double> G, partial;
  bool first_chunk = true;
  for (const Chunk& c : make_chunks(g, lmax, ncols)) {
    const LegendrePlan plan = chunk_plan(g, c, lmax);
    G.assign(L1 * c.rings * ncols, 0.0);  // G[m][ring][column]
    const int64_t row = c.rings * ncols;
    double* gs = G.data();
    const std::vector<int64_t> tiles = ring_tiles(g, c);
    const int64_t ntiles = static_cast<int64_t>(tiles.size()) - 1;
    const bool parallel = (g.ring_start[c.first_ring + c.rings] - g.ring_start[c.first_ring]) * L1 * n > kParallelWork;
#pragma omp parallel if (parallel)
    {
      TilePhases e;
      std::vector<double> ys;
      std::vector<int64_t> offset;
#pragma omp for schedule(dynamic, 4)
      for (int64_t t = 0; t < ntiles; ++t) {
        const int64_t p0 = g.ring_start[tiles[t]], p1 = g.ring_start[tiles[t + 1]], count = p1 - p0;
        ys.resize(n * count);
        offset.resize(count);
        for (int64_t k = 0; k < count; ++k) offset[k] = (g.ring_of[p0 + k] - c.first_ring) * ncols;
        for (int64_t b = 0; b < n; ++b)
          for (int64_t k = 0; k < count; ++k) ys[b * count + k] = y[b * M + g.order[p0 + k]];
        for (int64_t b = 0; b < n; ++b)  // m = 0: real
          for (int64_t k = 0; k < count; ++k) gs[offset[k] + 2 * b] += ys[b * count + k];
        e.reset(g.phi.data() + p0, count);
        for (int64_t m = 1; m <= lmax; ++m) {
          e.advance_to(m);
          double* gm = gs + m * row;
          for (int64_t b = 0; b < n; ++b) {
            const double* yb = ys.data() + b * count;
            for (int64_t k = 0; k < count; ++k) {
              double* x = gm + offset[k] + 2 * b;
              x[0] += 2.0 * yb[k] * e.re[k];
              x[1] -= 2.0 * yb[k] * e.im[k];
            }
          }
        }
      }
    }
    if (first_chunk) {
      plan.analysis(G.data(), o, coefficient_strides(lmax), ncols);
      first_chunk = false;
    } else {
      partial.resize(n * L1 * L1 * 2);
      plan.analysis(G.data(), partial.data(), coefficient_strides(lmax), ncols);
      const int64_t total = static_cast<int64_t>(partial.size());
      const double* p = partial.data();
#pragma omp parallel for schedule(static) if (total > 100000)
      for (int64_t k = 0; k < total; ++k) o[k] += p[k];
    }
  }
  return out;
}

// Differentiable packed forms: coefficients real [n, L+1, L+1, 2] ↔ values [n, M], float64 on the CPU.
at::Tensor adjoint_packed(const std::shared_ptr<const Geometry>& g, int64_t lmax, const at::Tensor& values);

at::Tensor evaluate_packed(const std::shared_ptr<const Geometry>& g, int64_t lmax, const at::Tensor& alm) {
  return apply_linear(
      alm, [&](const at::Tensor& a) { return synthesise(*g, lmax, a); },
      [g, lmax](const at::Tensor& grad) { return adjoint_packed(g, lmax, grad); }, "PointEvaluationBackward");
}

at::Tensor adjoint_packed(const std::shared_ptr<const Geometry>& g, int64_t lmax, const at::Tensor& values) {
  return apply_linear(
      values, [&](const at::Tensor& y) { return analyse(*g, lmax, y); },
      [g, lmax](const at::Tensor& grad) { return evaluate_packed(g, lmax, grad); }, "PointEvaluationAdjointBackward");
}

// ---- construction helpers ----

// float64 contiguous CPU copy of a 1-D tensor of M values; `what` names it in messages.
at::Tensor angle_list(const at::Tensor& t, const char* what, int64_t expected) {
  SPHAERA_CHECK(t.defined() && t.dim() == 1 && t.size(0) >= 1 && (expected < 0 || t.size(0) == expected) &&
                    !t.is_complex() && t.scalar_type() != at::kBool,
                "PointGrid: ", what, " must be a real tensor [M] with M ≥ 1",
                expected >= 0 ? " (M = " + std::to_string(expected) + " as the other coordinate)" : std::string(),
                ", got ", t.defined() ? t.sizes() : at::IntArrayRef{}, t.defined() ? " " : "",
                t.defined() ? std::string(c10::toString(t.scalar_type())) : std::string("undefined"));
  return t.to(at::kCPU, at::kDouble).contiguous();
}

// sin and cos of an angle in degrees, exact (0, ±1) at multiples of 90°.
void sincos_degrees(double x, double& s, double& c) {
  const double r = std::fmod(x, 360.0);  // exact
  const double q = std::nearbyint(r / 90.0);
  const double rad = (r - 90.0 * q) / 180.0 * M_PI;
  const double sr = std::sin(rad), cr = std::cos(rad);
  switch (((static_cast<int>(q) % 4) + 4) % 4) {
    case 0:
      s = sr, c = cr;
      break;
    case 1:
      s = cr, c = -sr;
      break;
    case 2:
      s = -sr, c = -cr;
      break;
    default:
      s = -cr, c = sr;
      break;
  }
  s += 0.0, c += 0.0;  // no negative zeros (they would change the key's hash)
}

uint64_t fnv1a(const double* data, int64_t count) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(data);
  for (int64_t i = 0; i < count * static_cast<int64_t>(sizeof(double)); ++i) {
    h ^= bytes[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(uint64_t h) {
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace

PointGrid::PointGrid(const at::Tensor& directions, const at::Tensor& weights)
    : PointGrid(
          [&] {
            SPHAERA_CHECK(directions.defined() && directions.dim() == 2 && directions.size(1) == 3 &&
                              directions.size(0) >= 1 && directions.is_floating_point(),
                          "PointGrid: directions must be a floating-point tensor [M, 3] with M ≥ 1, got ",
                          directions.defined() ? directions.sizes() : at::IntArrayRef{}, " ",
                          directions.defined() ? c10::toString(directions.scalar_type()) : "undefined");
            const at::Tensor v = directions.to(at::kCPU, at::kDouble).contiguous();
            const int64_t n = v.size(0);
            Parts parts{at::empty({n, 3}, at::kDouble), at::empty({n}, at::kDouble), at::empty({n}, at::kDouble)};
            const double* in = v.data_ptr<double>();
            double* d = parts.directions.data_ptr<double>();
            double* t = parts.theta.data_ptr<double>();
            double* p = parts.phi.data_ptr<double>();
            for (int64_t i = 0; i < n; ++i) {
              const double x = in[3 * i], y = in[3 * i + 1], z = in[3 * i + 2];
              SPHAERA_CHECK(std::isfinite(x) && std::isfinite(y) && std::isfinite(z), "PointGrid: direction ", i,
                            " is not finite: (", x, ", ", y, ", ", z, ")");
              const double s = std::max({std::abs(x), std::abs(y), std::abs(z)});
              SPHAERA_CHECK(s > 0.0, "PointGrid: direction ", i, " is the zero vector (a point needs a direction)");
              const double xs = x / s, ys = y / s, zs = z / s;  // scaled first: no underflow or overflow
              const double norm = std::sqrt(xs * xs + ys * ys + zs * zs);
              d[3 * i] = xs / norm + 0.0, d[3 * i + 1] = ys / norm + 0.0, d[3 * i + 2] = zs / norm + 0.0;
              t[i] = std::atan2(std::hypot(d[3 * i], d[3 * i + 1]), d[3 * i + 2]);
              p[i] = std::atan2(d[3 * i + 1], d[3 * i]);
            }
            return parts;
          }(),
          weights) {}

PointGrid::PointGrid(Parts parts, const at::Tensor& weights)
    : directions_(std::move(parts.directions)), theta_(std::move(parts.theta)), phi_(std::move(parts.phi)) {
  const int64_t n = theta_.size(0);
  std::string weight_key;
  if (weights.defined()) {
    SPHAERA_CHECK(
        weights.dim() == 1 && weights.size(0) == n && !weights.is_complex() && weights.scalar_type() != at::kBool,
        "PointGrid: weights must be a real tensor [M] = [", n, "], got ", weights.sizes());
    weights_ = weights.to(at::kCPU, at::kDouble).contiguous().clone();
    const double* w = weights_.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i)
      SPHAERA_CHECK(std::isfinite(w[i]) && w[i] >= 0.0, "PointGrid: weight ", i, " is ", w[i],
                    ": weights must be finite and ≥ 0");
    weight_key = ",weights=" + hex(fnv1a(w, n));
  } else {
    weights_ = at::full({n}, 4.0 * M_PI / static_cast<double>(n), at::kDouble);
  }
  key_ =
      "points(n=" + std::to_string(n) + ",hash=" + hex(fnv1a(directions_.data_ptr<double>(), 3 * n)) + weight_key + ")";
  geometry_ = make_geometry(theta_, phi_);
}

std::shared_ptr<PointGrid> PointGrid::from_colatitude_longitude(const at::Tensor& theta, const at::Tensor& phi,
                                                                const at::Tensor& weights) {
  Parts parts;
  parts.theta = angle_list(theta, "colatitude", -1).clone();
  parts.phi = angle_list(phi, "longitude", parts.theta.size(0)).clone();
  const int64_t n = parts.theta.size(0);
  parts.directions = at::empty({n, 3}, at::kDouble);
  const double* t = parts.theta.data_ptr<double>();
  const double* p = parts.phi.data_ptr<double>();
  double* d = parts.directions.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    SPHAERA_CHECK(t[i] >= 0.0 && t[i] <= M_PI, "PointGrid: colatitude ", i, " is ", t[i],
                  " rad, outside [0, π] (colatitude = π/2 − latitude, in radians)");
    SPHAERA_CHECK(std::isfinite(p[i]), "PointGrid: longitude ", i, " is not finite: ", p[i]);
    const double st = std::sin(t[i]);
    d[3 * i] = st * std::cos(p[i]) + 0.0, d[3 * i + 1] = st * std::sin(p[i]) + 0.0, d[3 * i + 2] = std::cos(t[i]) + 0.0;
  }
  return std::shared_ptr<PointGrid>(new PointGrid(std::move(parts), weights));
}

std::shared_ptr<PointGrid> PointGrid::from_latitude_longitude_degrees(const at::Tensor& latitude,
                                                                      const at::Tensor& longitude,
                                                                      const at::Tensor& weights) {
  const at::Tensor lat = angle_list(latitude, "latitude", -1);
  const at::Tensor lon = angle_list(longitude, "longitude", lat.size(0));
  const int64_t n = lat.size(0);
  Parts parts{at::empty({n, 3}, at::kDouble), at::empty({n}, at::kDouble), at::empty({n}, at::kDouble)};
  const double* la = lat.data_ptr<double>();
  const double* lo = lon.data_ptr<double>();
  double* d = parts.directions.data_ptr<double>();
  double* t = parts.theta.data_ptr<double>();
  double* p = parts.phi.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    SPHAERA_CHECK(la[i] >= -90.0 && la[i] <= 90.0, "PointGrid: latitude ", i, " is ", la[i], "°, outside [−90°, 90°]");
    SPHAERA_CHECK(std::isfinite(lo[i]), "PointGrid: longitude ", i, " is not finite: ", lo[i]);
    double sin_lat, cos_lat, sin_lon, cos_lon;
    sincos_degrees(la[i], sin_lat, cos_lat);
    sincos_degrees(lo[i], sin_lon, cos_lon);
    d[3 * i] = cos_lat * cos_lon + 0.0, d[3 * i + 1] = cos_lat * sin_lon + 0.0, d[3 * i + 2] = sin_lat;
    t[i] = 0.5 * M_PI - la[i] / 180.0 * M_PI;
    p[i] = lo[i] / 180.0 * M_PI;
  }
  return std::shared_ptr<PointGrid>(new PointGrid(std::move(parts), weights));
}

int64_t PointGrid::size() const { return theta_.size(0); }
at::Tensor PointGrid::directions() const { return directions_; }
at::Tensor PointGrid::quadrature_weights() const { return weights_; }
std::string PointGrid::key() const { return key_; }
at::Tensor PointGrid::colatitudes() const { return theta_; }
at::Tensor PointGrid::longitudes() const { return phi_; }
int64_t PointGrid::distinct_colatitudes() const { return static_cast<int64_t>(geometry_->ring_theta.size()); }

at::Tensor evaluate(const at::Tensor& alm, const PointGrid& points) {
  SPHAERA_CHECK(alm.defined() && alm.dim() >= 2 && alm.size(-1) == alm.size(-2) && alm.size(-1) >= 1,
                "evaluate: coefficients must be [..., lmax+1, lmax+1], got ",
                alm.defined() ? alm.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(alm.scalar_type() == at::kComplexFloat || alm.scalar_type() == at::kComplexDouble,
                "evaluate: coefficients must be complex64 or complex128, got ", alm.scalar_type());
  const int64_t lmax = alm.size(-1) - 1;
  std::vector<int64_t> shape(alm.sizes().begin(), alm.sizes().end() - 2);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const at::Tensor a =
      at::view_as_real(alm.reshape({n, lmax + 1, lmax + 1}).to(at::kCPU, at::kComplexDouble).contiguous());
  const at::Tensor x = evaluate_packed(points.geometry(), lmax, a);
  shape.push_back(points.size());
  return x.reshape(shape).to(alm.device(), alm.scalar_type() == at::kComplexFloat ? at::kFloat : at::kDouble);
}

at::Tensor evaluate_adjoint(const at::Tensor& values, const PointGrid& points, int64_t lmax) {
  SPHAERA_CHECK(values.defined() && values.dim() >= 1 && values.size(-1) == points.size(),
                "evaluate_adjoint: values must be [..., ", points.size(), "] on ", points.key(), ", got ",
                values.defined() ? values.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(values.scalar_type() == at::kFloat || values.scalar_type() == at::kDouble,
                "evaluate_adjoint: values must be float32 or float64, got ", values.scalar_type());
  SPHAERA_CHECK(lmax >= 0 && lmax <= 16384, "evaluate_adjoint: lmax must be in [0, 16384], got ", lmax);
  std::vector<int64_t> shape(values.sizes().begin(), values.sizes().end() - 1);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const at::Tensor y = values.reshape({n, points.size()}).to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor b = adjoint_packed(points.geometry(), lmax, y);  // [n, L+1, L+1, 2]
  shape.push_back(lmax + 1);
  shape.push_back(lmax + 1);
  return at::view_as_complex(b).reshape(shape).to(
      values.device(), values.scalar_type() == at::kFloat ? at::kComplexFloat : at::kComplexDouble);
}

}  // namespace sphaera::transforms
