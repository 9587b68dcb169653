#pragma once
/// Matrix Market export of sparse matrices (https://math.nist.gov/MatrixMarket/formats.html), readable by
/// scipy.io.mmread, MATLAB, Julia, SuiteSparse... No LibTorch needed.
#include <string>

#include "sphaera/core/csr_arrays.h"

namespace sphaera::data_tools {

enum class MatrixMarketSymmetry {
  kGeneral,    ///< every stored entry
  kSymmetric,  ///< the lower triangle (row ≥ column) only; the matrix must be symmetric (not checked)
};

struct MatrixMarketOptions {
  MatrixMarketSymmetry symmetry = MatrixMarketSymmetry::kGeneral;
  /// Comment lines written after the banner (each prefixed with '%'; may contain newlines).
  std::string comment;
};

/// Writes `matrix` (core::CsrArrays::view(), or core::CsrMatrix::view() for a CPU float64 matrix) as "%%MatrixMarket matrix coordinate real general|symmetric": a size line
/// "rows cols entries", then one "row col value" line per entry, 1-based, rows in order, values with 17
/// significant digits (exact round trip of float64; float32 values are widened exactly). Formats in parallel
/// blocks (std::to_chars) and writes to a temporary file renamed onto `path` at the end, so `path` appears
/// complete or not at all. Throws core::InvalidArgument naming `path` when it cannot be written.
void write_matrix_market(const std::string& path, const core::CsrView& matrix,
                         const MatrixMarketOptions& options = {});

}  // namespace sphaera::data_tools
