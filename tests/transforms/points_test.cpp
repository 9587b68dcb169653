// Arbitrary points: evaluation of coefficients at them equals the inverse SHT at grid points and the direct
// sum of closed forms, its adjoint is exact (dot-product test, finite differences, double backward), and
// PointGrid builds from unit vectors or angles, rejects bad input and carries the graph path.
#include "sphaera/transforms/points.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>

#include <omp.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/ring_grids.h"
#include "sphaera/transforms/sht.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace sphaera::transforms {
namespace {

using testing::error_of;
using testing::relative_error;

// Random coefficients [batch..., L+1, L+1]: complex normal for m ≤ l, a_l0 real, zero for m > l.
at::Tensor random_alm(std::vector<int64_t> batch, int64_t lmax, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  batch.push_back(lmax + 1);
  batch.push_back(lmax + 1);
  at::Tensor re = at::normal(0.0, 1.0, batch, gen, at::kDouble);
  at::Tensor im = at::normal(0.0, 1.0, batch, gen, at::kDouble);
  im.select(-1, 0).zero_();
  const at::Tensor lower = at::ones({lmax + 1, lmax + 1}, at::kDouble).tril();
  return at::complex(re * lower, im * lower);
}

// Seeded standard normal samples (float64, or complex128 with independent parts).
at::Tensor normal(at::IntArrayRef sizes, uint64_t seed, bool complex = false) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor re = at::normal(0.0, 1.0, sizes, gen, at::kDouble);
  return complex ? at::complex(re, at::normal(0.0, 1.0, sizes, gen, at::kDouble)) : re;
}

// Real inner product of the stored entries: Re Σ conj(a) b (values: Σ a b).
double real_inner(const at::Tensor& a, const at::Tensor& b) {
  if (a.is_complex()) return (at::real(a) * at::real(b) + at::imag(a) * at::imag(b)).sum().item<double>();
  return (a * b).sum().item<double>();
}

// Uniformly random unit vectors [n, 3].
at::Tensor random_directions(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor v = at::normal(0.0, 1.0, {n, 3}, gen, at::kDouble);
  return v / v.norm(2, {1}, true);
}

// Points that stress the ring structure: random, both poles, shared colatitudes, exact and near mirrors
// (π − θ + 5e-13, which a Legendre plan would pair with θ), near-equator colatitudes within 1e-12 of each other.
std::shared_ptr<PointGrid> awkward_points(int64_t random_count, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<double> theta = {0.0,
                               M_PI,
                               0.0,
                               1.0,
                               1.0,
                               M_PI - 1.0,
                               M_PI - 1.0 + 5e-13,
                               0.5 * M_PI,
                               0.5 * M_PI - 3e-13,
                               0.5 * M_PI + 4e-13,
                               1e-9,
                               M_PI - 1e-9};
  std::vector<double> phi = {0.0, 2.0, 1.0, 0.3, -2.5, 0.3, 0.3, 1.1, 1.1, 1.1, 4.0, 100.0};
  const at::Tensor t = at::rand({random_count}, gen, at::kDouble) * M_PI;
  const at::Tensor p = at::rand({random_count}, gen, at::kDouble) * (2 * M_PI) - M_PI;
  return PointGrid::from_colatitude_longitude(at::cat({at::tensor(theta, at::kDouble), t}),
                                              at::cat({at::tensor(phi, at::kDouble), p}));
}

// The direct sum Σ_l λ_l0 Re a_l0 + 2 Re Σ_{m>0} λ_lm a_lm e^{imφ} with λ from LegendrePlan::values (one
// recurrence per point) and e^{imφ} from sin/cos: [batch, M] for alm [batch, L+1, L+1].
at::Tensor direct_sum(const at::Tensor& alm, const PointGrid& points) {
  // One thread: a parallel region per point (inside LegendrePlan::values) costs more than its work.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const int64_t lmax = alm.size(-1) - 1, M = points.size(), batch = alm.size(0);
  const at::Tensor theta = points.colatitudes(), phi = points.longitudes();
  at::Tensor out = at::zeros({batch, M}, at::kDouble);
  auto a = alm.accessor<c10::complex<double>, 3>();
  for (int64_t i = 0; i < M; ++i) {
    const std::vector<double> lambda = LegendrePlan::values(theta[i].item<double>(), lmax);
    const double p = phi[i].item<double>();
    for (int64_t b = 0; b < batch; ++b) {
      double sum = 0.0;
      for (int64_t m = 0; m <= lmax; ++m) {
        const std::complex<double> e(std::cos(m * p), std::sin(m * p));
        for (int64_t l = m; l <= lmax; ++l) {
          const std::complex<double> alm_lm(a[b][l][m].real(), a[b][l][m].imag());
          sum +=
              m == 0 ? lambda[l * (lmax + 1)] * alm_lm.real() : 2.0 * lambda[l * (lmax + 1) + m] * (alm_lm * e).real();
        }
      }
      out[b][i] = sum;
    }
  }
  omp_set_num_threads(threads);
  return out;
}

TEST(Points, EqualsTheInverseShtAtHealpixPixelCentres) {
  for (const auto& [nside, lmax] : {std::pair<int64_t, int64_t>{8, 23}, {16, 40}, {32, 95}}) {
    auto healpix = std::make_shared<HealpixGrid>(nside);
    const PointGrid points(healpix->directions());  // NEST order, as the maps
    ShtOptions options;
    options.lmax = lmax;
    const Sht sht(healpix, options);
    const at::Tensor alm = random_alm({2, 3}, lmax, 11 + nside);
    const double error = relative_error(evaluate(alm, points), sht.inverse(alm));
    EXPECT_LT(error, 1e-12) << "nside " << nside << " lmax " << lmax;
    // Points of one HEALPix ring, given as unit vectors, still share one recurrence.
    EXPECT_EQ(points.distinct_colatitudes(), 4 * nside - 1) << "nside " << nside;
    std::cout << "[ measured ] healpix nside " << nside << " lmax " << lmax << ": relative error " << error << "\n";
  }
}

TEST(Points, EqualsTheInverseShtOnGaussLegendreGrids) {
  for (int64_t lmax : {0, 1, 17, 64}) {
    auto gl = GaussLegendreGrid::for_lmax(lmax);
    const Sht sht(gl);
    const at::Tensor alm = random_alm({3}, lmax, 5 + lmax);
    const at::Tensor expected = sht.inverse(alm);
    const PointGrid points(gl->directions());
    const double error = relative_error(evaluate(alm, points), expected);
    EXPECT_LT(error, 1e-12) << "lmax " << lmax;
    EXPECT_EQ(points.distinct_colatitudes(), lmax + 1);
    // The same points given by their ring angles.
    std::vector<double> theta, phi;
    for (const Ring& r : gl->rings()->rings)
      for (int64_t j = 0; j < r.nphi; ++j) {
        theta.push_back(r.theta);
        phi.push_back(r.phi0 + 2 * M_PI * j / r.nphi);
      }
    const auto by_angles =
        PointGrid::from_colatitude_longitude(at::tensor(theta, at::kDouble), at::tensor(phi, at::kDouble));
    EXPECT_LT(relative_error(evaluate(alm, *by_angles), expected), 1e-12) << "lmax " << lmax;
    std::cout << "[ measured ] gauss-legendre lmax " << lmax << ": relative error " << error << "\n";
  }
}

TEST(Points, EqualsTheDirectSumAtAwkwardPoints) {
  // Poles, shared and mirrored colatitudes, points within 1e-12 rad of each other's mirror: each evaluated at
  // its own colatitude (a Legendre plan pairing mirrors to 1e-12 would move some by ~5e-13 rad, an error of
  // ~lmax·5e-13 relative here). Near mirrors across the hemispheres and near the equator are also tested
  // apart, as either kind alone separates the hemispheres' plans.
  auto angles = [](std::vector<double> theta, std::vector<double> phi) {
    return PointGrid::from_colatitude_longitude(at::tensor(theta, at::kDouble), at::tensor(phi, at::kDouble));
  };
  const std::vector<std::pair<std::string, std::shared_ptr<PointGrid>>> sets = {
      {"awkward", awkward_points(40, 3)},
      {"near mirrors",
       angles({1.0, M_PI - 1.0 + 5e-13, 0.3, M_PI - 0.3, 2.5, M_PI - 2.5 - 7e-13}, {0.2, 0.2, 1.0, 1.0, -3.0, -3.0})},
      {"near the equator",
       angles({0.5 * M_PI - 3e-13, 0.5 * M_PI - 1e-13, 0.5 * M_PI + 2e-13, 0.5 * M_PI + 6e-13}, {0.4, 0.4, 2.0, 2.0})}};
  for (const auto& [name, points] : sets) {
    for (int64_t lmax : {0, 3, 200}) {
      const at::Tensor alm = random_alm({2}, lmax, 9 + lmax);
      const at::Tensor ours = evaluate(alm, *points), direct = direct_sum(alm, *points);
      const double error = (ours - direct).abs().max().item<double>() / direct.abs().max().item<double>();
      EXPECT_LT(error, 1e-12) << name << ", lmax " << lmax;
      std::cout << "[ measured ] " << name << " lmax " << lmax << ": max error / max value " << error << "\n";
    }
  }
}

// Σ_{l≤3} of the closed forms of λ_lm, vectorised over the points: [batch, M] for alm [batch, 4, 4].
at::Tensor closed_form_sum(const at::Tensor& alm, const PointGrid& points) {
  const double pi = M_PI;
  const at::Tensor c = at::cos(points.colatitudes()), s = at::sin(points.colatitudes()), phi = points.longitudes();
  const at::Tensor lambda[4][4] = {
      {at::full_like(c, 1 / std::sqrt(4 * pi)), {}, {}, {}},
      {std::sqrt(3 / (4 * pi)) * c, -std::sqrt(3 / (8 * pi)) * s, {}, {}},
      {std::sqrt(5 / (16 * pi)) * (3 * c * c - 1),
       -std::sqrt(15 / (8 * pi)) * s * c,
       0.25 * std::sqrt(15 / (2 * pi)) * s * s,
       {}},
      {std::sqrt(7 / (16 * pi)) * (5 * c * c * c - 3 * c), -0.125 * std::sqrt(21 / pi) * s * (5 * c * c - 1),
       0.25 * std::sqrt(105 / (2 * pi)) * s * s * c, -0.125 * std::sqrt(35 / pi) * s * s * s}};
  at::Tensor out = at::zeros({alm.size(0), points.size()}, at::kDouble);
  for (int64_t l = 0; l <= 3; ++l)
    for (int64_t m = 0; m <= l; ++m) {
      const at::Tensor a = alm.select(-1, m).select(-1, l).unsqueeze(-1);  // [batch, 1]
      const at::Tensor term =
          m == 0 ? at::real(a) * lambda[l][0]
                 : 2 * lambda[l][m] * (at::real(a) * at::cos(m * phi) - at::imag(a) * at::sin(m * phi));
      out += term;
    }
  return out;
}

TEST(Points, EqualsTheClosedFormsOverManyChunks) {
  // 20000 distinct colatitudes: several Legendre plans per hemisphere, tiles of many sizes.
  const auto points = awkward_points(20000, 4);
  const at::Tensor alm = random_alm({2}, 3, 1);
  const at::Tensor expected = closed_form_sum(alm, *points);
  EXPECT_LT(relative_error(evaluate(alm, *points), expected), 1e-14);
  // and the adjoint, accumulated over the plans
  const int64_t lmax = 40;
  const at::Tensor a = random_alm({2}, lmax, 2);
  const at::Tensor y = normal({2, points->size()}, 31);
  const double lhs = real_inner(evaluate(a, *points), y), rhs = real_inner(a, evaluate_adjoint(y, *points, lmax));
  EXPECT_NEAR(lhs, rhs, 1e-12 * std::abs(lhs));
  // the adjoint of a closed-form degree: Σ_i y_i λ_10(θ_i)
  const double b10 = at::real(evaluate_adjoint(y, *points, 3).select(-1, 0).select(-1, 1)).select(0, 1).item<double>();
  const double direct = (y[1] * std::sqrt(3 / (4 * M_PI)) * at::cos(points->colatitudes())).sum().item<double>();
  EXPECT_NEAR(b10, direct, 1e-12 * std::abs(direct) + 1e-12);
}

TEST(Points, ClosedFormsAtLowDegree) {
  const std::vector<double> theta = {0.0, 0.4, 1.3, 0.5 * M_PI, 2.9, M_PI}, phi = {0.0, -1.0, 2.2, 0.7, 5.0, 1.0};
  const auto points =
      PointGrid::from_colatitude_longitude(at::tensor(theta, at::kDouble), at::tensor(phi, at::kDouble));
  const double pi = M_PI;
  auto unit = [](int64_t l, int64_t m, c10::complex<double> value) {
    at::Tensor a = at::zeros({3, 3}, at::kComplexDouble);
    a.index_put_({l, m}, value);
    return a;
  };
  const at::Tensor a00 = evaluate(unit(0, 0, {1.0, 5.0}), *points);  // the imaginary part of a_00 is ignored
  const at::Tensor a10 = evaluate(unit(1, 0, {1.0, 0.0}), *points);
  const at::Tensor a11 = evaluate(unit(1, 1, {1.0, 0.0}), *points);
  const at::Tensor a11i = evaluate(unit(1, 1, {0.0, 1.0}), *points);
  const at::Tensor a22 = evaluate(unit(2, 2, {1.0, 0.0}), *points);
  const at::Tensor a21 = evaluate(unit(2, 1, {0.0, 1.0}), *points);
  const at::Tensor alm = random_alm({3}, 3, 17);
  EXPECT_LT(relative_error(evaluate(alm, *points), closed_form_sum(alm, *points)), 1e-14);
  for (size_t i = 0; i < theta.size(); ++i) {
    const double c = std::cos(theta[i]), s = theta[i] == pi ? 0.0 : std::sin(theta[i]), p = phi[i];
    EXPECT_NEAR(a00[i].item<double>(), 1 / std::sqrt(4 * pi), 1e-15);
    EXPECT_NEAR(a10[i].item<double>(), std::sqrt(3 / (4 * pi)) * c, 1e-15) << i;
    EXPECT_NEAR(a11[i].item<double>(), -2 * std::sqrt(3 / (8 * pi)) * s * std::cos(p), 1e-15) << i;
    EXPECT_NEAR(a11i[i].item<double>(), 2 * std::sqrt(3 / (8 * pi)) * s * std::sin(p), 1e-15) << i;
    EXPECT_NEAR(a22[i].item<double>(), 2 * 0.25 * std::sqrt(15 / (2 * pi)) * s * s * std::cos(2 * p), 1e-15) << i;
    EXPECT_NEAR(a21[i].item<double>(), 2 * std::sqrt(15 / (8 * pi)) * s * c * std::sin(p), 1e-15) << i;
  }
}

TEST(Points, DotProductTestOfTheAdjoint) {
  const auto points = awkward_points(300, 8);
  for (int64_t lmax : {0, 15, 100}) {
    // Coefficients with what evaluate ignores (Im a_l0, entries m > l): the adjoint must ignore it too.
    const at::Tensor a = normal({2, 3, lmax + 1, lmax + 1}, 40 + lmax, /*complex=*/true);
    const at::Tensor y = normal({2, 3, points->size()}, 50 + lmax);
    const double lhs = real_inner(evaluate(a, *points), y);
    const at::Tensor adjoint = evaluate_adjoint(y, *points, lmax);
    const double rhs = real_inner(a, adjoint);
    EXPECT_NEAR(lhs, rhs, 1e-12 * std::abs(lhs)) << "lmax " << lmax;
    std::cout << "[ measured ] dot-product test lmax " << lmax << ": |lhs - rhs| / |lhs| "
              << std::abs(lhs - rhs) / std::abs(lhs) << "\n";
    EXPECT_EQ(at::imag(adjoint.select(-1, 0)).abs().max().item<double>(), 0.0);
    EXPECT_EQ(adjoint.triu(1).abs().max().item<double>(), 0.0);
  }
  // Not a quadrature: on a Gauss–Legendre grid the adjoint differs from the forward SHT.
  auto gl = GaussLegendreGrid::for_lmax(8);
  const at::Tensor map = normal({gl->size()}, 60);
  EXPECT_GT(relative_error(evaluate_adjoint(map, PointGrid(gl->directions()), 8), Sht(gl).forward(map)), 0.1);
}

TEST(Points, FiniteDifferenceGradientsInFloat64) {
  const auto points = awkward_points(8, 21);
  const int64_t lmax = 5;
  const at::Tensor re = normal({2, lmax + 1, lmax + 1}, 70).requires_grad_(true);
  const at::Tensor im = normal({2, lmax + 1, lmax + 1}, 71).requires_grad_(true);
  const auto forward = testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return evaluate(at::complex(in[0], in[1]), *points); }, {re, im});
  EXPECT_LT(forward.max_abs_error, 1e-7) << forward.worst;
  EXPECT_EQ(forward.checked, 2 * 2 * (lmax + 1) * (lmax + 1));
  const at::Tensor y = normal({2, points->size()}, 72).requires_grad_(true);
  const auto adjoint = testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return at::view_as_real(evaluate_adjoint(in[0], *points, lmax)); }, {y});
  EXPECT_LT(adjoint.max_abs_error, 1e-7) << adjoint.worst;
  EXPECT_GT(adjoint.checked, 0);
  // Double backward: a ↦ ∂(½‖E a‖²)/∂a = E*E a, differentiated again.
  const auto second = testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) {
        at::AutoGradMode enable(true);  // also while gradcheck takes finite differences
        const at::Tensor values = evaluate(at::complex(in[0], in[1]), *points);
        const auto grads =
            torch::autograd::grad({(values * values).sum() * 0.5}, {in[0], in[1]}, {}, true, /*create_graph=*/true);
        return at::cat({grads[0].flatten(), grads[1].flatten()});
      },
      {re, im});
  EXPECT_LT(second.max_abs_error, 1e-6) << second.worst;
  std::cout << "[ measured ] gradcheck max abs error: evaluate " << forward.max_abs_error << ", adjoint "
            << adjoint.max_abs_error << ", double backward " << second.max_abs_error << "\n";
}

TEST(Points, Float32InFloat32OutAndBatchDimensionsKept) {
  const auto points = awkward_points(50, 2);
  const at::Tensor alm = random_alm({2, 3}, 10, 4);
  const at::Tensor v64 = evaluate(alm, *points);
  EXPECT_EQ(v64.sizes(), (std::vector<int64_t>{2, 3, points->size()}));
  EXPECT_EQ(v64.scalar_type(), at::kDouble);
  const at::Tensor v32 = evaluate(alm.to(at::kComplexFloat), *points);
  EXPECT_EQ(v32.scalar_type(), at::kFloat);
  EXPECT_LT(relative_error(v32.to(at::kDouble), v64), 1e-6);
  const at::Tensor b32 = evaluate_adjoint(v32, *points, 10);
  EXPECT_EQ(b32.scalar_type(), at::kComplexFloat);
  EXPECT_EQ(b32.sizes(), alm.sizes());
  EXPECT_LT(relative_error(b32.to(at::kComplexDouble), evaluate_adjoint(v64, *points, 10)), 1e-6);
  // an empty batch
  EXPECT_EQ(evaluate(at::zeros({0, 11, 11}, at::kComplexDouble), *points).sizes(),
            (std::vector<int64_t>{0, points->size()}));
}

TEST(Points, BadInputGivesOneClearError) {
  const auto points = awkward_points(5, 1);
  EXPECT_NE(error_of([&] {
              evaluate(at::zeros({4, 4}, at::kDouble), *points);
            }).find("complex64 or complex128"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              evaluate(at::zeros({4, 5}, at::kComplexDouble), *points);
            }).find("[..., lmax+1, lmax+1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              evaluate_adjoint(at::zeros({3, 7}, at::kDouble), *points, 4);
            }).find("values must be [..., 17]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { evaluate_adjoint(at::zeros({17}, at::kDouble), *points, -1); }).find("lmax"),
            std::string::npos);
  // No SHT on arbitrary points.
  EXPECT_NE(error_of([&] { Sht{points}; }).find("no iso-latitude rings"), std::string::npos);
}

TEST(PointGrid, LatitudeLongitudeDegreesGiveTheExpectedUnitVectors) {
  const std::vector<double> lat = {90, -90, 0, 0, 0, 0, 45, -30, 0, 60};
  const std::vector<double> lon = {0, 123, 0, 90, 180, -90, 45, 270, 360, -200};
  const auto points =
      PointGrid::from_latitude_longitude_degrees(at::tensor(lat, at::kDouble), at::tensor(lon, at::kDouble));
  const at::Tensor d = points->directions();
  const double h = std::sqrt(0.5), c30 = std::sqrt(3.0) / 2, pi = M_PI;
  const std::vector<std::vector<double>> expected = {
      {0, 0, 1},     {0, 0, -1},
      {1, 0, 0},     {0, 1, 0},
      {-1, 0, 0},    {0, -1, 0},
      {0.5, 0.5, h}, {0, -c30, -0.5},
      {1, 0, 0},     {0.5 * std::cos(-200 * pi / 180), 0.5 * std::sin(-200 * pi / 180), c30}};
  for (size_t i = 0; i < lat.size(); ++i)
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(d[i][k].item<double>(), expected[i][k], 2e-16) << "point " << i << " axis " << k;
  // Multiples of 90° are exact: the poles and the equator's cardinal points.
  for (size_t i : {0, 1, 2, 3, 4, 5, 8}) {
    for (int k = 0; k < 3; ++k) EXPECT_EQ(d[i][k].item<double>(), expected[i][k]) << "point " << i << " axis " << k;
  }
  EXPECT_LT((d.norm(2, {1}) - 1).abs().max().item<double>(), 1e-15);
  EXPECT_EQ(points->colatitudes()[0].item<double>(), 0.0);
  EXPECT_EQ(points->colatitudes()[1].item<double>(), M_PI);
  // The angle path and the unit-vector path evaluate the same field.
  const at::Tensor alm = random_alm({2}, 30, 6);
  EXPECT_LT(relative_error(evaluate(alm, *points), evaluate(alm, PointGrid(d))), 1e-13);
  // Default weights: 4π/M each.
  EXPECT_LT((points->quadrature_weights() - 4 * M_PI / lat.size()).abs().max().item<double>(), 1e-16);
}

TEST(PointGrid, NormalisesDirectionsAndKeysByCoordinates) {
  const at::Tensor d = random_directions(100, 5);
  const PointGrid a(d), scaled(d * 4.0);  // a power-of-two scale normalises to the same bits
  EXPECT_LT((a.directions() - d).abs().max().item<double>(), 1e-15);
  EXPECT_TRUE(at::equal(a.directions(), scaled.directions()));
  EXPECT_EQ(a.key(), scaled.key());
  EXPECT_EQ(a.key().rfind("points(n=100,hash=", 0), 0u) << a.key();
  EXPECT_EQ(a.key().size(), std::string("points(n=100,hash=0123456789abcdef)").size()) << a.key();
  at::Tensor moved = d.clone();
  moved[7][0] += 1e-9;
  EXPECT_NE(PointGrid(moved).key(), a.key());
  const at::Tensor w = at::rand({100}, at::make_generator<at::CPUGeneratorImpl>(80), at::kDouble);
  const PointGrid weighted(d, w);
  EXPECT_NE(weighted.key(), a.key());
  EXPECT_NE(weighted.key().find(",weights="), std::string::npos);
  EXPECT_TRUE(at::equal(weighted.quadrature_weights(), w));
  EXPECT_EQ(a.rings(), nullptr);
  // Unit vectors: θ and φ recovered.
  const at::Tensor theta = a.colatitudes(), phi = a.longitudes();
  EXPECT_LT((at::sin(theta) * at::cos(phi) - d.select(1, 0)).abs().max().item<double>(), 1e-15);
  EXPECT_LT((at::sin(theta) * at::sin(phi) - d.select(1, 1)).abs().max().item<double>(), 1e-15);
  EXPECT_LT((at::cos(theta) - d.select(1, 2)).abs().max().item<double>(), 1e-15);
  // Tiny and huge vectors normalise without underflow or overflow.
  const at::Tensor extreme = at::tensor({1e-310, 0.0, 1e-310, 1e300, 1e300, 0.0}, at::kDouble).view({2, 3});
  const at::Tensor unit = PointGrid(extreme).directions();
  const double h = std::sqrt(0.5);
  EXPECT_TRUE(at::allclose(unit, at::tensor({h, 0.0, h, h, h, 0.0}, at::kDouble).view({2, 3}), 0.0, 2e-16)) << unit;
}

TEST(PointGrid, BadInputsGiveClearErrors) {
  auto message = [](auto&& f) { return error_of(f); };
  EXPECT_NE(message([] {
              PointGrid(at::zeros({4, 2}, at::kDouble));
            }).find("directions must be a floating-point tensor [M, 3]"),
            std::string::npos);
  EXPECT_NE(message([] { PointGrid(at::zeros({0, 3}, at::kDouble)); }).find("M ≥ 1"), std::string::npos);
  EXPECT_NE(message([] { PointGrid(at::ones({4, 3}, at::kLong)); }).find("floating-point"), std::string::npos);
  at::Tensor d = normal({4, 3}, 90);
  d[2][1] = NAN;
  EXPECT_NE(message([&] { PointGrid{d}; }).find("direction 2 is not finite"), std::string::npos);
  d = normal({4, 3}, 90);
  d[3].zero_();
  EXPECT_NE(message([&] { PointGrid{d}; }).find("direction 3 is the zero vector"), std::string::npos);
  d = normal({4, 3}, 90);
  EXPECT_NE(message([&] { PointGrid(d, at::ones({5}, at::kDouble)); }).find("weights must be a real tensor [M] = [4]"),
            std::string::npos);
  EXPECT_NE(message([&] {
              PointGrid(d, at::tensor({1.0, -1.0, 1.0, 1.0}, at::kDouble));
            }).find("weight 1 is -1"),
            std::string::npos);
  const at::Tensor two = at::zeros({2}, at::kDouble);
  EXPECT_NE(message([&] {
              PointGrid::from_colatitude_longitude(at::tensor({0.1, 3.5}, at::kDouble), two);
            }).find("colatitude 1 is 3.5 rad, outside [0, π]"),
            std::string::npos);
  EXPECT_NE(message([&] {
              PointGrid::from_latitude_longitude_degrees(at::tensor({91.0, 0.0}, at::kDouble), two);
            }).find("latitude 0 is 91°"),
            std::string::npos);
  EXPECT_NE(message([&] {
              PointGrid::from_latitude_longitude_degrees(two, at::tensor({0.0, NAN}, at::kDouble));
            }).find("longitude 1 is not finite"),
            std::string::npos);
  EXPECT_NE(message([&] {
              PointGrid::from_latitude_longitude_degrees(two, at::zeros({3}, at::kDouble));
            }).find("longitude must be a real tensor [M] with M ≥ 1 (M = 2"),
            std::string::npos);
}

TEST(PointGrid, GraphLaplacianBuildsOnPoints) {
  const auto grid = std::make_shared<PointGrid>(random_directions(500, 12));
  GraphOptions options;  // V2, k = 8, combinatorial
  EXPECT_NE(error_of([&] { graph_laplacian(*grid, options); }).find("set kernel_width"), std::string::npos);
  options.kernel_width = 0.2;
  const core::CsrMatrix l = graph_laplacian(*grid, options);
  ASSERT_EQ(l.rows(), 500);
  const at::Tensor dense = l.to_dense();
  EXPECT_LT(dense.sum(1).abs().max().item<double>(), 1e-12);         // D − W: rows sum to zero
  EXPECT_LT((dense - dense.t()).abs().max().item<double>(), 1e-15);  // symmetric
  EXPECT_GT(dense.diagonal().min().item<double>(), 0.0);
  const at::Tensor per_row = (dense != 0).sum(1);
  EXPECT_GE(per_row.min().item<int64_t>(), 9);  // ≥ 8 neighbours plus the diagonal
}

}  // namespace
}  // namespace sphaera::transforms
