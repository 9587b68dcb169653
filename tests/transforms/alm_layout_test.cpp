// Coefficient layout converters: healpy's 1-D order (against HEALPix C++ Alm::index), s2fft's [l, L−1+m]
// with negative m, exact round trips, hand-checked entries, autograd, bad shapes.
#include "sphaera/transforms/alm_layout.h"

#include <alm.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

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
