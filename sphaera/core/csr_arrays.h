#pragma once
/// Sparse matrices in CSR form on plain arrays (no LibTorch): what the graph builders produce and the Matrix
/// Market writer reads, so that the torch-free `sphaera graph` needs no tensors. core::CsrMatrix (sparse.h)
/// wraps the same layout in tensors.
#include <cstdint>

#include "sphaera/core/buffer.h"

namespace sphaera::core {

/// A read-only view of a CSR matrix: int64 row pointers, int32 column indices (sorted within rows), float64
/// values.
struct CsrView {
  int64_t rows = 0;
  int64_t cols = 0;
  const int64_t* row_ptr = nullptr;  ///< [rows + 1]
  const int32_t* col = nullptr;      ///< [nnz]
  const double* val = nullptr;       ///< [nnz]

  int64_t nnz() const { return rows > 0 ? row_ptr[rows] : 0; }
};

/// A CSR matrix that owns its arrays (uninitialised until written).
struct CsrArrays {
  int64_t rows = 0;
  int64_t cols = 0;
  Buffer<int64_t> row_ptr;  ///< [rows + 1]
  Buffer<int32_t> col;      ///< [nnz]
  Buffer<double> val;       ///< [nnz]

  int64_t nnz() const { return rows > 0 ? row_ptr[rows] : 0; }
  CsrView view() const { return {rows, cols, row_ptr.data(), col.data(), val.data()}; }
};

}  // namespace sphaera::core
