#pragma once
/// Sparse matrices and their differentiable products with dense matrices.
///
/// Storage is CSR: `row_ptr` int64 [rows + 1], `col_index` int32 [nnz] (so a 12.6M-pixel graph with
/// 266M edges costs 4 bytes per index, not 16 as LibTorch's COO), `values` float32 or float64 [nnz].
/// All three live on one device. Column indices within a row are sorted and unique.
#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>

#include "sphaera/core/csr_arrays.h"

namespace sphaera::core {

class CsrMatrix {
 public:
  CsrMatrix() = default;
  /// Takes CSR arrays as they are; checks shapes, dtypes, devices and index ranges (throws InvalidArgument).
  CsrMatrix(int64_t rows, int64_t cols, at::Tensor row_ptr, at::Tensor col_index, at::Tensor values);

  /// Builds from coordinates (any integer dtype); duplicates are summed, entries sorted by (row, col).
  static CsrMatrix from_coo(int64_t rows, int64_t cols, const at::Tensor& row, const at::Tensor& col,
                            const at::Tensor& values);
  /// Converts a dense 2-D tensor, keeping its non-zero entries.
  static CsrMatrix from_dense(const at::Tensor& dense);
  /// The identity of size n.
  static CsrMatrix identity(int64_t n, at::TensorOptions options);
  /// Takes plain CSR arrays (float64, CPU) without copying: the tensors share ownership of the buffers.
  static CsrMatrix from_arrays(CsrArrays&& arrays);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t nnz() const;
  const at::Tensor& row_ptr() const { return row_ptr_; }
  const at::Tensor& col_index() const { return col_index_; }
  const at::Tensor& values() const { return values_; }
  /// Row index of every stored entry (int64 [nnz]), i.e. the COO rows.
  at::Tensor row_index() const;

  /// Same sparsity pattern, other values (may require grad: products then differentiate through them).
  CsrMatrix with_values(at::Tensor values) const;
  /// Copy on another device and/or dtype (values only change dtype). A copy onto an accelerator carries the
  /// transpose's pattern along (computed on the host once), so products there never go back to the host.
  CsrMatrix to(at::Device device, at::ScalarType dtype) const;
  /// The transpose, in CSR. Its pattern is computed once per pattern (shared by `with_values` copies);
  /// its values are `values().index_select(0, transpose_permutation())`, so gradients flow through them.
  CsrMatrix transpose() const;
  /// Permutation such that `transpose().values() == values().index_select(0, transpose_permutation())`.
  const at::Tensor& transpose_permutation() const;

  at::Tensor to_dense() const;
  /// Diagonal entries (zeros where none is stored), [min(rows, cols)].
  at::Tensor diagonal() const;
  /// Memory held by the three arrays, in bytes.
  int64_t storage_bytes() const;
  /// The arrays as plain pointers; the matrix must be float64 on the CPU with contiguous arrays (throws
  /// InvalidArgument otherwise) and outlive the view.
  CsrView view() const;

 private:
  struct TransposeCache;
  struct Unchecked {};
  CsrMatrix(Unchecked, int64_t rows, int64_t cols, at::Tensor row_ptr, at::Tensor col_index, at::Tensor values);
  const TransposeCache& transpose_cache() const;
  // The int32 row pointers of the matrix and its transpose on the matrix's device (cuSPARSE), once.
  void make_device_indices() const;
  friend at::Tensor spmm(const CsrMatrix& a, const at::Tensor& x);
  friend void spmm_update(const CsrMatrix& a, const at::Tensor& x, const at::Tensor& y, double alpha, double beta,
                          bool transposed);
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  at::Tensor row_ptr_;
  at::Tensor col_index_;
  at::Tensor values_;
  std::shared_ptr<TransposeCache> transpose_;
};

/// y = A x for A [rows, cols] sparse and x [cols, N] dense (or [cols]); returns [rows, N] (or [rows]).
/// Differentiable with respect to x and to A.values() (exact backward: dx = Aᵀ dy, dA_ij = dy_i · x_j).
/// On CPU an OpenMP row-parallel kernel vectorised over the N columns; on CUDA cuSPARSE (cusparseSpMM for
/// the product and for dx through the cached transpose, cusparseSDDMM for dA), asynchronous, no host copies;
/// other devices use LibTorch ops.
at::Tensor spmm(const CsrMatrix& a, const at::Tensor& x);

/// y ← alpha · op(A) x + beta · y in place, outside autograd, where op(A) is A, or Aᵀ with `transposed` (through
/// the cached transpose pattern; its values are gathered per call). x [op(A) cols, N], y [op(A) rows, N], both of
/// A's dtype and device, y not overlapping x; y row-major with unit column stride, contiguous or a column slice of
/// a wider matrix (x too, else x is copied): the products of several maps stored side by side, in place. beta = 0
/// ignores y's old values (NaN included). The kernels of spmm, for hand-written backwards that chain products
/// (models::cheb_conv's).
void spmm_update(const CsrMatrix& a, const at::Tensor& x, const at::Tensor& y, double alpha, double beta,
                 bool transposed = false);

}  // namespace sphaera::core
