#pragma once
/// The CUDA kernels of core/sparse.h, through cuSPARSE's generic API (private to core; built only when
/// SPHAERA_WITH_CUDA). Every function runs on the current CUDA stream of the tensors' device, asynchronously:
/// no host synchronisation, no host copies.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace sphaera::core::detail {

/// y [rows, N] = A x for A in CSR (`row_ptr` [rows + 1] and `col` [nnz] of one index type, int32 or int64;
/// `values` [nnz] float32/float64) and x [cols, N] row-major of the values' dtype (cusparseSpMM).
at::Tensor cusparse_spmm(const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& values,
                         const at::Tensor& x, int64_t rows, int64_t cols);

/// y ← alpha · A x + beta · y in place (x, y row-major with unit column stride, rows any distance apart: column
/// slices of wider matrices; beta = 0 ignores y's old values).
void cusparse_spmm_into(const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& values, const at::Tensor& x,
                        const at::Tensor& y, int64_t rows, int64_t cols, double alpha, double beta);

/// g_val [nnz]: g_val[e] = <g[row(e), :], x[col(e), :]>, the gradient of A x with respect to A's values, for
/// g [rows, N] and x [cols, N] row-major (cusparseSDDMM on A's pattern).
at::Tensor cusparse_value_grad(const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& g,
                               const at::Tensor& x, int64_t rows, int64_t cols);

}  // namespace sphaera::core::detail
