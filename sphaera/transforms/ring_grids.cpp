#include "sphaera/transforms/ring_grids.h"

#include <cmath>
#include <complex>
#include <sstream>

#include <ATen/ATen.h>

#include "sphaera/core/check.h"

namespace sphaera::transforms {

namespace {

// P_n'(z) by the three-term recurrence (P_n(z) returned through `value`).
double legendre_derivative(int64_t n, double z, double& value) {
  double p0 = 1.0, p1 = z;
  for (int64_t k = 2; k <= n; ++k) {
    const double kd = static_cast<double>(k);
    const double p2 = ((2.0 * kd - 1.0) * z * p1 - (kd - 1.0) * p0) / kd;
    p0 = p1;
    p1 = p2;
  }
  value = n == 0 ? 1.0 : p1;
  return static_cast<double>(n) * (z * p1 - p0) / (z * z - 1.0);
}

// Layout of nrings rings of nphi points each, stored ring after ring (memory order = ring order).
std::shared_ptr<RingLayout> regular_layout(const std::vector<double>& theta, int64_t nphi,
                                           const std::vector<double>& ring_weight, int64_t band_limit) {
  auto layout = std::make_shared<RingLayout>();
  for (size_t r = 0; r < theta.size(); ++r)
    layout->rings.push_back(Ring{theta[r], nphi, 0.0, static_cast<int64_t>(r) * nphi,
                                 ring_weight[r] * 2.0 * M_PI / static_cast<double>(nphi)});
  layout->band_limit = band_limit;
  return layout;
}

}  // namespace

void gauss_legendre(int64_t n, std::vector<double>& x, std::vector<double>& w) {
  SPHAERA_CHECK(n >= 1, "gauss_legendre: order must be ≥ 1, got ", n);
  x.assign(n, 0.0);
  w.assign(n, 0.0);
  for (int64_t i = 0; i < (n + 1) / 2; ++i) {
    double z = std::cos(M_PI * (static_cast<double>(i) + 0.75) / (static_cast<double>(n) + 0.5));
    double value = 0.0;
    for (int iter = 0; iter < 100; ++iter) {  // Newton on P_n
      const double dz = [&] {
        const double dp = legendre_derivative(n, z, value);
        return value / dp;
      }();
      z -= dz;
      if (std::abs(dz) < 1e-16) break;
    }
    const double dp = legendre_derivative(n, z, value);
    x[i] = z;
    x[n - 1 - i] = -z;
    w[i] = w[n - 1 - i] = 2.0 / ((1.0 - z * z) * dp * dp);
  }
  if (n % 2 == 1) x[n / 2] = 0.0;
}

at::Tensor ring_directions(const RingLayout& layout, int64_t size) {
  at::Tensor dirs = at::empty({size, 3}, at::kDouble);
  double* d = dirs.data_ptr<double>();
  for (const Ring& ring : layout.rings) {
    const double st = std::sin(ring.theta), ct = std::cos(ring.theta);
    for (int64_t j = 0; j < ring.nphi; ++j) {
      const double phi = ring.phi0 + 2.0 * M_PI * static_cast<double>(j) / static_cast<double>(ring.nphi);
      double* p = d + 3 * (ring.first + j);
      p[0] = st * std::cos(phi), p[1] = st * std::sin(phi), p[2] = ct;
    }
  }
  if (!layout.ring_order.defined()) return dirs;
  return at::empty_like(dirs).index_copy_(0, layout.ring_order, dirs);
}

at::Tensor ring_weights(const RingLayout& layout, int64_t size) {
  at::Tensor weights = at::empty({size}, at::kDouble);
  double* w = weights.data_ptr<double>();
  for (const Ring& ring : layout.rings) std::fill(w + ring.first, w + ring.first + ring.nphi, ring.weight);
  if (!layout.ring_order.defined()) return weights;
  return at::empty_like(weights).index_copy_(0, layout.ring_order, weights);
}

GaussLegendreGrid::GaussLegendreGrid(int64_t nrings, int64_t nphi)
    : nrings_(nrings), nphi_(nphi < 0 ? 2 * nrings - 1 : nphi) {
  SPHAERA_CHECK(nrings >= 1 && nrings <= 1 << 15, "GaussLegendreGrid: nrings must be in [1, 32768], got ", nrings);
  SPHAERA_CHECK(nphi_ >= 1 && nphi_ <= 1 << 16, "GaussLegendreGrid: nphi must be in [1, 65536], got ", nphi_);
  std::vector<double> x, w;
  gauss_legendre(nrings, x, w);
  std::vector<double> theta(nrings);
  for (int64_t r = 0; r < nrings; ++r) theta[r] = std::acos(x[r]);
  layout_ = regular_layout(theta, nphi_, w, std::min(nrings - 1, (nphi_ - 1) / 2));
}

std::shared_ptr<GaussLegendreGrid> GaussLegendreGrid::for_lmax(int64_t lmax) {
  SPHAERA_CHECK(lmax >= 0, "GaussLegendreGrid::for_lmax: lmax must be ≥ 0, got ", lmax);
  return std::make_shared<GaussLegendreGrid>(lmax + 1, 2 * lmax + 1);
}

at::Tensor GaussLegendreGrid::directions() const { return ring_directions(*layout_, size()); }
at::Tensor GaussLegendreGrid::quadrature_weights() const { return ring_weights(*layout_, size()); }
std::string GaussLegendreGrid::key() const {
  std::ostringstream out;
  out << "gauss_legendre(nrings=" << nrings_ << ",nphi=" << nphi_ << ")";
  return out.str();
}

EquiangularGrid::EquiangularGrid(int64_t band_limit, Kind kind) : band_limit_(band_limit), kind_(kind) {
  SPHAERA_CHECK(band_limit >= 1 && band_limit <= 1 << 14, "EquiangularGrid: band limit L must be in [1, 16384], got ",
                band_limit);
  const int64_t L = band_limit;
  nphi_ = 2 * L - 1;
  std::vector<double> theta, weight;
  if (kind == Kind::kDriscollHealy) {
    // w_j = (4/N) sin θ_j Σ_{k<L} sin((2k+1)θ_j)/(2k+1), N = 2L: ∫₀^π g sin θ dθ exactly for g of degree
    // ≤ 2L − 1 in cos θ.
    nrings_ = 2 * L;
    for (int64_t j = 0; j < nrings_; ++j) {
      const double t = M_PI * static_cast<double>(j) / static_cast<double>(nrings_);
      double s = 0.0;
      for (int64_t k = 0; k < L; ++k) s += std::sin((2.0 * k + 1.0) * t) / (2.0 * k + 1.0);
      theta.push_back(t);
      weight.push_back(4.0 / static_cast<double>(nrings_) * std::sin(t) * s);
    }
  } else {
    // Ring weights exact for integrals of band-limited functions (degree ≤ L − 1): extend θ to the torus
    // (2L − 1 equispaced samples of a trigonometric polynomial of degree L − 1), then integrate its Fourier
    // series: ∫₀^π e^{ikθ} sin θ dθ = (1 + e^{ikπ})/(1 − k²), ±iπ/2 for k = ±1.
    nrings_ = L;
    const int64_t n = 2 * L - 1;
    for (int64_t j = 0; j < L; ++j) theta.push_back(j == L - 1 ? M_PI : M_PI * (2.0 * j + 1.0) / static_cast<double>(n));
    weight.assign(L, 0.0);
    for (int64_t t = 0; t < n; ++t) {
      const double tt = M_PI * (2.0 * t + 1.0) / static_cast<double>(n);
      std::complex<double> v = 0.0;
      for (int64_t k = -(L - 1); k <= L - 1; ++k) {
        std::complex<double> integral;
        if (k == 1 || k == -1) {
          integral = std::complex<double>(0.0, static_cast<double>(k) * M_PI / 2.0);
        } else {
          integral = (1.0 + ((k % 2 == 0) ? 1.0 : -1.0)) / (1.0 - static_cast<double>(k * k));
        }
        v += std::exp(std::complex<double>(0.0, -static_cast<double>(k) * tt)) * integral;
      }
      const int64_t j = t < L ? t : n - 1 - t;  // θ_t > π is the ring at 2π − θ_t
      weight[j] += v.real() / static_cast<double>(n);
    }
  }
  layout_ = regular_layout(theta, nphi_, weight, L - 1);
  layout_->torus_forward = kind == Kind::kMcEwenWiaux;
}

at::Tensor EquiangularGrid::directions() const { return ring_directions(*layout_, size()); }
at::Tensor EquiangularGrid::quadrature_weights() const { return ring_weights(*layout_, size()); }
std::string EquiangularGrid::key() const {
  std::ostringstream out;
  out << (kind_ == Kind::kDriscollHealy ? "driscoll_healy" : "mcewen_wiaux") << "(L=" << band_limit_ << ")";
  return out.str();
}

}  // namespace sphaera::transforms
