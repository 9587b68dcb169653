// Coefficient layout converters: healpy's 1-D order (against HEALPix C++ Alm::index), s2fft's [l, L−1+m]
// with negative m, exact round trips, hand-checked entries, autograd, bad shapes.
#include "sphaera/transforms/alm_layout.h"

#include <alm.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/points.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace st = sphaera::transforms;
using sphaera::testing::error_of;

namespace {

using cdouble = c10::complex<double>;

// a[l, m] = (10 l + m) + i (100 + 10 l + m) for m ≤ l, zero above: every entry says where it came from.
at::Tensor labelled(int64_t lmax) {
  at::Tensor a = at::zeros({lmax + 1, lmax + 1}, at::kComplexDouble);
  auto acc = a.accessor<cdouble, 2>();
  for (int64_t l = 0; l <= lmax; ++l)
    for (int64_t m = 0; m <= l; ++m) acc[l][m] = cdouble(10.0 * l + m, 100.0 + 10 * l + m);
  return a;
}

at::Tensor random_alm(std::vector<int64_t> batch, int64_t lmax, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  batch.push_back(lmax + 1);
  batch.push_back(lmax + 1);
  batch.push_back(2);
  const at::Tensor alm = at::view_as_complex(at::randn(batch, gen, at::TensorOptions().dtype(at::kDouble)));
  return alm * at::ones({lmax + 1, lmax + 1}, at::kDouble).tril();
}

}  // namespace

TEST(AlmLayoutTest, HealpyOrderByHand) {
  const at::Tensor x = st::to_healpy(labelled(3));
  ASSERT_EQ(x.sizes(), (at::IntArrayRef{10}));
  const std::vector<double> expected = {0, 10, 20, 30, 11, 21, 31, 22, 32, 33};  // m = 0, then m = 1, ...
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(x[i].item<cdouble>(), cdouble(expected[i], 100 + expected[i])) << i;
  }
  EXPECT_EQ(st::healpy_index(2, 1, 3), 5);
  EXPECT_EQ(st::healpy_size(3), 10);
}

TEST(AlmLayoutTest, HealpyOrderMatchesHealpixCxxAlmIndex) {
  for (int lmax : {0, 1, 7, 64}) {
    const at::Tensor a = labelled(lmax);
    const at::Tensor x = st::to_healpy(a);
    Alm_Base base(lmax, lmax);
    ASSERT_EQ(x.size(0), static_cast<int64_t>(Alm_Base::Num_Alms(lmax, lmax)));
    EXPECT_EQ(st::healpy_lmax(x.size(0)), lmax);
    for (int l = 0; l <= lmax; ++l) {
      for (int m = 0; m <= l; ++m) {
        ASSERT_EQ(st::healpy_index(l, m, lmax), base.index(l, m));
        ASSERT_EQ(x[base.index(l, m)].item<cdouble>(), a[l][m].item<cdouble>()) << l << ", " << m;
      }
    }
  }
}

TEST(AlmLayoutTest, HealpyRoundTripsAreExact) {
  const at::Tensor a = random_alm({2, 3}, 20, 1);
  const at::Tensor x = st::to_healpy(a);
  EXPECT_EQ(x.sizes(), (at::IntArrayRef{2, 3, 231}));
  EXPECT_TRUE(torch::equal(st::from_healpy(x, 20), a));
  EXPECT_TRUE(torch::equal(st::to_healpy(st::from_healpy(x, 20)), x));
  // Entries above the diagonal are dropped and come back zero; dtype and real tensors are kept.
  const at::Tensor dirty = a + at::ones({21, 21}, at::kDouble).triu(1);
  EXPECT_TRUE(torch::equal(st::from_healpy(st::to_healpy(dirty), 20), a));
  const at::Tensor a32 = a.to(at::kComplexFloat);
  EXPECT_EQ(st::to_healpy(a32).scalar_type(), at::kComplexFloat);
  const at::Tensor real = at::real(a).contiguous();
  EXPECT_TRUE(torch::equal(st::from_healpy(st::to_healpy(real), 20), real));
}

TEST(AlmLayoutTest, S2fftLayoutByHand) {
  const int64_t lmax = 2, L = 3;
  const at::Tensor a = labelled(lmax);
  const at::Tensor f = st::to_s2fft(a);
  ASSERT_EQ(f.sizes(), (at::IntArrayRef{L, 2 * L - 1}));
  auto at_ = [&](int64_t l, int64_t m) { return f[l][L - 1 + m].item<cdouble>(); };
  auto value = [](int64_t l, int64_t m) { return cdouble(10.0 * l + m, 100.0 + 10 * l + m); };
  for (int64_t l = 0; l <= lmax; ++l) {
    for (int64_t m = -lmax; m <= lmax; ++m) {
      cdouble expected(0, 0);
      if (std::abs(m) <= l) {
        expected = m >= 0 ? value(l, m) : ((-m) % 2 ? -1.0 : 1.0) * std::conj(value(l, -m));
      }
      EXPECT_EQ(at_(l, m), expected) << l << ", " << m;
    }
  }
  // Spelled out: flm[2, 0] = a_{2,−2} = conj(a_22), flm[2, 1] = a_{2,−1} = −conj(a_21), flm[0, 0] = 0.
  EXPECT_EQ(f[2][0].item<cdouble>(), cdouble(22, -122));
  EXPECT_EQ(f[2][1].item<cdouble>(), cdouble(-21, 121));
  EXPECT_EQ(f[0][0].item<cdouble>(), cdouble(0, 0));
}

TEST(AlmLayoutTest, S2fftRoundTripsAreExact) {
  const at::Tensor a = random_alm({4}, 15, 2);
  const at::Tensor f = st::to_s2fft(a);
  EXPECT_EQ(f.sizes(), (at::IntArrayRef{4, 16, 31}));
  EXPECT_TRUE(torch::equal(st::from_s2fft(f), a));
  EXPECT_TRUE(torch::equal(st::to_s2fft(st::from_s2fft(f)), f));
  // Conjugate symmetry of a real map's coefficients: flm[l, L−1−m] = (−1)^m conj(flm[l, L−1+m]).
  for (int64_t m = 1; m <= 15; ++m) {
    const at::Tensor lhs = f.select(-1, 15 - m);
    const at::Tensor rhs = (m % 2 ? -1.0 : 1.0) * at::conj(f.select(-1, 15 + m));
    EXPECT_TRUE(torch::equal(lhs, rhs)) << m;
  }
  // from_s2fft ignores entries with m > l and all negative m.
  at::Tensor g = f.clone();
  g.narrow(-1, 0, 15).fill_(cdouble(7, 7));
  g[0][0][20] = cdouble(9, 9);  // l = 0, m = 5
  EXPECT_TRUE(torch::equal(st::from_s2fft(g), a));
  // Real tensors work (conjugation is the identity), complex64 stays complex64.
  const at::Tensor real = at::real(a).contiguous();
  EXPECT_TRUE(torch::equal(st::from_s2fft(st::to_s2fft(real)), real));
  EXPECT_EQ(st::to_s2fft(a.to(at::kComplexFloat)).scalar_type(), at::kComplexFloat);
}

TEST(AlmLayoutTest, DifferentiableThroughAutograd) {
  const at::Tensor parts = at::view_as_real(random_alm({2}, 4, 3)).clone().requires_grad_(true);
  for (int which = 0; which < 3; ++which) {
    const auto result = sphaera::testing::gradcheck(
        [which](const std::vector<at::Tensor>& in) {
          const at::Tensor a = at::view_as_complex(in[0]);
          if (which == 0) return at::view_as_real(st::to_healpy(a));
          if (which == 1) return at::view_as_real(st::to_s2fft(a));
          return at::view_as_real(st::from_s2fft(st::to_s2fft(a)));
        },
        {parts});
    EXPECT_LT(result.max_abs_error, 1e-8) << which << ": " << result.worst;
  }
  const at::Tensor x = at::view_as_real(st::to_healpy(random_alm({2}, 4, 4))).clone().requires_grad_(true);
  const auto result = sphaera::testing::gradcheck(
      [](const std::vector<at::Tensor>& in) {
        return at::view_as_real(st::from_healpy(at::view_as_complex(in[0]), 4));
      },
      {x});
  EXPECT_LT(result.max_abs_error, 1e-8) << result.worst;
}

TEST(AlmLayoutTest, BadShapesAreRejected) {
  EXPECT_EQ(error_of([] {
              st::to_healpy(at::zeros({3, 4}, at::kComplexDouble));
            }),
            "to_healpy: alm must be [..., lmax+1, lmax+1] (indexed [l, m]), got [3, 4]");
  EXPECT_EQ(error_of([] { st::to_s2fft(at::zeros({5}, at::kComplexDouble)); }),
            "to_s2fft: alm must be [..., lmax+1, lmax+1] (indexed [l, m]), got [5]");
  EXPECT_EQ(error_of([] {
              st::to_s2fft(at::zeros({3, 3}, at::kLong));
            }),
            "to_s2fft: alm must be complex or floating point, got Long");
  EXPECT_EQ(error_of([] {
              st::from_healpy(at::zeros({2, 10}, at::kComplexDouble), 4);
            }),
            "from_healpy: the last dim holds 10 coefficients but lmax = 4 needs (lmax+1)(lmax+2)/2 = 15");
  EXPECT_EQ(error_of([] { st::from_healpy(at::zeros({15}, at::kComplexDouble), -1); }),
            "from_healpy: lmax must be >= 0, got -1");
  EXPECT_EQ(error_of([] {
              st::from_s2fft(at::zeros({3, 4}, at::kComplexDouble));
            }),
            "from_s2fft: flm must be [..., L, 2L-1] (indexed [l, L-1+m]), got [3, 4]");
  EXPECT_EQ(error_of([] { st::healpy_lmax(7); }),
            "healpy_lmax: 7 is not (lmax+1)(lmax+2)/2 for any lmax (healpy's number of coefficients for mmax = "
            "lmax)");
  EXPECT_EQ(st::healpy_lmax(1), 0);
  EXPECT_EQ(st::healpy_lmax(3), 1);
  EXPECT_EQ(st::healpy_lmax(231), 20);
}

// ---- real spherical harmonics ----

namespace {

// Coefficients of a real map: a_l0 real.
at::Tensor real_map_alm(std::vector<int64_t> batch, int64_t lmax, uint64_t seed) {
  at::Tensor a = random_alm(std::move(batch), lmax, seed);
  at::imag(a).select(-1, 0).zero_();
  return a;
}

}  // namespace

TEST(RealHarmonicsTest, LayoutAndFactorsByHand) {
  const at::Tensor b = st::to_real_harmonics(labelled(1));  // a_00 = 0 + 100i, a_10 = 10 + 110i, a_11 = 11 + 111i
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{4}));
  EXPECT_EQ(b.scalar_type(), at::kDouble);
  const double r2 = std::sqrt(2.0);
  EXPECT_DOUBLE_EQ(b[0].item<double>(), 0.0);          // l 0, m 0: Re a_00 (Im a_l0 is not read)
  EXPECT_DOUBLE_EQ(b[1].item<double>(), r2 * 111.0);   // l 1, m −1: −√2 (−1)¹ Im a_11
  EXPECT_DOUBLE_EQ(b[2].item<double>(), 10.0);         // l 1, m 0
  EXPECT_DOUBLE_EQ(b[3].item<double>(), -r2 * 11.0);   // l 1, m 1: √2 (−1)¹ Re a_11
}

TEST(RealHarmonicsTest, RoundTripsAreExactAndTheMapIsAnIsometry) {
  const at::Tensor a = real_map_alm({2, 3}, 9, 5);
  const at::Tensor b = st::to_real_harmonics(a);
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{2, 3, 100}));
  EXPECT_LT((st::from_real_harmonics(b) - a).abs().max().item<double>(), 1e-15);
  const at::Tensor c = at::randn({4, 49}, at::kDouble);
  EXPECT_LT((st::to_real_harmonics(st::from_real_harmonics(c)) - c).abs().max().item<double>(), 1e-15);
  // Σ b² = Σ_l |a_l0|² + 2 Σ_{m>0} |a_lm|² (both equal ∫ f² for orthonormal bases).
  const at::Tensor weight = at::full({10}, 2.0, at::kDouble).index_fill_(0, at::zeros({1}, at::kLong), 1.0);
  const double complex_norm = (at::abs(a).pow(2) * weight).sum().item<double>();
  EXPECT_NEAR(b.pow(2).sum().item<double>(), complex_norm, 1e-12 * complex_norm);
  // float32 in, float32 out.
  EXPECT_EQ(st::to_real_harmonics(a.to(at::kComplexFloat)).scalar_type(), at::kFloat);
  EXPECT_EQ(st::from_real_harmonics(c.to(at::kFloat)).scalar_type(), at::kComplexFloat);
}

// The map Σ b_k Y_k, with the real harmonics written out from their definition (λ_lm from LegendrePlan::values,
// cos and sin of mφ), equals the complex synthesis evaluate(a) at random points: an independent computation.
TEST(RealHarmonicsTest, RealBasisSynthesisEqualsTheComplexOne) {
  const int64_t lmax = 12, M = 50;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const at::Tensor theta = at::rand({M}, gen, at::kDouble) * M_PI, phi = at::rand({M}, gen, at::kDouble) * 2 * M_PI;
  const auto points = st::PointGrid::from_colatitude_longitude(theta, phi);
  const at::Tensor a = real_map_alm({}, lmax, 12);
  const at::Tensor b = st::to_real_harmonics(a);
  const at::Tensor complex_values = st::evaluate(a, *points);
  std::vector<double> direct(M, 0.0);
  for (int64_t i = 0; i < M; ++i) {
    const double t = theta[i].item<double>(), p = phi[i].item<double>();
    const std::vector<double> lambda = st::LegendrePlan::values(t, lmax);  // [l][m]
    for (int64_t l = 0; l <= lmax; ++l) {
      direct[i] += b[l * l + l].item<double>() * lambda[l * (lmax + 1)];
      for (int64_t m = 1; m <= l; ++m) {
        const double f = std::sqrt(2.0) * ((m & 1) ? -1.0 : 1.0) * lambda[l * (lmax + 1) + m];
        direct[i] += b[l * l + l + m].item<double>() * f * std::cos(m * p) +
                     b[l * l + l - m].item<double>() * f * std::sin(m * p);
      }
    }
  }
  EXPECT_LT(sphaera::testing::relative_error(at::tensor(direct, at::kDouble), complex_values), 1e-13);
}

TEST(RealHarmonicsTest, DegreeOneHarmonicsAreTheCoordinates) {
  // Y_11 = c x, Y_1,−1 = c y, Y_10 = c z with c = √(3/4π) > 0 (the Condon–Shortley phase cancels).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  const at::Tensor dirs = at::randn({20, 3}, gen, at::kDouble);
  const auto points = std::make_shared<st::PointGrid>(dirs);
  const at::Tensor unit = points->directions();
  const double c = std::sqrt(3.0 / (4.0 * M_PI));
  const int columns[3] = {0, 1, 2};  // x, y, z
  const int64_t index[3] = {3, 1, 2};  // l² + l + m for m = 1, −1, 0
  for (int j = 0; j < 3; ++j) {
    at::Tensor b = at::zeros({4}, at::kDouble);
    b[index[j]] = 1.0;
    const at::Tensor values = st::evaluate(st::from_real_harmonics(b), *points);
    EXPECT_LT((values - c * unit.select(1, columns[j])).abs().max().item<double>(), 1e-14) << j;
  }
}

TEST(RealHarmonicsTest, DifferentiableThroughAutograd) {
  const at::Tensor parts = at::view_as_real(real_map_alm({2}, 4, 7)).clone().requires_grad_(true);
  auto to_real = sphaera::testing::gradcheck(
      [](const std::vector<at::Tensor>& in) { return st::to_real_harmonics(at::view_as_complex(in[0])); }, {parts});
  EXPECT_LT(to_real.max_abs_error, 1e-8) << to_real.worst;
  const at::Tensor b = at::randn({2, 25}, at::kDouble).requires_grad_(true);
  auto from_real = sphaera::testing::gradcheck(
      [](const std::vector<at::Tensor>& in) { return at::view_as_real(st::from_real_harmonics(in[0])); }, {b});
  EXPECT_LT(from_real.max_abs_error, 1e-8) << from_real.worst;
}

TEST(RealHarmonicsTest, BadInputIsRejected) {
  EXPECT_EQ(error_of([] { st::from_real_harmonics(at::zeros({2, 10}, at::kDouble)); }),
            "from_real_harmonics: the last dim holds 10 coefficients, not (lmax+1)² for any lmax");
  EXPECT_EQ(error_of([] { st::from_real_harmonics(at::zeros({4}, at::kComplexDouble)); }),
            "from_real_harmonics: coefficients must be real (float32 or float64), got ComplexDouble");
  EXPECT_EQ(error_of([] { st::to_real_harmonics(at::zeros({3, 3}, at::kDouble)); }),
            "to_real_harmonics: alm must be complex, got Double");
  EXPECT_EQ(error_of([] { st::to_real_harmonics(at::zeros({3, 4}, at::kComplexDouble)); }),
            "to_real_harmonics: alm must be [..., lmax+1, lmax+1] (indexed [l, m]), got [3, 4]");
}
