// Tests of models::cheb_conv and models::ChebConv: the deepsphere-pytorch reference, finite differences,
// initialisation, serialisation, dtype/device following.
#include "sphaera/models/cheb_conv.h"

#include <cmath>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/functional.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

using sphaera::core::CsrMatrix;
using sphaera::models::cheb_conv;
using sphaera::models::ChebConv;
using sphaera::models::ChebConvOptions;
using sphaera::testing::gradcheck;
using sphaera::testing::load_npy;
using sphaera::testing::relative_error;
using sphaera::testing::test_data;

namespace {

at::Tensor ref(const std::string& name) { return load_npy(test_data("deepsphere_chebconv/" + name + ".npy")); }

// A random symmetric sparse matrix scaled to spectral radius < 1 (like a rescaled Laplacian), and its dense twin.
std::pair<CsrMatrix, at::Tensor> random_laplacian(int64_t v, at::ScalarType dtype) {
  auto mask = torch::rand({v, v}, torch::kDouble) < 0.3;
  auto a = torch::randn({v, v}, torch::kDouble).mul(mask);
  a = a + a.t();
  a = a / (at::linalg_eigvalsh(a, "L").abs().max().item<double>() * 1.1);
  return {CsrMatrix::from_dense(a.to(dtype)), a.to(dtype)};
}

// Straightforward dense reading of the definition: out[b, o, v] = Σ_{c,k} (T_k x[b, c])[v] W[c, k, o] + bias[o].
at::Tensor dense_cheb_conv(const at::Tensor& x, const at::Tensor& l, const at::Tensor& w, const at::Tensor& bias) {
  const int64_t k = w.size(1);
  std::vector<at::Tensor> t{x};  // [B, C, V]
  if (k > 1) t.push_back(torch::matmul(x, l.t()));
  for (int64_t i = 2; i < k; ++i) t.push_back(2 * torch::matmul(t[i - 1], l.t()) - t[i - 2]);
  auto out = torch::zeros({x.size(0), w.size(2), x.size(2)}, x.options());
  for (int64_t i = 0; i < k; ++i) out = out + torch::einsum("bcv,co->bov", {t[i], w.select(1, i)});
  if (bias.defined()) out = out + bias.view({1, -1, 1});
  return out;
}

class ChebConvTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(11); }
};

// ---- the peer's numbers ----------------------------------------------------------------------------------------

struct ReferenceRun {
  at::Tensor out, grad_x, grad_w, grad_b, loss;  // in the peer's layouts
};

// Runs our cheb_conv on the reference inputs in `dtype`, returning outputs and gradients in the peer's layouts:
// x (B, V, Fin), weight (K, Fin, Fout), out (B, V, Fout).
ReferenceRun run_reference(at::ScalarType dtype) {
  const auto x_peer = ref("x").to(dtype);
  const auto w_peer = ref("weight").to(dtype);
  const int64_t k = w_peer.size(0), fin = w_peer.size(1), fout = w_peer.size(2);
  const int64_t v = x_peer.size(1);
  const auto l = CsrMatrix::from_coo(v, v, ref("lap_row"), ref("lap_col"), ref("lap_val").to(dtype));
  // README rule: the coefficient of (T_k x)[:, fin] for output o is weight.reshape(Fin·K, Fout)[fin·K + k, o],
  // which is exactly our [Cin, K, Cout] flattening: a reshape, no transpose.
  auto x = x_peer.permute({0, 2, 1}).contiguous().requires_grad_(true);
  auto w = w_peer.reshape({fin, k, fout}).clone().requires_grad_(true);
  auto b = ref("bias").to(dtype).requires_grad_(true);
  auto out = cheb_conv(x, l, w, b);
  auto loss = out.pow(2).sum();
  loss.backward();
  return {out.permute({0, 2, 1}).detach(), x.grad().permute({0, 2, 1}), w.grad().reshape({k, fin, fout}), b.grad(),
          loss.detach()};
}

TEST_F(ChebConvTest, ReproducesDeepspherePytorchInFloat64) {
  const auto run = run_reference(torch::kDouble);
  EXPECT_LT(relative_error(run.out, ref("out_f64")), 1e-10);
  EXPECT_LT(relative_error(run.grad_x, ref("grad_x_f64")), 1e-10);
  EXPECT_LT(relative_error(run.grad_w, ref("grad_w_f64")), 1e-10);
  EXPECT_LT(relative_error(run.grad_b, ref("grad_b_f64")), 1e-10);
  EXPECT_LT(relative_error(run.loss, ref("loss_f64").reshape({})), 1e-10);
}

TEST_F(ChebConvTest, ReproducesDeepspherePytorchInFloat32) {
  const auto run = run_reference(torch::kFloat);
  EXPECT_EQ(run.out.scalar_type(), torch::kFloat);
  EXPECT_LT(relative_error(run.out, ref("out_f32")), 1e-5);
  EXPECT_LT(relative_error(run.grad_x, ref("grad_x_f32")), 1e-5);
  EXPECT_LT(relative_error(run.grad_w, ref("grad_w_f32")), 1e-5);
  EXPECT_LT(relative_error(run.grad_b, ref("grad_b_f32")), 1e-5);
  EXPECT_LT(relative_error(run.loss, ref("loss_f32").reshape({})), 1e-5);
}

// Documents the peer's quirk: reading its weight (K, Fin, Fout) naturally, weight[k] mixing T_k x, gives
// out_natural_f64, which is not what the peer computes.
TEST_F(ChebConvTest, NaturalReadingOfThePeerWeightIsOutNatural) {
  const auto x = ref("x").to(torch::kDouble).permute({0, 2, 1});
  const auto w_peer = ref("weight").to(torch::kDouble);
  const int64_t v = x.size(2);
  const auto l = CsrMatrix::from_coo(v, v, ref("lap_row"), ref("lap_col"), ref("lap_val").to(torch::kDouble));
  const auto natural = cheb_conv(x, l, w_peer.permute({1, 0, 2}), ref("bias").to(torch::kDouble));
  EXPECT_LT(relative_error(natural.permute({0, 2, 1}), ref("out_natural_f64")), 1e-10);
  EXPECT_GT(relative_error(ref("out_natural_f64"), ref("out_f64")), 0.1);
}

// ---- definition, gradients -----------------------------------------------------------------------------------------

TEST_F(ChebConvTest, EqualsTheDenseDefinition) {
  auto [l, dense] = random_laplacian(13, torch::kDouble);
  for (int64_t k : {1, 2, 3, 6}) {
    auto x = torch::randn({3, 4, 13}, torch::kDouble);
    auto w = torch::randn({4, k, 5}, torch::kDouble);
    auto b = torch::randn({5}, torch::kDouble);
    EXPECT_LT(relative_error(cheb_conv(x, l, w, b), dense_cheb_conv(x, dense, w, b)), 1e-13) << "K = " << k;
    EXPECT_LT(relative_error(cheb_conv(x, l, w, at::Tensor()), dense_cheb_conv(x, dense, w, at::Tensor())), 1e-13);
  }
}

TEST_F(ChebConvTest, KEqualOneNeedsNoLaplacian) {
  auto x = torch::randn({2, 3, 7}, torch::kDouble);
  auto w = torch::randn({3, 1, 4}, torch::kDouble);
  auto out = cheb_conv(x, CsrMatrix(), w, at::Tensor());
  EXPECT_LT(relative_error(out, torch::einsum("bcv,co->bov", {x, w.select(1, 0)})), 1e-14);
  ChebConv conv(ChebConvOptions(3, 4, 1), std::shared_ptr<const CsrMatrix>());
  EXPECT_EQ(conv->forward(x.to(torch::kFloat)).sizes(), (std::vector<int64_t>{2, 4, 7}));
}

TEST_F(ChebConvTest, GradientsMatchFiniteDifferences) {
  auto [l, dense] = random_laplacian(9, torch::kDouble);
  for (int64_t k : {1, 2, 4}) {
    auto x = torch::randn({2, 3, 9}, torch::kDouble).requires_grad_(true);
    auto w = torch::randn({3, k, 2}, torch::kDouble).requires_grad_(true);
    auto b = torch::randn({2}, torch::kDouble).requires_grad_(true);
    auto result =
        gradcheck([&](const std::vector<at::Tensor>& in) { return cheb_conv(in[0], l, in[1], in[2]); }, {x, w, b});
    EXPECT_EQ(result.checked, x.numel() + w.numel() + b.numel());
    EXPECT_LT(result.max_rel_error, 1e-8) << "K = " << k << ": " << result.worst;
  }
}

// The hand-written backward's input gradient runs Clenshaw's recurrence on the transpose: a non-symmetric matrix
// (a symmetric one would hide a missing transpose), two layers chained (the second reads the first's permuted
// output in place), with and without bias.
TEST_F(ChebConvTest, GradientsMatchFiniteDifferencesForANonSymmetricMatrixAndChainedLayers) {
  auto mask = torch::rand({9, 9}, torch::kDouble) < 0.4;
  auto a = torch::randn({9, 9}, torch::kDouble).mul(mask);
  a = a / (at::linalg_matrix_norm(a, 2).item<double>() * 1.1);
  ASSERT_GT(relative_error(a, a.t()), 0.5);
  const auto l = CsrMatrix::from_dense(a);
  for (int64_t k : {3, 5}) {
    auto x = torch::randn({2, 3, 9}, torch::kDouble).requires_grad_(true);
    // Weights of He's scale keep the output O(1): the check's rounding error, eps·|<f, r>| / h, stays near 1e-10
    // (f is linear in each input coordinate alone, so central differences have no truncation error).
    auto w1 = (torch::randn({3, k, 2}, torch::kDouble) / std::sqrt(3.0 * k)).requires_grad_(true);
    auto w2 = (torch::randn({2, k, 3}, torch::kDouble) / std::sqrt(2.0 * k)).requires_grad_(true);
    auto b2 = torch::randn({3}, torch::kDouble).requires_grad_(true);
    EXPECT_LT(relative_error(cheb_conv(x, l, w1, at::Tensor()), dense_cheb_conv(x, a, w1, at::Tensor())), 1e-13);
    auto result = gradcheck(
        [&](const std::vector<at::Tensor>& in) {
          return cheb_conv(cheb_conv(in[0], l, in[1], at::Tensor()), l, in[2], in[3]);
        },
        {x, w1, w2, b2});
    EXPECT_EQ(result.checked, x.numel() + w1.numel() + w2.numel() + b2.numel());
    EXPECT_LT(result.max_rel_error, 1e-8) << "K = " << k << ": " << result.worst;
  }
}

// Both orders of the hand-written backward on a non-symmetric matrix: Cout ≤ 2 Cin (one recurrence on the output
// gradient), Cout > 2 Cin (x's terms recomputed, then Clenshaw) and a weight without gradient (Clenshaw alone).
TEST_F(ChebConvTest, BothBackwardOrdersMatchFiniteDifferences) {
  auto mask = torch::rand({10, 10}, torch::kDouble) < 0.4;
  auto a = torch::randn({10, 10}, torch::kDouble).mul(mask);
  a = a / (at::linalg_matrix_norm(a, 2).item<double>() * 1.1);
  const auto l = CsrMatrix::from_dense(a);
  struct Case {
    int64_t cin, cout;
    bool weight_grad;
  };
  for (const Case c : {Case{3, 2, true}, Case{1, 3, true}, Case{2, 2, false}}) {
    const int64_t k = 4;
    auto x = torch::randn({2, c.cin, 10}, torch::kDouble).requires_grad_(true);
    auto w = (torch::randn({c.cin, k, c.cout}, torch::kDouble) / std::sqrt(double(c.cin * k)))
                 .requires_grad_(c.weight_grad);
    auto b = torch::randn({c.cout}, torch::kDouble).requires_grad_(true);
    auto result = gradcheck([&](const std::vector<at::Tensor>& in) { return cheb_conv(in[0], l, in[1], in[2]); },
                            {x, w, b});
    EXPECT_EQ(result.checked, x.numel() + (c.weight_grad ? w.numel() : 0) + b.numel());
    EXPECT_LT(result.max_rel_error, 1e-8) << c.cin << " -> " << c.cout << ": " << result.worst;
  }
}

// The fused layer (values without gradient) and the recurrence composed of differentiable products (values with
// gradient) are two independent computations of the same output and input/weight/bias gradients.
TEST_F(ChebConvTest, FusedAndComposedPathsAgree) {
  auto [l, dense] = random_laplacian(40, torch::kDouble);
  const auto l_grad = l.with_values(l.values().clone().requires_grad_(true));
  auto x = torch::randn({3, 4, 40}, torch::kDouble);
  auto w = torch::randn({4, 5, 6}, torch::kDouble);
  auto b = torch::randn({6}, torch::kDouble);
  const auto g = torch::randn({3, 6, 40}, torch::kDouble);
  std::vector<at::Tensor> grads[2];
  at::Tensor outs[2];
  for (int path = 0; path < 2; ++path) {
    auto xi = x.clone().requires_grad_(true), wi = w.clone().requires_grad_(true), bi = b.clone().requires_grad_(true);
    outs[path] = cheb_conv(xi, path == 0 ? l : l_grad, wi, bi);
    outs[path].backward(g);
    grads[path] = {xi.grad(), wi.grad(), bi.grad()};
  }
  EXPECT_LT(relative_error(outs[0], outs[1]), 1e-14);
  for (size_t i = 0; i < 3; ++i) EXPECT_LT(relative_error(grads[0][i], grads[1][i]), 1e-13) << "gradient " << i;
}

// Chunks of maps (one, two with a shorter last chunk, all) give the same output and gradients: each map's
// recurrence is independent of the others', and the weight's gradient sums over the chunks.
TEST_F(ChebConvTest, ChunksOfMapsGiveTheSameResult) {
  auto [l, dense] = random_laplacian(30, torch::kDouble);
  const auto x = torch::randn({5, 3, 30}, torch::kDouble);
  const auto w = torch::randn({3, 4, 2}, torch::kDouble);
  const auto b = torch::randn({2}, torch::kDouble);
  const auto g = torch::randn({5, 2, 30}, torch::kDouble);
  const int64_t one_map = 30 * 3 * 8;
  std::vector<at::Tensor> reference;
  for (int64_t chunk_bytes : {int64_t{1} << 30, int64_t{1}, 2 * one_map}) {
    auto xi = x.clone().requires_grad_(true), wi = w.clone().requires_grad_(true), bi = b.clone().requires_grad_(true);
    const auto out = cheb_conv(xi, l, wi, bi, chunk_bytes);
    out.backward(g);
    const std::vector<at::Tensor> results{out.detach(), xi.grad(), wi.grad(), bi.grad()};
    if (reference.empty()) {
      reference = results;
      EXPECT_LT(relative_error(out, dense_cheb_conv(x, dense, w, b)), 1e-13);
      continue;
    }
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_LT(relative_error(results[i], reference[i]), 1e-14) << "chunk_bytes " << chunk_bytes << ", result " << i;
    }
  }
}

// The CPU work buffers kept between calls: a small call after a large one, another dtype, and after a release,
// each still equals the dense definition (a stale or too short buffer would show).
TEST_F(ChebConvTest, WorkBuffersKeptBetweenCallsServeCallsOfAnySizeAndDtype) {
  auto [l_big, dense_big] = random_laplacian(50, torch::kDouble);
  auto [l_small, dense_small] = random_laplacian(11, torch::kDouble);
  const auto w = torch::randn({3, 4, 2}, torch::kDouble);
  const auto b = torch::randn({2}, torch::kDouble);
  for (int round = 0; round < 2; ++round) {
    const auto x_big = torch::randn({4, 3, 50}, torch::kDouble);
    EXPECT_LT(relative_error(cheb_conv(x_big, l_big, w, b), dense_cheb_conv(x_big, dense_big, w, b)), 1e-13);
    const auto x_small = torch::randn({2, 3, 11}, torch::kDouble);
    EXPECT_LT(relative_error(cheb_conv(x_small, l_small, w, b), dense_cheb_conv(x_small, dense_small, w, b)), 1e-13);
    const auto l32 = l_small.to(torch::kCPU, torch::kFloat);
    const auto out32 = cheb_conv(x_small.to(torch::kFloat), l32, w.to(torch::kFloat), b.to(torch::kFloat));
    EXPECT_LT(relative_error(out32.to(torch::kDouble), dense_cheb_conv(x_small, dense_small, w, b)), 1e-5);
    sphaera::models::release_cheb_conv_workspace();
  }
}

TEST_F(ChebConvTest, SecondDerivativesAreRefusedWithAClearError) {
  auto [l, dense] = random_laplacian(7, torch::kDouble);
  auto x = torch::randn({1, 2, 7}, torch::kDouble).requires_grad_(true);
  auto w = torch::randn({2, 3, 2}, torch::kDouble);
  auto y = cheb_conv(x, l, w, at::Tensor()).pow(2).sum();
  try {
    torch::autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true);
    ADD_FAILURE() << "create_graph=true was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("second derivatives are not supported"), std::string::npos) << e.what();
  }
}

TEST_F(ChebConvTest, GradientWithRespectToLaplacianValuesMatchesFiniteDifferences) {
  auto [l, dense] = random_laplacian(8, torch::kDouble);
  auto values = l.values().clone().requires_grad_(true);
  auto x = torch::randn({2, 2, 8}, torch::kDouble);
  auto w = torch::randn({2, 3, 2}, torch::kDouble);
  auto result = gradcheck(
      [&](const std::vector<at::Tensor>& in) { return cheb_conv(x, l.with_values(in[0]), w, at::Tensor()); }, {values});
  EXPECT_LT(result.max_rel_error, 1e-8) << result.worst;
}

TEST_F(ChebConvTest, RejectsBadShapesAndDtypesNamingTheLayer) {
  auto [l, dense] = random_laplacian(6, torch::kDouble);
  auto x = torch::randn({2, 3, 6}, torch::kDouble);
  auto w = torch::randn({3, 2, 4}, torch::kDouble);
  auto message = [&](auto&& f) {
    try {
      f();
    } catch (const sphaera::core::InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message([&] { cheb_conv(x[0], l, w, {}); }).rfind("ChebConv: input must be [B, Cin, V]", 0), 0u);
  EXPECT_NE(message([&] {
              cheb_conv(x, l, torch::randn({2, 2, 4}, torch::kDouble), {});
            }).find("3 channels"),
            std::string::npos);
  EXPECT_NE(message([&] { cheb_conv(x.to(torch::kFloat), l, w.to(torch::kFloat), {}); }).find("Laplacian is Double"),
            std::string::npos);
  EXPECT_NE(message([&] { cheb_conv(x, l, w.to(torch::kFloat), {}); }).find("ChebConv: weight is Float"),
            std::string::npos);
  EXPECT_NE(message([&] { cheb_conv(x, l, w, torch::zeros({5}, torch::kDouble)); }).find("ChebConv: bias"),
            std::string::npos);
  EXPECT_NE(message([&] {
              cheb_conv(torch::randn({2, 3, 7}, torch::kDouble), l, w, {});
            }).find("V = 7"),
            std::string::npos);
  EXPECT_THROW(ChebConv(ChebConvOptions(3, 4, 0), std::make_shared<const CsrMatrix>(l)),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(ChebConv(ChebConvOptions(3, 4, 2), std::shared_ptr<const CsrMatrix>()), sphaera::core::InvalidArgument);
}

// ---- module ------------------------------------------------------------------------------------------------------

TEST_F(ChebConvTest, HeInitialisation) {
  auto [l, dense] = random_laplacian(5, torch::kFloat);
  const int64_t cin = 16, k = 5, cout = 64;
  ChebConv conv(ChebConvOptions(cin, cout, k), std::make_shared<const CsrMatrix>(l));
  EXPECT_EQ(conv->weight.sizes(), (std::vector<int64_t>{cin, k, cout}));
  const double expected = std::sqrt(2.0 / (cin * k));
  // n = 5120 normal draws: the sample std has relative standard error 1/sqrt(2n) ≈ 1%, the mean has standard
  // error std/sqrt(n) ≈ 1.4% of std. 5% bounds are ≥ 3.5 standard errors (false failure < 1e-3) and still reject
  // a wrong fan (e.g. sqrt(2/Cin) or sqrt(1/(Cin·K)), off by ≥ 29%).
  const auto w = conv->weight.detach().to(torch::kDouble);
  EXPECT_NEAR(w.std().item<double>() / expected, 1.0, 0.05);
  EXPECT_NEAR(w.mean().item<double>() / expected, 0.0, 0.05);
  EXPECT_TRUE(torch::equal(conv->bias, torch::zeros({cout})));
  ChebConv no_bias(ChebConvOptions(cin, cout, k).bias(false), std::make_shared<const CsrMatrix>(l));
  EXPECT_FALSE(no_bias->bias.defined());
  EXPECT_EQ(no_bias->parameters().size(), 1u);
}

TEST_F(ChebConvTest, ModuleMatchesFunctionalAndFollowsDtype) {
  auto [l, dense] = random_laplacian(10, torch::kFloat);
  ChebConv conv(ChebConvOptions(3, 2, 3), std::make_shared<const CsrMatrix>(l));
  auto x = torch::randn({4, 3, 10});
  EXPECT_TRUE(torch::equal(conv->forward(x), cheb_conv(x, l, conv->weight, conv->bias)));
  // .to(double): parameters convert, the Laplacian follows the input at forward time.
  conv->to(torch::kDouble);
  auto x64 = x.to(torch::kDouble);
  auto y = conv->forward(x64);
  EXPECT_EQ(y.scalar_type(), torch::kDouble);
  EXPECT_LT(relative_error(y, cheb_conv(x64, l.to(torch::kCPU, torch::kDouble), conv->weight, conv->bias)), 1e-15);
  EXPECT_EQ(conv->laplacian(torch::kDouble, torch::kCPU)->values().scalar_type(), torch::kDouble);
}

TEST_F(ChebConvTest, ProviderIsAskedForTheInputDtypeAndDevice) {
  auto [l, dense] = random_laplacian(6, torch::kDouble);
  std::vector<c10::ScalarType> asked;
  sphaera::models::LaplacianProvider provider = [&, l = l](c10::ScalarType dtype, c10::Device device) {
    asked.push_back(dtype);
    return std::make_shared<const CsrMatrix>(l.to(device, dtype));
  };
  ChebConv conv(ChebConvOptions(2, 2, 2), provider);
  conv->forward(torch::randn({1, 2, 6}));
  conv->to(torch::kDouble);
  conv->forward(torch::randn({1, 2, 6}, torch::kDouble));
  EXPECT_EQ(asked, (std::vector<c10::ScalarType>{torch::kFloat, torch::kDouble}));
}

TEST_F(ChebConvTest, SaveLoadGivesIdenticalOutputAndKeepsTheLaplacianOut) {
  auto [l, dense] = random_laplacian(12, torch::kFloat);
  auto lap = std::make_shared<const CsrMatrix>(l);
  ChebConv conv(ChebConvOptions(3, 5, 4), lap);
  torch::NoGradGuard no_grad;
  conv->bias.uniform_(-1, 1);  // non-trivial bias
  std::stringstream stream;
  torch::save(conv, stream);
  torch::manual_seed(99);
  ChebConv fresh(ChebConvOptions(3, 5, 4), lap);
  auto x = torch::randn({2, 3, 12});
  EXPECT_FALSE(torch::equal(fresh->forward(x), conv->forward(x)));
  torch::load(fresh, stream);
  EXPECT_TRUE(torch::equal(fresh->forward(x), conv->forward(x)));
  // Only the parameters are module state: no Laplacian, no buffers.
  EXPECT_EQ(conv->named_parameters().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_TRUE(conv->buffers().empty());
}

TEST_F(ChebConvTest, RunsOnCudaWhenAvailable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto [l, dense] = random_laplacian(10, torch::kFloat);
  ChebConv conv(ChebConvOptions(2, 3, 3), std::make_shared<const CsrMatrix>(l));
  auto x = torch::randn({2, 2, 10});
  auto cpu = conv->forward(x);
  conv->to(torch::kCUDA);
  EXPECT_LT(relative_error(conv->forward(x.cuda()).cpu(), cpu), 1e-5);
}

}  // namespace
