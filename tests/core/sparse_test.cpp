#include "sphaera/core/sparse.h"

#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

using sphaera::core::CsrMatrix;
using sphaera::core::spmm;

namespace {

// A random sparse matrix with about `density` of its entries set, and its dense twin.
std::pair<CsrMatrix, at::Tensor> random_sparse(int64_t rows, int64_t cols, double density, at::ScalarType dtype) {
  auto mask = torch::rand({rows, cols}, torch::kDouble) < density;
  auto dense = torch::randn({rows, cols}, torch::kDouble).mul(mask).to(dtype);
  return {CsrMatrix::from_dense(dense), dense};
}

class SparseTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(7); }
};

TEST_F(SparseTest, ProductEqualsDenseProductFloat64) {
  auto [a, dense] = random_sparse(37, 23, 0.2, torch::kDouble);
  auto x = torch::randn({23, 5}, torch::kDouble);
  EXPECT_LT(sphaera::testing::relative_error(spmm(a, x), dense.matmul(x)), 1e-15);
  auto v = torch::randn({23}, torch::kDouble);
  EXPECT_LT(sphaera::testing::relative_error(spmm(a, v), dense.matmul(v)), 1e-15);
}

TEST_F(SparseTest, ProductEqualsDenseProductFloat32) {
  auto [a, dense] = random_sparse(64, 64, 0.1, torch::kFloat);
  auto x = torch::randn({64, 9}, torch::kFloat);
  EXPECT_LT(sphaera::testing::relative_error(spmm(a, x), dense.matmul(x)), 1e-6);
}

TEST_F(SparseTest, FromCooSumsDuplicatesAndSorts) {
  auto row = torch::tensor({2, 0, 2, 1, 0}, torch::kLong);
  auto col = torch::tensor({1, 2, 1, 0, 0}, torch::kLong);
  auto val = torch::tensor({1.0, 2.0, 3.0, 4.0, 5.0}, torch::kDouble);
  auto a = CsrMatrix::from_coo(3, 3, row, col, val);
  EXPECT_EQ(a.nnz(), 4);
  auto expected = torch::tensor({{5.0, 0.0, 2.0}, {4.0, 0.0, 0.0}, {0.0, 4.0, 0.0}}, torch::kDouble);
  EXPECT_TRUE(torch::equal(a.to_dense(), expected));
  EXPECT_TRUE(torch::equal(a.col_index(), torch::tensor({0, 2, 0, 1}, torch::kInt)));
  EXPECT_TRUE(torch::equal(a.diagonal(), torch::tensor({5.0, 0.0, 0.0}, torch::kDouble)));
}

TEST_F(SparseTest, TransposeMatchesDenseTranspose) {
  auto [a, dense] = random_sparse(31, 17, 0.3, torch::kDouble);
  EXPECT_TRUE(torch::equal(a.transpose().to_dense(), dense.t()));
  EXPECT_TRUE(torch::equal(a.transpose().transpose().to_dense(), dense));
  auto b = a.with_values(a.values() * 2);
  EXPECT_TRUE(torch::equal(b.transpose().to_dense(), dense.t() * 2));
}

TEST_F(SparseTest, GradientWithRespectToInputMatchesFiniteDifferences) {
  auto [a, dense] = random_sparse(12, 9, 0.4, torch::kDouble);
  auto x = torch::randn({9, 3}, torch::kDouble).requires_grad_(true);
  auto result = sphaera::testing::gradcheck([&](const std::vector<at::Tensor>& in) { return spmm(a, in[0]); }, {x});
  EXPECT_EQ(result.checked, 27);
  EXPECT_LT(result.max_rel_error, 1e-8) << result.worst;
}

TEST_F(SparseTest, GradientWithRespectToValuesMatchesFiniteDifferences) {
  auto [a, dense] = random_sparse(10, 14, 0.3, torch::kDouble);
  auto values = a.values().clone().requires_grad_(true);
  auto x = torch::randn({14, 4}, torch::kDouble).requires_grad_(true);
  auto result = sphaera::testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return spmm(a.with_values(in[0]), in[1]); }, {values, x});
  EXPECT_EQ(result.checked, a.nnz() + 56);
  EXPECT_LT(result.max_rel_error, 1e-8) << result.worst;
}

// The values' gradient dL/dA[r, c] = <dL/dy[r, :], x[c, :]> against the same sum taken by LibTorch, for widths
// that take every path of the kernel (four 64-byte vectors at a time, one, then element by element).
void expect_value_grad_matches_gathered_sum(at::ScalarType dtype, double tolerance) {
  auto [a_cpu, dense] = random_sparse(120, 90, 0.08, dtype);
  const auto rows = a_cpu.row_index(), cols = a_cpu.col_index().to(torch::kLong);
  for (int64_t n : {1, 3, 8, 16, 17, 64, 70, 130}) {
    const auto x = torch::randn({90, n}, dtype);
    const auto g = torch::randn({120, n}, dtype);
    const auto values = a_cpu.values().clone().requires_grad_(true);
    const auto y = spmm(a_cpu.with_values(values), x);
    const auto grad = torch::autograd::grad({y}, {values}, {g})[0];
    const auto expected = (g.index_select(0, rows).to(torch::kDouble) * x.index_select(0, cols).to(torch::kDouble))
                              .sum(1);
    EXPECT_LT(sphaera::testing::relative_error(grad.to(torch::kDouble), expected), tolerance) << "N = " << n;
  }
}

TEST_F(SparseTest, ValueGradientEqualsGatheredSumFloat64) {
  expect_value_grad_matches_gathered_sum(torch::kDouble, 1e-14);
}

TEST_F(SparseTest, ValueGradientEqualsGatheredSumFloat32) {
  expect_value_grad_matches_gathered_sum(torch::kFloat, 1e-6);
}

TEST_F(SparseTest, GradientOfRepeatedProductsAccumulates) {
  // Chebyshev-like chain 2 A (A x) - x: gradients must accumulate through both uses of A.
  auto [a, dense] = random_sparse(15, 15, 0.3, torch::kDouble);
  auto x = torch::randn({15, 2}, torch::kDouble).requires_grad_(true);
  auto result = sphaera::testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return 2 * spmm(a, spmm(a, in[0])) - in[0]; }, {x});
  EXPECT_LT(result.max_rel_error, 1e-8) << result.worst;
}

// The backward computes its gradients without a graph: asking for one (create_graph) is refused clearly rather
// than answered with gradients whose own derivative would silently be zero.
TEST_F(SparseTest, SecondDerivativesAreRefusedWithAClearError) {
  auto [a, dense] = random_sparse(6, 6, 0.5, torch::kDouble);
  auto x = torch::randn({6, 2}, torch::kDouble).requires_grad_(true);
  const auto y = spmm(a, x).pow(2).sum();
  try {
    torch::autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true);
    FAIL() << "create_graph through spmm did not throw";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("second derivatives through the sparse product are not supported"),
              std::string::npos)
        << e.what();
  }
  // First derivatives are unaffected.
  const auto g = torch::autograd::grad({y}, {x})[0];
  EXPECT_LT(sphaera::testing::relative_error(g, 2 * dense.t().matmul(dense.matmul(x.detach()))), 1e-14);
}

TEST_F(SparseTest, RejectsMismatchedShapesAndDtypes) {
  auto [a, dense] = random_sparse(4, 5, 0.5, torch::kDouble);
  EXPECT_THROW(spmm(a, torch::randn({4, 2}, torch::kDouble)), sphaera::core::InvalidArgument);
  EXPECT_THROW(spmm(a, torch::randn({5, 2}, torch::kFloat)), sphaera::core::InvalidArgument);
  EXPECT_THROW(spmm(a, torch::randn({5, 2, 2}, torch::kDouble)), sphaera::core::InvalidArgument);
  EXPECT_THROW(CsrMatrix(2, 2, torch::tensor({0, 1}, torch::kLong), torch::tensor({0}, torch::kInt),
                         torch::tensor({1.0}, torch::kDouble)),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(CsrMatrix(1, 2, torch::tensor({0, 1}, torch::kLong), torch::tensor({5}, torch::kInt),
                         torch::tensor({1.0}, torch::kDouble)),
               sphaera::core::InvalidArgument);
}

// y <- alpha op(A) x + beta y against the dense computation, both orientations, for the beta values the kernels
// treat apart (0: y unread, NaN included; 1: no scaling; other), and rows long enough to take the vector loop.
void expect_update_matches_dense(at::ScalarType dtype, double tolerance, const at::Device& device) {
  auto [a_cpu, dense_cpu] = random_sparse(300, 200, 0.05, dtype);
  const CsrMatrix a = a_cpu.to(device, dtype);
  const at::Tensor dense = dense_cpu.to(device);
  for (bool transposed : {false, true}) {
    const int64_t rows = transposed ? 200 : 300, cols = transposed ? 300 : 200;
    const at::Tensor op = transposed ? dense.t() : dense;
    for (int64_t n : {1, 13, 64, 127, 130}) {  // every column tile (64, 32, ..., 1) and several of 64
      for (double beta : {0.0, 1.0, -1.0, 0.5}) {
        const double alpha = 2.0;
        const auto x = torch::randn({cols, n}, dtype).to(device);
        auto y = torch::randn({rows, n}, dtype).to(device);
        const at::Tensor expected = alpha * op.matmul(x) + (beta == 0.0 ? 0.0 * y : beta * y);
        if (beta == 0.0) y.fill_(std::numeric_limits<double>::quiet_NaN());
        sphaera::core::spmm_update(a, x, y, alpha, beta, transposed);
        EXPECT_LT(sphaera::testing::relative_error(y, expected), tolerance)
            << (transposed ? "transposed" : "plain") << ", N = " << n << ", beta = " << beta;
      }
    }
  }
}

TEST_F(SparseTest, UpdateEqualsDenseUpdateFloat64) {
  expect_update_matches_dense(torch::kDouble, 1e-14, torch::kCPU);
}

TEST_F(SparseTest, UpdateEqualsDenseUpdateFloat32) {
  expect_update_matches_dense(torch::kFloat, 1e-6, torch::kCPU);
}

// x and y may be column slices of wider matrices (the maps of a chunk stored side by side): only the slice of y
// changes, and it equals the update of contiguous copies.
TEST_F(SparseTest, UpdateOfColumnSlicesEqualsTheUpdateOfCopies) {
  auto [a, dense] = random_sparse(300, 200, 0.05, torch::kDouble);
  for (bool transposed : {false, true}) {
    const int64_t rows = transposed ? 200 : 300, cols = transposed ? 300 : 200;
    const at::Tensor op = transposed ? dense.t() : dense;
    const auto x_wide = torch::randn({cols, 48}, torch::kDouble);
    auto y_wide = torch::randn({rows, 40}, torch::kDouble);
    const at::Tensor x = x_wide.narrow(1, 16, 16), y = y_wide.narrow(1, 8, 16);
    at::Tensor expected = y_wide.clone();
    expected.narrow(1, 8, 16).copy_(2.0 * op.matmul(x) - y);
    sphaera::core::spmm_update(a, x, y, 2.0, -1.0, transposed);
    EXPECT_LT(sphaera::testing::relative_error(y_wide, expected), 1e-14) << (transposed ? "transposed" : "plain");
  }
}

TEST_F(SparseTest, UpdateRejectsMismatchedOperands) {
  auto [a, dense] = random_sparse(4, 5, 0.5, torch::kDouble);
  const auto x = torch::randn({5, 2}, torch::kDouble);
  EXPECT_THROW(sphaera::core::spmm_update(a, x, torch::zeros({5, 2}, torch::kDouble), 1, 0),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(sphaera::core::spmm_update(a, x, torch::zeros({4, 2}, torch::kDouble), 1, 0, true),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(sphaera::core::spmm_update(a, x, torch::zeros({4, 2}, torch::kFloat), 1, 0),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(sphaera::core::spmm_update(a, x, torch::zeros({2, 4}, torch::kDouble).t(), 1, 0),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(sphaera::core::spmm_update(a, torch::randn({3, 5, 2}, torch::kDouble), torch::zeros({3, 4, 2},
               torch::kDouble), 1, 0), sphaera::core::InvalidArgument);
}

// CUDA against the CPU on the same input: product, dx and dA, float64 to 1e-12 and float32 to 1e-5 (relative
// to the largest entry: both sum the same few products, in another order).
void expect_cuda_matches_cpu(at::ScalarType dtype, double tolerance) {
  auto [a, dense] = random_sparse(300, 200, 0.05, dtype);
  const CsrMatrix a_cuda = a.to(torch::kCUDA, dtype);
  for (int64_t n : {1, 7, 64}) {
    auto x = torch::randn({200, n}, dtype).requires_grad_(true);
    auto values = a.values().clone().requires_grad_(true);
    auto x_cuda = x.detach().cuda().requires_grad_(true);
    auto values_cuda = a_cuda.values().clone().requires_grad_(true);
    auto g = torch::randn({300, n}, dtype);
    auto y = spmm(a.with_values(values), x);
    auto y_cuda = spmm(a_cuda.with_values(values_cuda), x_cuda);
    y.backward(g);
    y_cuda.backward(g.cuda());
    EXPECT_TRUE(y_cuda.is_cuda() && x_cuda.grad().is_cuda() && values_cuda.grad().is_cuda());
    EXPECT_LT(sphaera::testing::relative_error(y_cuda.cpu(), y), tolerance) << "product, N = " << n;
    EXPECT_LT(sphaera::testing::relative_error(x_cuda.grad().cpu(), x.grad()), tolerance) << "dx, N = " << n;
    EXPECT_LT(sphaera::testing::relative_error(values_cuda.grad().cpu(), values.grad()), tolerance) << "dA, N = " << n;
  }
}

TEST_F(SparseTest, CudaMatchesCpuFloat64) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_cuda_matches_cpu(torch::kDouble, 1e-12);
}

TEST_F(SparseTest, CudaMatchesCpuFloat32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_cuda_matches_cpu(torch::kFloat, 1e-5);
}

TEST_F(SparseTest, CudaUpdateEqualsDenseUpdate) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_update_matches_dense(torch::kDouble, 1e-12, torch::kCUDA);
  expect_update_matches_dense(torch::kFloat, 1e-5, torch::kCUDA);
}

TEST_F(SparseTest, CudaGradientsMatchFiniteDifferences) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto [a, dense] = random_sparse(10, 14, 0.3, torch::kDouble);
  const CsrMatrix a_cuda = a.to(torch::kCUDA, torch::kDouble);
  auto values = a_cuda.values().clone().requires_grad_(true);
  auto x = torch::randn({14, 4}, torch::kDouble).cuda().requires_grad_(true);
  auto result = sphaera::testing::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return spmm(a_cuda.with_values(in[0]), in[1]); }, {values, x});
  EXPECT_EQ(result.checked, a.nnz() + 56);
  EXPECT_LT(result.max_rel_error, 1e-8) << result.worst;
}

TEST_F(SparseTest, ACopyOnTheDeviceCarriesItsTranspose) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto [a, dense] = random_sparse(31, 17, 0.3, torch::kDouble);
  const CsrMatrix a_cuda = a.to(torch::kCUDA, torch::kDouble);
  EXPECT_TRUE(a_cuda.transpose_permutation().is_cuda());
  EXPECT_TRUE(torch::equal(a_cuda.transpose().to_dense().cpu(), dense.t()));
}

}  // namespace
