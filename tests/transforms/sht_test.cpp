// The spherical harmonic transform: exactness on grids with a sampling theorem, agreement with healpy and
// HEALPix C++ on HEALPix, both Legendre modes, exact adjoints (dot-product test and finite differences).
#include "sphaera/transforms/sht.h"

#include <gtest/gtest.h>

#include <alm.h>
#include <alm_healpix_tools.h>
#include <healpix_data_io.h>
#include <healpix_map.h>

#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "sphaera/transforms/fft.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/ring_transform.h"
#include "sphaera/transforms/ring_grids.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace sphaera::transforms {
namespace {

using testing::error_of;
using testing::load_npy;
using testing::relative_error;

// Random band-limited coefficients [batch, L+1, L+1]: complex normal for m ≤ l, a_l0 real, zero for m > l.
at::Tensor random_alm(int64_t batch, int64_t lmax, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor re = at::normal(0.0, 1.0, {batch, lmax + 1, lmax + 1}, gen, at::kDouble);
  at::Tensor im = at::normal(0.0, 1.0, {batch, lmax + 1, lmax + 1}, gen, at::kDouble);
  im.select(2, 0).zero_();
  const at::Tensor lower = at::ones({lmax + 1, lmax + 1}, at::kDouble).tril();
  return at::complex(re * lower, im * lower);
}

// Real inner product of the stored entries: Re Σ conj(a) b (maps: Σ a b).
double real_inner(const at::Tensor& a, const at::Tensor& b) {
  if (a.is_complex()) return (at::real(a) * at::real(b) + at::imag(a) * at::imag(b)).sum().item<double>();
  return (a * b).sum().item<double>();
}

// healpy's 1-D coefficient order (from the reference l, m arrays) → [L+1, L+1].
at::Tensor from_healpy_order(const std::string& dir, const std::string& name, int64_t lmax) {
  const at::Tensor l = load_npy(dir + "/l.npy").to(at::kLong), m = load_npy(dir + "/m.npy").to(at::kLong);
  const at::Tensor values = at::complex(load_npy(dir + "/" + name + "_re.npy").to(at::kDouble),
                                        load_npy(dir + "/" + name + "_im.npy").to(at::kDouble));
  at::Tensor out = at::zeros({(lmax + 1) * (lmax + 1)}, at::kComplexDouble);
  out.index_put_({at::Tensor(l * (lmax + 1) + m)}, values);
  return out.view({lmax + 1, lmax + 1});
}

TEST(Legendre, ClosedFormsAtLowDegree) {
  const double theta = 0.7, c = std::cos(theta), s = std::sin(theta), pi = M_PI;
  const std::vector<double> v = LegendrePlan::values(theta, 3);
  auto at_lm = [&](int l, int m) { return v[l * 4 + m]; };
  EXPECT_NEAR(at_lm(0, 0), 1.0 / std::sqrt(4 * pi), 1e-15);
  EXPECT_NEAR(at_lm(1, 0), std::sqrt(3 / (4 * pi)) * c, 1e-15);
  EXPECT_NEAR(at_lm(1, 1), -std::sqrt(3 / (8 * pi)) * s, 1e-15);  // Condon–Shortley phase
  EXPECT_NEAR(at_lm(2, 1), -std::sqrt(15 / (8 * pi)) * s * c, 1e-15);
  EXPECT_NEAR(at_lm(2, 2), 0.25 * std::sqrt(15 / (2 * pi)) * s * s, 1e-15);
  EXPECT_NEAR(at_lm(3, 3), -0.125 * std::sqrt(35 / pi) * s * s * s, 1e-15);
  EXPECT_EQ(at_lm(1, 2), 0.0);
}

TEST(Legendre, NoUnderflowOrOverflowAtHighDegreeNearThePole) {
  // sin^m θ underflows double for θ = 1e-3, m ≳ 100: the scaled recurrence must stay finite and give the
  // exact orthonormality of Gauss–Legendre quadrature at lmax 2048 for a few orders.
  for (double theta : {1e-3, 0.3, M_PI / 2}) {
    const std::vector<double> v = LegendrePlan::values(theta, 2048);
    for (double x : v) ASSERT_TRUE(std::isfinite(x)) << "theta " << theta;
  }
  std::vector<double> x, w;
  gauss_legendre(1025, x, w);
  std::vector<double> theta;
  for (double xi : x) theta.push_back(std::acos(xi));
  const LegendrePlan plan(theta, 1024, 1024, /*precompute=*/false);
  // Analysis of the synthesis of a unit coefficient at (l, m), with weights, returns the unit vector.
  const int64_t L = 1025, R = 1025;
  const AlmStrides packed = LegendrePlan::packed(1024, 2);
  for (int64_t m : {0, 1, 500, 1000, 1024}) {
    std::vector<double> alm(L * L * 2, 0.0), ring(L * R * 2, 0.0), back(L * L * 2, 0.0);
    const int64_t l = std::min<int64_t>(1024, m + 7);
    alm[(m * L + l) * 2] = 1.0;
    plan.synthesis(alm.data(), packed, ring.data(), 2);
    for (int64_t i = 0; i < L * R; ++i) ring[2 * i] *= 2 * M_PI * w[i % R];
    plan.analysis(ring.data(), back.data(), packed, 2);
    for (int64_t ll = m; ll < L; ++ll) {
      EXPECT_NEAR(back[(m * L + ll) * 2], ll == l ? 1.0 : 0.0, 1e-12) << "l " << ll << " m " << m;
    }
  }
}

// The Legendre synthesis of alm [L, L, ncols] and analysis of ring [L, R, ncols] (packed layouts), both at once.
std::pair<at::Tensor, at::Tensor> legendre_both(const LegendrePlan& plan, const at::Tensor& alm, const at::Tensor& ring) {
  const int64_t L = plan.lmax() + 1, R = ring.size(1), ncols = alm.size(2);
  at::Tensor syn = at::empty({L, R, ncols}, at::kDouble), ana = at::empty({L, L, ncols}, at::kDouble);
  plan.synthesis(alm.data_ptr<double>(), LegendrePlan::packed(plan.lmax(), ncols), syn.data_ptr<double>(), ncols);
  plan.analysis(ring.data_ptr<double>(), ana.data_ptr<double>(), LegendrePlan::packed(plan.lmax(), ncols), ncols);
  return {syn, ana};
}

// Columns are processed in compile-time groups (8, 6, 4, 2 with AVX-512): any even count gives, column by
// column, what one map alone gives, in both modes; the transposes hold too.
TEST(Legendre, EveryColumnCountMatchesOneMapAtATime) {
  std::vector<double> x, w;
  gauss_legendre(40, x, w);
  std::vector<double> theta;
  for (double xi : x) theta.push_back(std::acos(xi));
  theta.push_back(0.0);  // a pole, unpaired
  const int64_t lmax = 39, L = lmax + 1, R = static_cast<int64_t>(theta.size());
  for (bool precompute : {false, true}) {
    const LegendrePlan plan(theta, lmax, lmax, precompute);
    for (int64_t ncols : {2, 4, 6, 8, 10, 14, 32}) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(100 + ncols);
      const at::Tensor alm = at::randn({L, L, ncols}, gen, at::kDouble),
                       ring = at::randn({L, R, ncols}, gen, at::kDouble);
      const auto [syn, ana] = legendre_both(plan, alm, ring);
      for (int64_t c = 0; c < ncols; c += 2) {
        const auto [s1, b1] = legendre_both(plan, alm.narrow(2, c, 2).contiguous(), ring.narrow(2, c, 2).contiguous());
        EXPECT_LT(relative_error(syn.narrow(2, c, 2), s1), 1e-14) << ncols << " columns, column " << c;
        EXPECT_LT(relative_error(ana.narrow(2, c, 2), b1), 1e-14) << ncols << " columns, column " << c;
      }
    }
    const at::Tensor one = at::zeros({L, L, 3}, at::kDouble);
    at::Tensor out = at::empty({L, R, 3}, at::kDouble);
    EXPECT_EQ(error_of([&] {
                plan.synthesis(one.data_ptr<double>(), LegendrePlan::packed(lmax, 3), out.data_ptr<double>(), 3);
              }),
              "LegendrePlan::synthesis: ncols must be even and ≥ 2 (real and imaginary parts of each map), got 3");
  }
}

// Several maps at once (ncols ≥ 8) take the batched kernels: λ of a block of pairs laid out once, then small
// matrix products over the columns. Near the poles at high m they must skip exactly the λ the one-map kernels
// skip (below 2^-400): HEALPix nside 256 rings at lmax 767, on the fly, 5 maps against each map alone.
TEST(Legendre, BatchedColumnsMatchOneMapAtATimeAtHighDegree) {
  std::vector<double> theta;
  for (const Ring& r : healpix_rings(256)) theta.push_back(r.theta);
  const int64_t lmax = 767, L = lmax + 1, R = static_cast<int64_t>(theta.size()), ncols = 10;
  const LegendrePlan plan(theta, lmax, lmax, /*precompute=*/false);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const at::Tensor alm = at::randn({L, L, ncols}, gen, at::kDouble), ring = at::randn({L, R, ncols}, gen, at::kDouble);
  const auto [syn, ana] = legendre_both(plan, alm, ring);
  for (int64_t c = 0; c < ncols; c += 2) {
    const auto [s1, b1] = legendre_both(plan, alm.narrow(2, c, 2).contiguous(), ring.narrow(2, c, 2).contiguous());
    // Orders near lmax on polar rings: where the skipping matters, compared alone as well.
    EXPECT_LT(relative_error(syn.narrow(2, c, 2).narrow(0, 600, L - 600), s1.narrow(0, 600, L - 600)), 1e-14);
    EXPECT_LT(relative_error(syn.narrow(2, c, 2), s1), 1e-14) << "column " << c;
    EXPECT_LT(relative_error(ana.narrow(2, c, 2), b1), 1e-14) << "column " << c;
  }
}

struct GridCase {
  std::string name;
  GridPtr grid;
};

std::vector<GridCase> exact_grids(int64_t lmax) {
  return {{"gauss_legendre", GaussLegendreGrid::for_lmax(lmax)},
          {"driscoll_healy", std::make_shared<EquiangularGrid>(lmax + 1, EquiangularGrid::Kind::kDriscollHealy)},
          {"mcewen_wiaux", std::make_shared<EquiangularGrid>(lmax + 1, EquiangularGrid::Kind::kMcEwenWiaux)}};
}

// The Fourier stage transforms RealFft::lanes() maps at a time side by side (the last group padded with zero
// maps): for every map count, with maps in ring order and in NEST order, and with orders past the shortest
// rings' Nyquist bins (aliasing), analysis and adjoint give what one map at a time gives.
TEST(RingFourier, ManyMapsAtOnceMatchOneMapAtATime) {
  const int64_t nside = 8, mmax = 3 * nside, V = 12 * nside * nside;
  std::vector<Ring> rings = healpix_rings(nside);
  const int64_t R = static_cast<int64_t>(rings.size());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const at::Tensor ring_factor = at::rand({R}, gen, at::kDouble) + 0.5,
                   order_factor = at::rand({mmax + 1}, gen, at::kDouble) + 0.5;
  const std::vector<double> rf(ring_factor.data_ptr<double>(), ring_factor.data_ptr<double>() + R),
      of(order_factor.data_ptr<double>(), order_factor.data_ptr<double>() + mmax + 1);
  for (bool nest : {false, true}) {
    const RingFourier fourier(rings, nest ? healpix_ring_to_nest(nside) : nullptr, mmax, V, rf, of);
    for (int64_t n : {int64_t{2}, int64_t{3}, RealFft::lanes(), RealFft::lanes() + 1, 2 * RealFft::lanes() + 3}) {
      const at::Tensor maps = at::randn({n, V}, gen, at::kDouble);
      const at::Tensor coefficients = at::randn({mmax + 1, R, n, 2}, gen, at::kDouble);
      at::Tensor F = at::empty({mmax + 1, R, n, 2}, at::kDouble), back = at::empty({n, V}, at::kDouble);
      fourier.analysis(maps.data_ptr<double>(), F.data_ptr<double>(), n);
      fourier.adjoint(coefficients.data_ptr<double>(), back.data_ptr<double>(), n);
      for (int64_t b = 0; b < n; ++b) {
        const at::Tensor map = maps[b].contiguous(), c1 = coefficients.narrow(2, b, 1).contiguous();
        at::Tensor F1 = at::empty({mmax + 1, R, 1, 2}, at::kDouble), back1 = at::empty({V}, at::kDouble);
        fourier.analysis(map.data_ptr<double>(), F1.data_ptr<double>(), 1);
        fourier.adjoint(c1.data_ptr<double>(), back1.data_ptr<double>(), 1);
        EXPECT_LT(relative_error(F.narrow(2, b, 1), F1), 1e-14) << n << " maps, map " << b << (nest ? " NEST" : "");
        EXPECT_LT(relative_error(back[b], back1), 1e-14) << n << " maps, map " << b << (nest ? " NEST" : "");
      }
    }
  }
}

TEST(Sht, QuadratureWeightsIntegrateBandLimitedFunctionsExactly) {
  for (const auto& c : exact_grids(20)) {
    const at::Tensor w = c.grid->quadrature_weights();
    EXPECT_NEAR(w.sum().item<double>(), 4 * M_PI, 1e-12) << c.name;
    // ∫ Y_l0 = 0 for 0 < l ≤ lmax: weights against z^l for l ≤ 20.
    const at::Tensor z = c.grid->directions().select(1, 2);
    for (int l = 1; l <= 20; ++l) {
      const double exact = l % 2 == 1 ? 0.0 : 4 * M_PI / (l + 1);
      EXPECT_NEAR((w * z.pow(l)).sum().item<double>(), exact, 1e-12) << c.name << " l " << l;
    }
  }
}

TEST(Sht, RoundTripIsExactOnGridsWithASamplingTheorem) {
  for (int64_t lmax : {0, 1, 16, 64, 512}) {
    for (const auto& c : exact_grids(lmax)) {
      for (ShtMode mode : {ShtMode::kPrecompute, ShtMode::kOnTheFly}) {
        if (lmax == 512 && mode == ShtMode::kPrecompute) continue;  // 0.5 GB of tables: on the fly only
        ShtOptions options;
        options.mode = mode;
        const Sht sht(c.grid, options);
        ASSERT_EQ(sht.lmax(), lmax);
        const at::Tensor alm = random_alm(lmax == 512 ? 1 : 3, lmax, 7 + lmax);
        const at::Tensor map = sht.inverse(alm);
        ASSERT_EQ(map.size(-1), c.grid->size());
        const at::Tensor back = sht.forward(map);
        const double coefficients = relative_error(back, alm);
        EXPECT_LT(coefficients, 1e-12) << c.name << " lmax " << lmax << " " << to_string(mode);
        // and the other way: a band-limited map survives forward then inverse
        const double maps = relative_error(sht.inverse(back), map);
        EXPECT_LT(maps, 1e-12) << c.name << " lmax " << lmax;
        std::printf("  %-14s lmax %3lld %-10s round trip: alm %.2e, map %.2e\n", c.name.c_str(),
                    static_cast<long long>(lmax), to_string(mode).c_str(), coefficients, maps);
      }
    }
  }
}

TEST(Sht, BothModesAgreeTo1e12) {
  std::vector<GridCase> grids = exact_grids(40);
  grids.push_back({"healpix", std::make_shared<HealpixGrid>(16)});
  for (const auto& c : grids) {
    ShtOptions pre, fly;
    pre.mode = ShtMode::kPrecompute;
    fly.mode = ShtMode::kOnTheFly;
    const Sht a(c.grid, pre), b(c.grid, fly);
    ASSERT_EQ(a.mode(), ShtMode::kPrecompute);
    ASSERT_EQ(b.mode(), ShtMode::kOnTheFly);
    EXPECT_GT(a.table_bytes(), 0);
    EXPECT_EQ(b.table_bytes(), 0);
    const at::Tensor alm = random_alm(5, a.lmax(), 3);
    EXPECT_LT(relative_error(b.inverse(alm), a.inverse(alm)), 1e-12) << c.name;
    const at::Tensor map = at::randn({2, 3, c.grid->size()}, at::kDouble);
    EXPECT_LT(relative_error(b.forward(map), a.forward(map)), 1e-12) << c.name;
  }
}

TEST(Sht, RingOrderHealpixGridIsTheNestGridPermuted) {
  const int64_t nside = 8;
  auto nest = std::make_shared<HealpixGrid>(nside);
  auto ring = std::make_shared<HealpixRingOrderGrid>(nside);
  EXPECT_EQ(ring->key(), "healpix(nside=8,ring)");
  EXPECT_EQ(full_sky_healpix_nside(*ring), nside);
  const at::Tensor ring2nest = nest->ring_to_nest();
  // Same points, in RING order.
  EXPECT_TRUE(at::equal(ring->directions(), nest->directions().index_select(0, ring2nest)));
  for (bool ring_weights : {false, true}) {
    ShtOptions options;
    options.ring_weights = ring_weights;
    options.iterations = 2;
    const Sht a(nest, options), b(ring, options);
    EXPECT_EQ(b.lmax(), 3 * nside - 1);
    const at::Tensor map = at::randn({2, nest->size()}, at::kDouble);
    // The same arithmetic in another memory order: equal to rounding.
    EXPECT_LT(relative_error(b.forward(map.index_select(1, ring2nest)), a.forward(map)), 1e-14);
    const at::Tensor alm = random_alm(2, a.lmax(), 1);
    EXPECT_LT(relative_error(b.inverse(alm), a.inverse(alm).index_select(1, ring2nest)), 1e-14);
  }
}

TEST(Sht, AutoModeFollowsTheMemoryBudget) {
  auto grid = std::make_shared<HealpixGrid>(16);
  ShtOptions small;
  small.memory_budget = 1000;
  EXPECT_EQ(Sht(grid, small).mode(), ShtMode::kOnTheFly);
  EXPECT_EQ(Sht(grid).mode(), ShtMode::kPrecompute);
}

class HealpyReference : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(HealpyReference, MatchesHealpyTo1e10) {
  const auto [nside, lmax] = GetParam();
  const std::string dir =
      testing::test_data("healpy_sht/healpy_nside" + std::to_string(nside) + "_lmax" + std::to_string(lmax));
  auto grid = std::make_shared<HealpixGrid>(nside);
  const at::Tensor map_ring = load_npy(dir + "/map.npy").to(at::kDouble);
  const at::Tensor map = map_ring.index_select(0, grid->nest_to_ring());  // NEST in memory
  const at::Tensor alm_true = from_healpy_order(dir, "alm_true", lmax);
  for (int iter : {0, 3}) {
    for (ShtMode mode : {ShtMode::kPrecompute, ShtMode::kOnTheFly}) {
      ShtOptions options;
      options.lmax = lmax;
      options.iterations = iter;
      options.mode = mode;
      const Sht sht(grid, options);
      const std::string tag = "iter" + std::to_string(iter);
      const double synthesis = relative_error(sht.inverse(alm_true), map);
      EXPECT_LT(synthesis, 1e-10) << "alm2map " << to_string(mode);
      const at::Tensor alm = sht.forward(map);
      const double analysis = relative_error(alm, from_healpy_order(dir, "alm_" + tag, lmax));
      EXPECT_LT(analysis, 1e-10) << tag << " " << to_string(mode);
      std::printf("  healpy nside %lld lmax %lld %s %-10s: alm2map %.2e, map2alm %.2e\n", static_cast<long long>(nside),
                  static_cast<long long>(lmax), tag.c_str(), to_string(mode).c_str(), synthesis, analysis);
      const at::Tensor roundtrip = load_npy(dir + "/map_roundtrip_" + tag + ".npy").to(at::kDouble);
      EXPECT_LT(relative_error(sht.inverse(alm), roundtrip.index_select(0, grid->nest_to_ring())), 1e-10) << tag;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sht, HealpyReference, ::testing::Values(std::make_pair(16, 32), std::make_pair(32, 64)));

TEST(Sht, MatchesHealpixCxxWithAndWithoutRingWeights) {
  const int nside = 32, lmax = 80;
  auto grid = std::make_shared<HealpixGrid>(nside);
  const at::Tensor map = at::randn({grid->size()}, at::kDouble);
  const at::Tensor ring_map = map.index_select(0, grid->ring_to_nest());
  Healpix_Map<double> hmap(nside, RING, SET_NSIDE);
  for (int64_t i = 0; i < grid->size(); ++i) hmap[i] = ring_map[i].item<double>();
  for (bool weighted : {false, true}) {
    arr<double> weight(2 * nside, 1.0);
    if (weighted) {
      read_weight_ring("/usr/share/healpy/data", nside, weight);
      for (tsize i = 0; i < weight.size(); ++i) weight[i] += 1.0;
    }
    Alm<xcomplex<double>> peer(lmax, lmax);
    map2alm_iter(hmap, peer, 2, weight);
    ShtOptions options;
    options.lmax = lmax;
    options.iterations = 2;
    options.ring_weights = weighted;
    const at::Tensor ours = Sht(grid, options).forward(map);
    at::Tensor expected = at::zeros({lmax + 1, lmax + 1}, at::kComplexDouble);
    for (int m = 0; m <= lmax; ++m)
      for (int l = m; l <= lmax; ++l)
        expected.index_put_({l, m}, c10::complex<double>(peer(l, m).real(), peer(l, m).imag()));
    const double error = relative_error(ours, expected);
    EXPECT_LT(error, 1e-10) << (weighted ? "ring weights" : "uniform");
    std::printf("  HEALPix C++ map2alm_iter (iter 2, %s): %.2e\n", weighted ? "ring weights" : "uniform weights",
                error);
    // Ring weights change the result (so the option is really applied).
    if (weighted) {
      options.ring_weights = false;
      EXPECT_GT(relative_error(Sht(grid, options).forward(map), expected), 1e-8);
    }
  }
  // alm2map
  const at::Tensor alm = random_alm(1, lmax, 11)[0];
  Alm<xcomplex<double>> peer(lmax, lmax);
  for (int m = 0; m <= lmax; ++m)
    for (int l = m; l <= lmax; ++l) {
      const auto v = alm.index({l, m}).item<c10::complex<double>>();
      peer(l, m) = xcomplex<double>(v.real(), v.imag());
    }
  Healpix_Map<double> out(nside, RING, SET_NSIDE);
  alm2map(peer, out);
  at::Tensor expected = at::empty({grid->size()}, at::kDouble);
  for (int64_t i = 0; i < grid->size(); ++i) expected[i] = out[i];
  ShtOptions options;
  options.lmax = lmax;
  const double error = relative_error(Sht(grid, options).inverse(alm), expected.index_select(0, grid->nest_to_ring()));
  EXPECT_LT(error, 1e-12);
  std::printf("  HEALPix C++ alm2map: %.2e\n", error);
}

// Grids for the adjoint tests: every kind, small.
std::vector<GridCase> all_small_grids() {
  std::vector<GridCase> grids = exact_grids(6);
  grids.push_back({"healpix", std::make_shared<HealpixGrid>(4)});
  return grids;
}

TEST(Sht, DotProductTestForBothTransformsAndTheirAdjoints) {
  for (const auto& c : all_small_grids()) {
    ShtOptions options;
    if (c.name == "healpix") options.lmax = 15;  // beyond 3·nside − 1 = 11: aliasing included
    const Sht sht(c.grid, options);
    const at::Tensor x = at::randn({2, c.grid->size()}, at::kDouble);
    const at::Tensor y = random_alm(2, sht.lmax(), 5) +
                         at::complex(at::zeros({1}, at::kDouble), at::randn({2, sht.lmax() + 1, 1}, at::kDouble));
    // ⟨F x, y⟩ = ⟨x, F* y⟩ and ⟨F⁻¹ y, x⟩ = ⟨y, (F⁻¹)* x⟩, to rounding
    const double lhs1 = real_inner(sht.forward(x), y), rhs1 = real_inner(x, sht.forward_adjoint(y));
    EXPECT_NEAR(lhs1, rhs1, 1e-12 * (std::abs(lhs1) + 1)) << c.name;
    const double lhs2 = real_inner(sht.inverse(y), x), rhs2 = real_inner(y, sht.inverse_adjoint(x));
    EXPECT_NEAR(lhs2, rhs2, 1e-12 * (std::abs(lhs2) + 1)) << c.name;
    // The adjoint of the inverse is not the forward transform (no quadrature weights, m > 0 counted twice).
    EXPECT_GT(relative_error(sht.inverse_adjoint(x), sht.forward(x)), 0.1) << c.name;
  }
}

// Finite differences of both transforms of a plan, every input element, in float64.
void expect_gradients_match_finite_differences(const Sht& sht, const std::string& name) {
  const at::Tensor x = at::randn({2, sht.grid()->size()}, at::kDouble).requires_grad_(true);
  const auto forward = testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return at::view_as_real(sht.forward(in[0])); }, {x});
  // Central differences with h = 1e-6 round to about eps·|s|/h ≈ 1e-8 for these sums s.
  EXPECT_LT(forward.max_abs_error, 1e-7) << name << " forward, " << forward.worst;
  EXPECT_EQ(forward.checked, x.numel());
  const at::Tensor alm_re = at::randn({2, sht.lmax() + 1, sht.lmax() + 1}, at::kDouble).requires_grad_(true);
  const at::Tensor alm_im = at::randn({2, sht.lmax() + 1, sht.lmax() + 1}, at::kDouble).requires_grad_(true);
  const auto inverse = testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return sht.inverse(at::complex(in[0], in[1])); }, {alm_re, alm_im});
  EXPECT_LT(inverse.max_abs_error, 1e-7) << name << " inverse, " << inverse.worst;
  EXPECT_EQ(inverse.checked, 2 * alm_re.numel());
}

TEST(Sht, FiniteDifferenceGradientsInFloat64) {
  for (const auto& c : all_small_grids()) {
    ShtOptions options;
    options.lmax = c.name == "healpix" ? 6 : -1;
    options.iterations = c.name == "healpix" ? 1 : -1;
    expect_gradients_match_finite_differences(Sht(c.grid, options), c.name);
  }
}

TEST(Sht, Float32InFloat32OutAndBatchDimensionsKept) {
  auto grid = GaussLegendreGrid::for_lmax(10);
  const Sht sht(grid);
  const at::Tensor alm = random_alm(6, 10, 2).view({2, 3, 11, 11});
  const at::Tensor map64 = sht.inverse(alm);
  EXPECT_EQ(map64.sizes(), (std::vector<int64_t>{2, 3, grid->size()}));
  const at::Tensor map32 = sht.inverse(alm.to(at::kComplexFloat));
  EXPECT_EQ(map32.scalar_type(), at::kFloat);
  EXPECT_LT(relative_error(map32.to(at::kDouble), map64), 1e-6);
  const at::Tensor back = sht.forward(map32);
  EXPECT_EQ(back.scalar_type(), at::kComplexFloat);
  EXPECT_EQ(back.sizes(), alm.sizes());
  EXPECT_LT(relative_error(back.to(at::kComplexDouble), alm), 1e-6);
}

TEST(Sht, BadInputGivesOneClearError) {
  auto gl = GaussLegendreGrid::for_lmax(10);
  ShtOptions too_high;
  too_high.lmax = 11;
  EXPECT_NE(error_of([&] { Sht(gl, too_high); }).find("exact up to lmax 10"), std::string::npos);
  auto mw = std::make_shared<EquiangularGrid>(8, EquiangularGrid::Kind::kMcEwenWiaux);
  EXPECT_NE(error_of([&] { Sht(mw, too_high); }).find("exact up to lmax 7"), std::string::npos);
  auto patch = HealpixGrid::patch(8, 1, 0);
  EXPECT_NE(error_of([&] { Sht{patch}; }).find("no iso-latitude rings"), std::string::npos);
  // HEALPix accepts any lmax, as healpy
  ShtOptions high;
  high.lmax = 40;
  EXPECT_EQ(Sht(std::make_shared<HealpixGrid>(4), high).lmax(), 40);
  const Sht sht(gl);
  EXPECT_NE(error_of([&] {
              sht.forward(at::zeros({3, 7}, at::kDouble));
            }).find("maps must be [..., 231]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { sht.forward(at::zeros({231}, at::kLong)); }).find("float32 or float64"), std::string::npos);
  EXPECT_NE(error_of([&] { sht.inverse(at::zeros({11, 11}, at::kDouble)); }).find("complex"), std::string::npos);
  EXPECT_NE(error_of([&] {
              sht.inverse(at::zeros({11, 12}, at::kComplexDouble));
            }).find("[..., 11, 11]"),
            std::string::npos);
  ShtOptions iter;
  iter.iterations = 2;
  EXPECT_NE(error_of([&] { Sht(gl, iter); }).find("HEALPix transforms only"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sht_mode("fast"); }).find("known: auto, precompute, on_the_fly"), std::string::npos);
}

// ---- The tensor path (LibTorch operations on the maps' device): the same transforms as the host kernels ----

ShtOptions on_path(ShtPath path, int64_t lmax = -1, int iterations = -1) {
  ShtOptions options;
  options.path = path;
  options.lmax = lmax;
  options.iterations = iterations;
  return options;
}

std::vector<GridCase> tensor_test_grids() {
  std::vector<GridCase> grids = exact_grids(24);
  grids.push_back({"healpix", std::make_shared<HealpixGrid>(8)});
  grids.push_back({"healpix_ring", std::make_shared<HealpixRingOrderGrid>(8)});
  return grids;
}

// Both paths sum the same float64 products in other orders (FFT against direct sums, GEMM against the
// recurrence): they agree to a few hundred ulps of the largest coefficient.
TEST(Sht, TensorPathEqualsHostKernelsInFloat64) {
  for (const auto& c : tensor_test_grids()) {
    const bool healpix = c.name.rfind("healpix", 0) == 0;
    // On HEALPix an lmax beyond 2·nside makes the polar rings alias (m past their Nyquist bin): covered.
    const int64_t lmax = healpix ? 27 : -1;
    const Sht host(c.grid, on_path(ShtPath::kHost, lmax, healpix ? 2 : -1));
    const Sht tensor(c.grid, on_path(ShtPath::kTensor, lmax, healpix ? 2 : -1));
    const at::Tensor alm = random_alm(3, host.lmax(), 11);
    const double inverse = relative_error(tensor.inverse(alm), host.inverse(alm));
    const at::Tensor map = at::randn({2, 3, c.grid->size()}, at::kDouble);
    const double forward = relative_error(tensor.forward(map), host.forward(map));
    EXPECT_LT(inverse, 1e-12) << c.name;
    EXPECT_LT(forward, 1e-12) << c.name;
    std::printf("  %-14s tensor path against host kernels: forward %.2e, inverse %.2e\n", c.name.c_str(), forward,
                inverse);
  }
}

TEST(Sht, TensorPathInFloat32StaysInFloat32) {
  for (const auto& c : tensor_test_grids()) {
    const Sht host(c.grid, on_path(ShtPath::kHost));
    const Sht tensor(c.grid, on_path(ShtPath::kTensor));
    const at::Tensor map = at::randn({4, c.grid->size()}, at::kDouble);
    const at::Tensor a32 = tensor.forward(map.to(at::kFloat));
    ASSERT_EQ(a32.scalar_type(), at::kComplexFloat);
    // float32 rounding, grown by the sums over rings and degrees (a few hundred terms): 1e-5 relative.
    EXPECT_LT(relative_error(a32.to(at::kComplexDouble), host.forward(map)), 1e-5) << c.name;
    const at::Tensor alm = random_alm(2, host.lmax(), 4);
    const at::Tensor m32 = tensor.inverse(alm.to(at::kComplexFloat));
    ASSERT_EQ(m32.scalar_type(), at::kFloat);
    EXPECT_LT(relative_error(m32.to(at::kDouble), host.inverse(alm)), 1e-5) << c.name;
  }
}

TEST(Sht, TensorPathGradientsMatchFiniteDifferences) {
  for (const auto& c : all_small_grids()) {
    const bool healpix = c.name == "healpix";
    for (const ShtMode mode : {ShtMode::kPrecompute, ShtMode::kOnTheFly}) {  // tables, the recurrence on tensors
      ShtOptions options = on_path(ShtPath::kTensor, healpix ? 9 : -1, healpix ? 1 : -1);
      options.mode = mode;
      expect_gradients_match_finite_differences(Sht(c.grid, options), c.name + " " + to_string(mode));
    }
  }
  EXPECT_NE(error_of([] { parse_sht_path("gpu"); }).find("known: auto, host, tensor"), std::string::npos);
  EXPECT_EQ(parse_sht_path(to_string(ShtPath::kTensor)), ShtPath::kTensor);
}

// The recurrence run by tensor operations (on the fly, or auto over the budget) against the host kernels: small
// blocks of degrees (a tiny budget) and high orders near the poles, where the exponent scaling matters.
TEST(Sht, TensorPathRecurrenceEqualsHostKernels) {
  std::vector<GridCase> grids = tensor_test_grids();
  grids.push_back({"healpix_64", std::make_shared<HealpixGrid>(64)});  // lmax 191: λ_mm near 2^-1000
  grids.push_back({"gauss_legendre_300", GaussLegendreGrid::for_lmax(300)});
  for (const auto& c : grids) {
    for (const bool on_the_fly : {true, false}) {
      ShtOptions tensor_options = on_path(ShtPath::kTensor);
      if (on_the_fly) {
        tensor_options.mode = ShtMode::kOnTheFly;
      } else {
        tensor_options.memory_budget = 4096;  // auto, over the budget: blocks of the smallest size (2 degrees)
      }
      const Sht host(c.grid, on_path(ShtPath::kHost));
      const Sht tensor(c.grid, tensor_options);
      const at::Tensor alm = random_alm(2, host.lmax(), 21);
      const double inverse = relative_error(tensor.inverse(alm), host.inverse(alm));
      const at::Tensor map = at::randn({2, c.grid->size()}, at::kDouble);
      const double forward = relative_error(tensor.forward(map), host.forward(map));
      EXPECT_LT(inverse, 1e-12) << c.name;
      EXPECT_LT(forward, 1e-12) << c.name;
      std::printf("  %-18s recurrence on tensors (%s) against host kernels: forward %.2e, inverse %.2e\n",
                  c.name.c_str(), on_the_fly ? "on the fly" : "over budget", forward, inverse);
    }
  }
}

// CUDA against the CPU on the same input, float64 to 1e-12 and float32 to 1e-5, forward, inverse and both
// backwards; HEALPix and Gauss-Legendre as the issue asks, McEwen-Wiaux for the torus step.
TEST(Sht, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  std::vector<GridCase> grids = {
      {"healpix", std::make_shared<HealpixGrid>(16)},
      {"gauss_legendre", GaussLegendreGrid::for_lmax(40)},
      {"mcewen_wiaux", std::make_shared<EquiangularGrid>(24, EquiangularGrid::Kind::kMcEwenWiaux)}};
  for (const auto& c : grids) {
    for (const ShtMode mode : {ShtMode::kPrecompute, ShtMode::kOnTheFly}) {  // tables, or the recurrence on CUDA
      ShtOptions options;
      options.mode = mode;
      const Sht sht(c.grid, options);
      for (const auto& [dtype, tolerance] : {std::make_pair(at::kDouble, 1e-12), std::make_pair(at::kFloat, 1e-5)}) {
        const at::Tensor map = at::randn({3, c.grid->size()}, at::kDouble).to(dtype);
        const at::Tensor x_cpu = map.clone().requires_grad_(true), x_cuda = map.cuda().requires_grad_(true);
        const at::Tensor a_cpu = sht.forward(x_cpu), a_cuda = sht.forward(x_cuda);
        ASSERT_TRUE(a_cuda.is_cuda());
        EXPECT_LT(relative_error(a_cuda.cpu(), a_cpu.detach()), tolerance) << c.name << " forward";
        const at::Tensor g = random_alm(3, sht.lmax(), 2).to(a_cpu.scalar_type());
        a_cpu.backward(g);
        a_cuda.backward(g.cuda());
        EXPECT_LT(relative_error(x_cuda.grad().cpu(), x_cpu.grad()), tolerance) << c.name << " forward backward";
        const at::Tensor alm = random_alm(3, sht.lmax(), 8).to(a_cpu.scalar_type());
        const at::Tensor b_cpu = alm.clone().requires_grad_(true), b_cuda = alm.cuda().requires_grad_(true);
        const at::Tensor m_cpu = sht.inverse(b_cpu), m_cuda = sht.inverse(b_cuda);
        EXPECT_LT(relative_error(m_cuda.cpu(), m_cpu.detach()), tolerance) << c.name << " inverse";
        const at::Tensor h = at::randn(m_cpu.sizes(), m_cpu.options());
        m_cpu.backward(h);
        m_cuda.backward(h.cuda());
        EXPECT_LT(relative_error(b_cuda.grad().cpu(), b_cpu.grad()), tolerance) << c.name << " inverse backward";
      }
    }
  }
}

}  // namespace
}  // namespace sphaera::transforms
