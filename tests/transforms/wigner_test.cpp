// Wigner d-matrices and rotations of coefficients: against HEALPix C++ rotate_alm (the peer) and healpy,
// closed forms and Wigner's explicit sum for d^l, orthogonality up to l = 2048, group properties (inverse,
// composition), a direct evaluation of the rotated map, the exact adjoint (finite differences, dot-product
// test, double backward), bad input.
#include "sphaera/transforms/wigner.h"

#include <omp.h>
#include <unistd.h>

#include <alm.h>
#include <alm_powspec_tools.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/alm_layout.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace fs = std::filesystem;
namespace st = sphaera::transforms;
using sphaera::testing::error_of;

namespace {

using cdouble = c10::complex<double>;

// ‖a − b‖ / ‖b‖ over the whole (complex or real) tensor, in float64.
double rel_err(const at::Tensor& a, const at::Tensor& b) {
  const auto promote = [](const at::Tensor& t) {
    return t.is_complex() ? t.detach().to(at::kComplexDouble) : t.detach().to(at::kDouble);
  };
  return (promote(a) - promote(b)).norm().item<double>() / promote(b).norm().item<double>();
}

// Random coefficients [batch..., lmax+1, lmax+1], zero where m > l. `real_m0`: a_l0 real (a real map's).
at::Tensor random_alm(std::vector<int64_t> batch, int64_t lmax, uint64_t seed, bool real_m0 = false) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  batch.push_back(lmax + 1);
  batch.push_back(lmax + 1);
  batch.push_back(2);
  at::Tensor parts = at::randn(batch, gen, at::TensorOptions().dtype(at::kDouble));
  if (real_m0) parts.select(-1, 1).select(-1, 0).zero_();
  at::Tensor alm = at::view_as_complex(parts).clone();
  return alm * at::ones({lmax + 1, lmax + 1}, at::kDouble).tril();
}

// The peer: HEALPix C++ rotate_alm on one [lmax+1, lmax+1] complex128 matrix.
at::Tensor healpix_rotate(const at::Tensor& alm, double psi, double theta, double phi) {
  const int lmax = static_cast<int>(alm.size(0)) - 1;
  Alm<xcomplex<double>> a(lmax, lmax);
  const at::Tensor src = alm.contiguous();
  const auto acc = src.accessor<cdouble, 2>();
  for (int l = 0; l <= lmax; ++l)
    for (int m = 0; m <= l; ++m) a(l, m) = xcomplex<double>(acc[l][m].real(), acc[l][m].imag());
  // One thread: its per-degree parallel regions crawl when other processes share the cores.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  ::rotate_alm(a, psi, theta, phi);
  omp_set_num_threads(threads);
  at::Tensor out = at::zeros_like(src);
  auto o = out.accessor<cdouble, 2>();
  for (int l = 0; l <= lmax; ++l)
    for (int m = 0; m <= l; ++m) o[l][m] = cdouble(a(l, m).real(), a(l, m).imag());
  return out;
}

// Wigner's explicit sum for d^l_{m'm}(β), in long double (exact enough for l ≤ 20).
double wigner_sum(int l, int mp, int m, double beta) {
  auto fact = [](int n) {
    long double f = 1;
    for (int i = 2; i <= n; ++i) f *= i;
    return f;
  };
  const long double c = std::cos(static_cast<long double>(beta) / 2);
  const long double s = std::sin(static_cast<long double>(beta) / 2);
  long double sum = 0;
  for (int k = std::max(0, m - mp); k <= std::min(l + m, l - mp); ++k) {
    const long double term = std::pow(c, 2 * l + m - mp - 2 * k) * std::pow(s, mp - m + 2 * k) /
                             (fact(l + m - k) * fact(k) * fact(mp - m + k) * fact(l - mp - k));
    sum += ((mp - m + k) % 2 ? -1 : 1) * term;
  }
  return static_cast<double>(std::sqrt(fact(l + mp) * fact(l - mp) * fact(l + m) * fact(l - m)) * sum);
}

// Re Σ conj(a) b over all entries: the real inner product of coefficients.
double real_inner(const at::Tensor& a, const at::Tensor& b) {
  return at::real(at::sum(at::conj(a) * b)).item<double>();
}

const std::vector<std::array<double, 3>> kAngles = {
    {0.3, 1.1, -0.7}, {-2.5, 2.9, 4.0}, {5.0, -1.2, 0.2}, {M_PI / 2, M_PI / 2, M_PI / 2},
    {1.0, 3.5, -4.0}, {0.0, 0.0, 0.0},  {-0.4, 7.0, 2.2},
};

}  // namespace

// ---- d^l ----

TEST(WignerTest, SmallDegreesMatchClosedFormsAndWignersSum) {
  for (double beta : {0.0, 0.37, 1.3, M_PI / 2, 2.9, M_PI, -0.8, 4.5}) {
    const double c = std::cos(beta), s = std::sin(beta);
    const at::Tensor d1 = st::wigner_d(1, beta);
    // d^1 in rows/columns m = −1, 0, 1.
    const double expected1[3][3] = {{(1 + c) / 2, s / std::sqrt(2.0), (1 - c) / 2},
                                    {-s / std::sqrt(2.0), c, s / std::sqrt(2.0)},
                                    {(1 - c) / 2, -s / std::sqrt(2.0), (1 + c) / 2}};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_NEAR(d1[i][j].item<double>(), expected1[i][j], 1e-15) << beta;
    EXPECT_NEAR(st::wigner_d(0, beta).item<double>(), 1.0, 0.0);
    for (int l : {2, 5, 12, 20}) {
      const at::Tensor d = st::wigner_d(l, beta);
      ASSERT_EQ(d.sizes(), (at::IntArrayRef{2 * l + 1, 2 * l + 1}));
      double worst = 0;
      for (int mp = -l; mp <= l; ++mp)
        for (int m = -l; m <= l; ++m)
          worst = std::max(worst, std::abs(d[mp + l][m + l].item<double>() - wigner_sum(l, mp, m, beta)));
      EXPECT_LT(worst, 5e-14) << "l = " << l << ", beta = " << beta;
    }
  }
}

TEST(WignerTest, RecursionMatchesWignerDAndSymmetries) {
  const double beta = 2.2;
  st::WignerDRecursion rec(30, beta);
  EXPECT_EQ(rec.l(), -1);
  for (int64_t l = 0; l <= 30; ++l) {
    const at::Tensor d = rec.next();
    EXPECT_EQ(rec.l(), l);
    EXPECT_TRUE(torch::equal(d, st::wigner_d(l, beta))) << l;
    // d_{m'm} = (−1)^{m'−m} d_{mm'} = d_{−m,−m'}.
    for (int64_t mp = -l; mp <= l; ++mp) {
      for (int64_t m = -l; m <= l; ++m) {
        const double v = rec(mp, m);
        EXPECT_EQ(v, d[mp + l][m + l].item<double>());
        EXPECT_NEAR(v, ((mp - m) & 1 ? -1 : 1) * rec(m, mp), 1e-15);
        EXPECT_NEAR(v, rec(-m, -mp), 1e-15);
      }
    }
  }
  EXPECT_NE(error_of([&] { rec.advance(); }), "");
}

// One test per angle (each runs the recursion to l = 2048 and multiplies 4097² matrices): ctest can run them
// side by side.
class WignerOrthogonalityTest : public ::testing::TestWithParam<double> {};

TEST_P(WignerOrthogonalityTest, OrthogonalAndFiniteUpToDegree2048) {
  const double beta = GetParam();
  // d^l_{00}(β) = P_l(cos β), by the Legendre recurrence.
  std::vector<double> legendre = {1.0, std::cos(beta)};
  for (int64_t l = 2; l <= 2048; ++l) {
    legendre.push_back(((2 * l - 1) * std::cos(beta) * legendre[l - 1] - (l - 1) * legendre[l - 2]) / l);
  }
  st::WignerDRecursion rec(2048, beta);
  for (int64_t l : {1, 10, 100, 1000, 2048}) {
    rec.advance_to(l);
    ASSERT_EQ(rec.l(), l);
    EXPECT_NEAR(rec(0, 0), legendre[l], 1e-13) << "l = " << l;
    const at::Tensor d = rec.matrix();
    EXPECT_TRUE(d.isfinite().all().item<bool>()) << "l = " << l << ", beta = " << beta;
    const double err = (d.mm(d.t()) - at::eye(2 * l + 1, at::kDouble)).abs().max().item<double>();
    EXPECT_LT(err, 1e-12) << "l = " << l << ", beta = " << beta;
    // d^l_{lm} = sqrt(C(2l, l+m)) cos^{l+m}(β/2) (−sin(β/2))^{l−m}, as a product in long double (which
    // neither underflows nor loses digits here): relative error where the value is not negligible.
    const long double c = std::cos(static_cast<long double>(beta) / 2);
    const long double s = -std::sin(static_cast<long double>(beta) / 2);
    long double expected = std::pow(s, 2 * l);  // m = −l
    double worst = 0;
    for (int64_t m = -l; m <= l; ++m) {
      if (m > -l) expected *= std::sqrt(static_cast<long double>(l - m + 1) / (l + m)) * (c / s);
      if (std::abs(expected) < 1e-200L) continue;
      worst = std::max(worst, static_cast<double>(std::abs((rec(l, m) - expected) / expected)));
    }
    EXPECT_LT(worst, 1e-12) << "l = " << l << ", beta = " << beta;
    if (l == 2048) {
      std::cout << "[          ] beta " << beta << ", l = 2048: max |d d^T - I| " << err
                << ", max relative error of d_lm " << worst << std::endl;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WignerAngles, WignerOrthogonalityTest, ::testing::Values(0.3, M_PI / 2, 2.9));

// ---- rotate_alm against the peers ----

TEST(WignerTest, RotateAlmMatchesHealpixCxx) {
  for (int64_t lmax : {32, 256}) {
    const at::Tensor alm = random_alm({}, lmax, 100 + lmax);
    double worst = 0;
    for (const auto& [psi, theta, phi] : kAngles) {
      const double err = rel_err(st::rotate_alm(alm, psi, theta, phi), healpix_rotate(alm, psi, theta, phi));
      EXPECT_LT(err, 1e-10) << "lmax " << lmax << ", angles " << psi << ", " << theta << ", " << phi;
      worst = std::max(worst, err);
    }
    std::cout << "[          ] lmax " << lmax << ": worst relative error against HEALPix C++ " << worst << std::endl;
  }
}

TEST(WignerTest, BatchSharesTheRecursionAndComplex64Works) {
  const int64_t lmax = 160;  // past 127, where threads share the degrees
  at::Tensor alm = random_alm({2, 3}, lmax, 7);
  // Garbage above the diagonal is ignored and comes back zero.
  const at::Tensor upper = at::ones({lmax + 1, lmax + 1}, at::kDouble).triu(1);
  const at::Tensor dirty = alm + upper * cdouble(3.0, -1.0);
  const double psi = 0.9, theta = -2.1, phi = 3.3;
  const at::Tensor out = st::rotate_alm(dirty, psi, theta, phi);
  ASSERT_EQ(out.sizes(), alm.sizes());
  EXPECT_EQ((out * upper).abs().max().item<double>(), 0.0);
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      // Batches go through BLAS, single maps through the row-by-row products: same values up to rounding.
      EXPECT_LT(rel_err(out[i][j], st::rotate_alm(alm[i][j], psi, theta, phi)), 1e-14);
      EXPECT_LT(rel_err(out[i][j], healpix_rotate(alm[i][j], psi, theta, phi)), 1e-12);
    }
  }
  const at::Tensor out32 = st::rotate_alm(alm.to(at::kComplexFloat), psi, theta, phi);
  EXPECT_EQ(out32.scalar_type(), at::kComplexFloat);
  EXPECT_LT(rel_err(out32, out), 1e-6);
  // An empty batch is fine.
  EXPECT_EQ(st::rotate_alm(at::zeros({0, 5, 5}, at::kComplexDouble), psi, theta, phi).sizes(),
            (at::IntArrayRef{0, 5, 5}));
}

TEST(WignerTest, RotateAlmMatchesHealpy) {
  const fs::path dir = fs::temp_directory_path() / ("sphaera_wigner_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const int lmax = 24;
  const double psi = 0.7, theta = -1.9, phi = 2.6;
  std::ofstream(dir / "script.py") << "import numpy as np, healpy as hp\n"
                                   << "rng = np.random.default_rng(5)\n"
                                   << "n = hp.Alm.getsize(" << lmax << ")\n"
                                   << "alm = rng.standard_normal(n) + 1j * rng.standard_normal(n)\n"
                                   << "alm[:" << lmax + 1 << "] = alm[:" << lmax + 1 << "].real\n"
                                   << "rot = alm.copy()\n"
                                   << "hp.rotate_alm(rot, " << psi << ", " << theta << ", " << phi << ")\n"
                                   << "for name, a in [('in', alm), ('out', rot)]:\n"
                                   << "    np.save('" << dir.string() << "/' + name + '_re.npy', a.real)\n"
                                   << "    np.save('" << dir.string() << "/' + name + '_im.npy', a.imag)\n";
  const std::string log = (dir / "script.log").string();
  const int status = std::system(("/usr/bin/python3 " + (dir / "script.py").string() + " >" + log + " 2>&1").c_str());
  std::stringstream out;
  out << std::ifstream(log).rdbuf();
  if (status != 0) fs::remove_all(dir);
  ASSERT_EQ(status, 0) << out.str();
  auto load = [&](const std::string& name) {
    return at::complex(sphaera::testing::load_npy((dir / (name + "_re.npy")).string()),
                       sphaera::testing::load_npy((dir / (name + "_im.npy")).string()));
  };
  const at::Tensor alm = st::from_healpy(load("in"), lmax);
  const at::Tensor expected = st::from_healpy(load("out"), lmax);
  fs::remove_all(dir);
  const double err = rel_err(st::rotate_alm(alm, psi, theta, phi), expected);
  EXPECT_LT(err, 1e-10);
  std::cout << "[          ] relative error against healpy.rotate_alm: " << err << std::endl;
}

// ---- group properties and meaning ----

TEST(WignerTest, InverseRotationRestoresTheInput) {
  // Coefficients of real maps (a_l0 real): an imaginary a_l0 is carried complex-linearly, as HEALPix does,
  // and rotations are then no group action on it.
  const at::Tensor alm = random_alm({2}, 64, 3, /*real_m0=*/true);
  for (const auto& [psi, theta, phi] : kAngles) {
    const at::Tensor back = st::rotate_alm(st::rotate_alm(alm, psi, theta, phi), -phi, -theta, -psi);
    EXPECT_LT(rel_err(back, alm), 1e-12) << psi << ", " << theta << ", " << phi;
  }
}

TEST(WignerTest, EulerAnglesRoundTrip) {
  for (const auto& [psi, theta, phi] : kAngles) {
    const at::Tensor r = st::euler_rotation_matrix(psi, theta, phi);
    EXPECT_LT((r.mm(r.t()) - at::eye(3, at::kDouble)).abs().max().item<double>(), 1e-15);
    const auto a = st::euler_angles(r);
    EXPECT_LT((st::euler_rotation_matrix(a[0], a[1], a[2]) - r).abs().max().item<double>(), 1e-14);
    EXPECT_GE(a[1], 0.0);
    EXPECT_LE(a[1], M_PI);
  }
  // R_z(φ) R_y(θ) R_z(ψ), active: θ = π/2 about y takes the z axis to the x axis.
  const at::Tensor ry = st::euler_rotation_matrix(0, M_PI / 2, 0);
  EXPECT_NEAR(ry[0][2].item<double>(), 1.0, 1e-15);
  EXPECT_NE(error_of([] { st::euler_angles(at::eye(2, at::kDouble)); }), "");
}

TEST(WignerTest, CompositionMatchesComposedEulerAngles) {
  const at::Tensor alm = random_alm({}, 96, 21, /*real_m0=*/true);
  const std::vector<std::array<double, 3>> first = {{0.3, 1.1, -0.7}, {2.0, 0.4, 1.0}, {-1.5, 2.8, 0.1}};
  const std::vector<std::array<double, 3>> second = {{1.2, 2.0, 0.5}, {-0.3, 1.7, -2.9}, {4.0, 0.9, 0.6}};
  for (size_t k = 0; k < first.size(); ++k) {
    const auto& [p1, t1, f1] = first[k];
    const auto& [p2, t2, f2] = second[k];
    // Active rotations compose as R2 R1: f'' (x) = f'(R2⁻¹ x) = f((R2 R1)⁻¹ x).
    const at::Tensor r = st::euler_rotation_matrix(p2, t2, f2).mm(st::euler_rotation_matrix(p1, t1, f1));
    const auto a = st::euler_angles(r);
    const at::Tensor twice = st::rotate_alm(st::rotate_alm(alm, p1, t1, f1), p2, t2, f2);
    const double err = rel_err(twice, st::rotate_alm(alm, a[0], a[1], a[2]));
    EXPECT_LT(err, 1e-10) << k;
  }
}

TEST(WignerTest, RotatedMapIsTheMapAtTheInverselyRotatedPoint) {
  // f(x) = Σ_l a_l0 Y_l0 + 2 Σ_{m>0} Re(a_lm Y_lm), Y_lm = λ_lm(θ) e^{imφ} (orthonormal, Condon–Shortley),
  // evaluated directly; rotate_alm must give f'(x) = f(R⁻¹ x).
  const int64_t lmax = 10;
  const at::Tensor alm = random_alm({}, lmax, 8, /*real_m0=*/true);
  auto evaluate = [&](const at::Tensor& coeffs, const double* x) {
    const auto c = coeffs.accessor<cdouble, 2>();
    const double ct = x[2], stheta = std::hypot(x[0], x[1]), ph = std::atan2(x[1], x[0]);
    double f = 0;
    double lam_mm = 1 / std::sqrt(4 * M_PI);
    for (int64_t m = 0; m <= lmax; ++m) {
      if (m > 0) lam_mm *= -std::sqrt((2.0 * m + 1) / (2.0 * m)) * stheta;
      double prev = 0, cur = lam_mm;
      for (int64_t l = m; l <= lmax; ++l) {
        if (l > m) {
          const double al = std::sqrt((4.0 * l * l - 1) / (double(l * l - m * m)));
          const double al1 = std::sqrt((4.0 * (l - 1) * (l - 1) - 1) / (double((l - 1) * (l - 1) - m * m)));
          const double next = al * (ct * cur - (l - 1 > m ? prev / al1 : 0.0));
          prev = cur;
          cur = next;
        }
        const cdouble y = cur * cdouble(std::cos(m * ph), std::sin(m * ph));
        f += (m == 0 ? 1.0 : 2.0) * (c[l][m] * y).real();
      }
    }
    return f;
  };
  const double psi = 0.8, theta = 1.3, phi = -2.2;
  const at::Tensor rotated = st::rotate_alm(alm, psi, theta, phi);
  const at::Tensor r = st::euler_rotation_matrix(psi, theta, phi);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const at::Tensor points = at::randn({20, 3}, gen, at::TensorOptions().dtype(at::kDouble));
  for (int64_t i = 0; i < 20; ++i) {
    const at::Tensor x = points[i] / points[i].norm();
    const at::Tensor back = r.t().mv(x).contiguous();  // R⁻¹ x
    const double lhs = evaluate(rotated, x.contiguous().data_ptr<double>());
    const double rhs = evaluate(alm, back.data_ptr<double>());
    EXPECT_NEAR(lhs, rhs, 1e-12 * (1 + std::abs(rhs))) << i;
  }
}

// ---- gradients ----

TEST(WignerTest, GradientMatchesFiniteDifferences) {
  const at::Tensor parts = at::view_as_real(random_alm({2}, 5, 31)).clone().requires_grad_(true);
  const auto result = sphaera::testing::gradcheck(
      [](const std::vector<at::Tensor>& in) {
        return at::view_as_real(st::rotate_alm(at::view_as_complex(in[0]), 0.4, 2.2, -1.3));
      },
      {parts});
  EXPECT_EQ(result.checked, parts.numel());
  EXPECT_LT(result.max_abs_error, 1e-8) << result.worst;
}

TEST(WignerTest, BackwardIsTheExactAdjoint) {
  // <R x, y> = <x, Rᵀ y> for the real inner product Re Σ conj(a) b over the stored entries, with Rᵀ y the
  // gradient of the real loss <R x, y> with respect to x. x and y are full random squares: R ignores
  // entries with m > l, and Rᵀ y is zero there; Im a_l0 enters complex-linearly.
  // One map (row-by-row products) and a batch (BLAS); below and above lmax 127 (serial, threads).
  for (const auto& [batch, lmax] :
       std::vector<std::pair<std::vector<int64_t>, int64_t>>{{{}, 40}, {{3}, 40}, {{}, 150}, {{2}, 150}}) {
    const at::Tensor upper = at::ones({lmax + 1, lmax + 1}, at::kDouble).triu(1);
    for (auto dtype : {at::kComplexDouble, at::kComplexFloat}) {
      const at::Tensor x = random_alm(batch, lmax, 1).add(upper).to(dtype);
      const at::Tensor y = random_alm(batch, lmax, 2).to(dtype);
      const at::Tensor xg = x.clone().requires_grad_(true);
      const double psi = -0.6, theta = 2.4, phi = 1.9;
      const at::Tensor loss = at::real(at::sum(at::conj(st::rotate_alm(xg, psi, theta, phi)) * y));
      loss.backward();
      const at::Tensor rty = xg.grad();
      const double lhs = loss.item<double>();
      const double rhs = real_inner(x.to(at::kComplexDouble), rty.to(at::kComplexDouble));
      const double tol = dtype == at::kComplexDouble ? 1e-12 : 1e-5;
      EXPECT_NEAR(lhs, rhs,
                  tol * x.abs().pow(2).sum().sqrt().item<double>() * y.abs().pow(2).sum().sqrt().item<double>());
      EXPECT_EQ((rty.abs() * upper).max().item<double>(), 0.0);
    }
  }
}

TEST(WignerTest, AdjointIsWeightedInverseOnRealMaps) {
  // The stored entries m > 0 stand for two coefficients (m and −m), m = 0 for one: with W = 1 at m = 0 and 2
  // at m > 0, Re Σ_{all m} conj(a) b = <a, W b>, under which R is orthogonal. So the adjoint for the stored
  // inner product is Rᵀ = W R⁻¹ W⁻¹ on coefficients of real maps — not the inverse rotation (except in
  // the Im a_l0 direction, which real maps do not have and which R treats complex-linearly).
  const int64_t lmax = 30;
  const at::Tensor y = random_alm({}, lmax, 9, /*real_m0=*/true);
  at::Tensor w = at::full({lmax + 1, lmax + 1}, 2.0, at::kDouble);
  w.select(1, 0).fill_(1.0);
  const double psi = 1.1, theta = 0.7, phi = -2.0;
  const at::Tensor xg = at::zeros_like(y).requires_grad_(true);
  at::real(at::sum(at::conj(st::rotate_alm(xg, psi, theta, phi)) * y)).backward();
  const at::Tensor expected = w * st::rotate_alm(y / w, -phi, -theta, -psi);
  at::Tensor got = xg.grad().clone();
  // Compare all but Im a_l0.
  at::Tensor got_parts = at::view_as_real(got).clone(), exp_parts = at::view_as_real(expected).clone();
  got_parts.select(-1, 1).select(-1, 0).zero_();
  exp_parts.select(-1, 1).select(-1, 0).zero_();
  EXPECT_LT(rel_err(got_parts, exp_parts), 1e-12);
  EXPECT_GT(rel_err(got, st::rotate_alm(y, -phi, -theta, -psi)), 0.1);  // the plain inverse is not the adjoint
}

TEST(WignerTest, DoubleBackward) {
  // g(y) = Rᵀ y is linear in y, and d<g(y), z>/dy = R z.
  const at::Tensor x = random_alm({}, 12, 1);
  const at::Tensor y = random_alm({}, 12, 2).requires_grad_(true);
  const at::Tensor z = random_alm({}, 12, 3);
  const at::Tensor xg = x.clone().requires_grad_(true);
  const double psi = 0.2, theta = 1.4, phi = 2.9;
  const at::Tensor loss = at::real(at::sum(at::conj(st::rotate_alm(xg, psi, theta, phi)) * y));
  const at::Tensor g = torch::autograd::grad({loss}, {xg}, {}, true, true)[0];
  const at::Tensor second = at::real(at::sum(at::conj(g) * z));
  const at::Tensor gy = torch::autograd::grad({second}, {y})[0];
  EXPECT_LT(rel_err(gy, st::rotate_alm(z, psi, theta, phi)), 1e-13);
}

// ---- speed and bad input ----

TEST(WignerTest, RotateAlmAtLmax512MatchesHealpixCxx) {
  const at::Tensor alm = random_alm({}, 512, 5);
  EXPECT_LT(rel_err(st::rotate_alm(alm, 0.5, 2.1, -1.0), healpix_rotate(alm, 0.5, 2.1, -1.0)), 1e-10);
}

TEST(WignerTest, BadInputIsRejectedWithOneClearMessage) {
  EXPECT_EQ(error_of([] {
              st::rotate_alm(at::zeros({4, 4}, at::kDouble), 0, 0, 0);
            }),
            "rotate_alm: alm must be complex64 or complex128, got Double");
  EXPECT_EQ(error_of([] {
              st::rotate_alm(at::zeros({2, 3, 4}, at::kComplexDouble), 0, 0, 0);
            }),
            "rotate_alm: alm must be [..., lmax+1, lmax+1] (indexed [l, m], square in its last two dims), got "
            "[2, 3, 4]");
  EXPECT_EQ(error_of([] { st::rotate_alm(at::zeros({5}, at::kComplexDouble), 0, 0, 0); }),
            "rotate_alm: alm must be [..., lmax+1, lmax+1] (indexed [l, m], square in its last two dims), got [5]");
  EXPECT_EQ(error_of([] {
              st::rotate_alm(at::zeros({3, 3}, at::kComplexFloat), 0, NAN, 0);
            }),
            "rotate_alm: Euler angles must be finite, got (psi, theta, phi) = (0, nan, 0)");
  EXPECT_EQ(error_of([] { st::wigner_d(-1, 0.5); }), "wigner_d: l must be in [0, 65536], got -1");
  EXPECT_EQ(error_of([] { st::wigner_d(3, INFINITY); }), "wigner_d: beta must be finite, got inf");
  st::WignerDRecursion rec(2, 0.5);
  EXPECT_EQ(error_of([&] { rec.matrix(); }), "WignerDRecursion: call advance() before reading d^l");
  rec.advance();
  EXPECT_EQ(error_of([&] { rec(1, 0); }), "WignerDRecursion: (m', m) = (1, 0) out of range for l = 0");
}
