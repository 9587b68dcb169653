// Spectral layers: the filter acts per degree, commutes with rotations on a grid with a sampling theorem,
// has exact gradients, pools by band-limit truncation, saves and loads, and is built from config.
#include "sphaera/models/spectral_conv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include <torch/torch.h>

#include "sphaera/models/functional.h"
#include "sphaera/models/registry.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/ring_grids.h"
#include "sphaera/transforms/sht.h"
#include "sphaera/transforms/wigner.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace sphaera::models {
namespace {

using testing::error_of;
using testing::relative_error;
using transforms::GaussLegendreGrid;
using transforms::HealpixGrid;
using transforms::Sht;

// Band-limited coefficients [B, C, L+1, L+1] (a_l0 real, zero for m > l).
at::Tensor random_alm(int64_t b, int64_t c, int64_t lmax) {
  at::Tensor re = torch::randn({b, c, lmax + 1, lmax + 1}, torch::kDouble);
  at::Tensor im = torch::randn({b, c, lmax + 1, lmax + 1}, torch::kDouble);
  im.select(3, 0).zero_();
  const at::Tensor lower = torch::ones({lmax + 1, lmax + 1}, torch::kDouble).tril();
  return at::complex(re * lower, im * lower);
}

TEST(SpectralConv, MultipliesEachDegreeByItsWeight) {
  torch::manual_seed(1);
  auto grid = GaussLegendreGrid::for_lmax(12);
  SpectralConv conv(SpectralConvOptions(2, 3, 12), grid);
  conv->to(torch::kDouble);
  const Sht sht(grid);
  const at::Tensor alm = random_alm(2, 2, 12);
  const at::Tensor y = conv->forward(sht.inverse(alm));
  // expected: Σ_c w[c, o, l] a[b, c, l, m], plus the bias on the constant Y_00 = 1/sqrt(4π)
  const at::Tensor w = conv->weight.detach();
  at::Tensor expected = at::view_as_complex(
      at::einsum("bclmr,col->bolmr", {at::view_as_real(alm), w}).contiguous());
  expected.select(2, 0).select(2, 0).add_(conv->bias.detach().view({1, 3}) * std::sqrt(4 * M_PI));
  EXPECT_LT(relative_error(sht.forward(y), expected), 1e-12);
}

TEST(SpectralConv, AnchorsInterpolateLinearlyBetweenAnchorDegrees) {
  torch::manual_seed(2);
  auto grid = GaussLegendreGrid::for_lmax(8);
  SpectralConv conv(SpectralConvOptions(1, 1, 8).anchors(3), grid);  // anchors at l = 0, 4, 8
  conv->to(torch::kDouble);  // float64: the interpolation is then exact to rounding
  ASSERT_EQ(conv->weight.sizes(), (std::vector<int64_t>{1, 1, 3}));
  const at::Tensor a = conv->weight.detach().flatten();
  const at::Tensor d = conv->degree_weights().detach().flatten();
  ASSERT_EQ(d.numel(), 9);
  for (int64_t l = 0; l <= 8; ++l) {
    const int64_t i = std::min<int64_t>(l / 4, 1);
    const double t = (l - 4.0 * i) / 4.0;
    EXPECT_NEAR(d[l].item<double>(), (1 - t) * a[i].item<double>() + t * a[i + 1].item<double>(), 1e-15) << l;
  }
}

// ‖R A f − A R f‖ / ‖A f‖ for a band-limited f and a rotation R applied in harmonic space.
double equivariance_error(SpectralConv& conv, const transforms::GridPtr& grid, int64_t lmax, double psi, double theta,
                          double phi) {
  const Sht sht(grid, [&] {
    transforms::ShtOptions o;
    o.lmax = lmax;
    return o;
  }());
  const at::Tensor alm = random_alm(1, 2, lmax);
  const at::Tensor f = sht.inverse(alm);
  const at::Tensor rf = sht.inverse(transforms::rotate_alm(alm, psi, theta, phi));
  const at::Tensor af = conv->forward(f);
  const at::Tensor r_af = sht.inverse(transforms::rotate_alm(sht.forward(af), psi, theta, phi));
  const at::Tensor a_rf = conv->forward(rf);
  return ((r_af - a_rf).norm() / af.norm()).item<double>();
}

TEST(SpectralConv, CommutesWithRotationsOnGaussLegendre) {
  torch::manual_seed(2);
  const int64_t lmax = 16;
  auto grid = GaussLegendreGrid::for_lmax(lmax);
  SpectralConv conv(SpectralConvOptions(2, 2, lmax), grid);
  conv->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  for (auto [psi, theta, phi] : {std::tuple{0.3, 1.1, -2.0}, std::tuple{-1.4, 2.5, 0.7}, std::tuple{3.0, 0.2, 5.5}}) {
    EXPECT_LT(equivariance_error(conv, grid, lmax, psi, theta, phi), 1e-10);
  }
}

TEST(SpectralConv, HealpixEquivarianceIsApproximateAndReported) {
  // HEALPix has no sampling theorem: equivariance holds only up to its quadrature error, which iterations
  // shrink. Reported, and bounded by what healpy itself reaches (the reference's iter 0 error is ~5e-3).
  torch::manual_seed(3);
  auto grid = std::make_shared<HealpixGrid>(16);
  SpectralConv conv(SpectralConvOptions(2, 2, 16), grid);
  conv->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  const double error = equivariance_error(conv, grid, 16, 0.3, 1.1, -2.0);
  std::cout << "HEALPix nside 16, lmax 16, iter 0: equivariance error " << error << "\n";
  EXPECT_LT(error, 0.05);
  EXPECT_GT(error, 1e-10);  // and not exact: the measure sees the quadrature
}

TEST(SpectralConv, FiniteDifferenceGradientsInFloat64) {
  torch::manual_seed(4);
  auto grid = GaussLegendreGrid::for_lmax(5);
  for (int64_t anchors : {0, 3}) {
    SpectralConv conv(SpectralConvOptions(2, 2, 5).anchors(anchors), grid);
    conv->to(torch::kDouble);
    const at::Tensor x = torch::randn({2, 2, grid->size()}, torch::kDouble).requires_grad_(true);
    const at::Tensor w = conv->weight.detach().clone().requires_grad_(true);
    const at::Tensor b = conv->bias.detach().clone().requires_grad_(true);
    // The module's forward reads its `weight` and `bias` members: point them at the checked tensors.
    const auto result = testing::gradcheck(
        [&](const std::vector<at::Tensor>& in) {
          conv->weight = in[1];
          conv->bias = in[2];
          return conv->forward(in[0]);
        },
        {x, w, b});
    // Central differences with h = 1e-6 round to about eps·|s|/h ≈ 1e-8 for these sums s.
    EXPECT_LT(result.max_abs_error, 1e-7) << "anchors " << anchors << ": " << result.worst;
    EXPECT_EQ(result.checked, x.numel() + w.numel() + b.numel());
  }
}

// The CPU kernel of the degree mix against LibTorch's einsum of its definition, forward and backward.
TEST(DegreeMix, MatchesEinsumOfItsDefinitionForwardAndBackward) {
  torch::manual_seed(8);
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    // Rounding: sums of Cin products, float64 to a few eps; float32 to a few of its 6e-8.
    const double tolerance = dtype == torch::kDouble ? 1e-14 : 1e-6;
    for (const int64_t lmax : {0, 7, 40}) {
      const at::Tensor alm = random_alm(3, 5, lmax).to(c10::toComplexType(dtype)).requires_grad_(true);
      const at::Tensor w = torch::randn({5, 4, lmax + 1}, dtype).requires_grad_(true);
      const at::Tensor dy = random_alm(3, 4, lmax).to(c10::toComplexType(dtype));
      const at::Tensor out = degree_mix(alm, w);
      const at::Tensor expected = at::view_as_complex(at::einsum("bclmr,col->bolmr", {at::view_as_real(alm), w}).contiguous());
      ASSERT_EQ(out.sizes(), expected.sizes());
      EXPECT_LT(relative_error(at::view_as_real(out), at::view_as_real(expected)), tolerance) << dtype << " lmax " << lmax;
      const auto grads = torch::autograd::grad({at::view_as_real(out)}, {alm, w}, {at::view_as_real(dy)});
      const auto expected_grads = torch::autograd::grad({at::view_as_real(expected)}, {alm, w}, {at::view_as_real(dy)});
      EXPECT_LT(relative_error(at::view_as_real(grads[0]), at::view_as_real(expected_grads[0])), tolerance) << dtype;
      EXPECT_LT(relative_error(grads[1], expected_grads[1]), tolerance) << dtype << " lmax " << lmax;
    }
  }
}

// The node reads only m ≤ l and writes zeros at m > l; its hand-written backward against central differences,
// also at the entries it ignores (their gradient is 0).
TEST(DegreeMix, FiniteDifferenceGradientsInFloat64AndZerosAboveTheDiagonal) {
  torch::manual_seed(9);
  const int64_t lmax = 4;
  const at::Tensor alm = torch::randn({2, 3, lmax + 1, lmax + 1, 2}, torch::kDouble).requires_grad_(true);
  const at::Tensor w = torch::randn({3, 2, lmax + 1}, torch::kDouble).requires_grad_(true);
  {
    torch::NoGradGuard no_grad;
    const at::Tensor out = at::view_as_real(degree_mix(at::view_as_complex(alm), w));
    const at::Tensor upper = torch::ones({lmax + 1, lmax + 1}, torch::kDouble).triu(1).view({lmax + 1, lmax + 1, 1});
    EXPECT_EQ((out * upper).abs().max().item<double>(), 0.0);
  }
  const auto result = testing::gradcheck(
      [](const std::vector<at::Tensor>& in) { return at::view_as_real(degree_mix(at::view_as_complex(in[0]), in[1])); },
      {alm, w});
  // Central differences with h = 1e-6 of a bilinear form: rounding ≈ eps·|s|/h ≈ 1e-9 for these sums s.
  EXPECT_LT(result.max_abs_error, 1e-7) << result.worst;
  EXPECT_EQ(result.checked, alm.numel() + w.numel());
}

TEST(DegreeMix, BadShapesAreNamed) {
  const at::Tensor alm = random_alm(1, 2, 3);
  EXPECT_THROW(degree_mix(at::view_as_real(alm), torch::randn({2, 2, 4}, torch::kDouble)), core::InvalidArgument);
  EXPECT_THROW(degree_mix(alm, torch::randn({3, 2, 4}, torch::kDouble)), core::InvalidArgument);
  EXPECT_THROW(degree_mix(alm, torch::randn({2, 2, 4}, torch::kFloat)), core::InvalidArgument);
}

TEST(SpectralPool, TruncatesTheBandLimitOntoTheCoarserGrid) {
  auto fine = GaussLegendreGrid::for_lmax(20);
  const auto coarse = coarser_ring_grid(fine);
  ASSERT_EQ(coarse->key(), GaussLegendreGrid::for_lmax(9)->key());
  SpectralPool pool(fine, coarse, 9);
  const at::Tensor alm = random_alm(2, 3, 20);
  const at::Tensor pooled = pool->forward(Sht(fine).inverse(alm));
  const at::Tensor truncated = alm.narrow(2, 0, 10).narrow(3, 0, 10);
  EXPECT_LT(relative_error(pooled, Sht(coarse).inverse(truncated)), 1e-12);
  // HEALPix halves nside
  EXPECT_EQ(coarser_ring_grid(std::make_shared<HealpixGrid>(8))->key(), HealpixGrid(4).key());
  EXPECT_NE(error_of([] { coarser_ring_grid(HealpixGrid::patch(8, 1, 0)); }).find("full-sky ring grid"),
            std::string::npos);
}

TEST(SpectralConv, SaveThenLoadGivesIdenticalOutputs) {
  auto grid = std::make_shared<HealpixGrid>(4);
  SpectralConv a(SpectralConvOptions(2, 3, 8).anchors(4), grid);
  SpectralConv b(SpectralConvOptions(2, 3, 8).anchors(4), grid);
  std::stringstream buffer;
  torch::save(a, buffer);
  torch::load(b, buffer);
  const at::Tensor x = torch::randn({2, 2, grid->size()});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
}

TEST(SpectralRegistry, BuildsSpectralLayersFromConfig) {
  const nlohmann::json model = nlohmann::json::parse(R"({
    "spectral": {"mode": "precompute"},
    "layers": [
      {"type": "spectral_conv", "out": 4},
      {"type": "relu"},
      {"type": "spectral_pool"},
      {"type": "spectral_conv", "out": 2, "anchors": 3},
      {"type": "global_avg_pool"}
    ]})");
  ModelInputs inputs;
  inputs.grid = std::make_shared<HealpixGrid>(8);
  inputs.in_channels = 1;
  inputs.num_classes = 2;
  Network net = build_network(model, inputs);
  const at::Tensor y = net->forward(torch::randn({3, 1, 768}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 2}));
  // mixed with graph layers, in one list
  const nlohmann::json hybrid = nlohmann::json::parse(R"({
    "layers": [
      {"type": "cheb_conv", "out": 4, "K": 3},
      {"type": "healpix_pool"},
      {"type": "spectral_conv", "out": 2, "lmax": 6},
      {"type": "global_avg_pool"}
    ]})");
  EXPECT_EQ(build_network(hybrid, inputs)->forward(torch::randn({2, 1, 768})).sizes(),
            (std::vector<int64_t>{2, 2}));
}

TEST(SpectralRegistry, ErrorsNameThePath) {
  ModelInputs patch;
  patch.grid = HealpixGrid::patch(8, 1, 0);
  EXPECT_NE(error_of([&] {
              build_network(nlohmann::json::parse(R"({"layers": [{"type": "spectral_conv", "out": 2}]})"), patch);
            }).find("model.layers[0]: spectral_conv needs a full-sky grid"),
            std::string::npos);
  ModelInputs gl;
  gl.grid = GaussLegendreGrid::for_lmax(6);
  EXPECT_NE(error_of([&] {
              build_network(nlohmann::json::parse(R"({"layers": [{"type": "spectral_conv", "out": 2, "lmax": 7}]})"), gl);
            }).find("exact up to lmax 6"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              build_network(nlohmann::json::parse(R"({"layers": [{"type": "spectral_conv", "out": 2, "anchors": 1}]})"), gl);
            }).find("model.layers[0].anchors"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              build_network(nlohmann::json::parse(R"({"spectral": {"mode": "fast"}, "layers": [{"type": "relu"}]})"), gl);
            }).find("model.spectral.mode"),
            std::string::npos);
}

}  // namespace
}  // namespace sphaera::models
