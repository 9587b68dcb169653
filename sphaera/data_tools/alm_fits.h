#pragma once
/// Spherical harmonic coefficients (a_lm) in FITS files, on tensors: the format and its differences from
/// healpy are described in alm_fits_arrays.h, which reads and writes them on plain arrays.
///
/// In memory the coefficients of a real map are complex, [lmax + 1, lmax + 1] indexed [l, m] with
/// 0 <= m <= l (entries with m > l are zero), or [C, lmax + 1, lmax + 1] for C components (e.g. T, E, B).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

#include "sphaera/data_tools/alm_fits_arrays.h"

namespace sphaera::data_tools {

/// Writes coefficients, complex64 or complex128 [lmax + 1, lmax + 1] or [C, lmax + 1, lmax + 1] (any device),
/// as write_alm_array does.
/// Throws core::InvalidArgument naming the file for a tensor that is not complex, not of that shape, or has a
/// non-zero entry with m > l (it would be silently lost).
void write_alm(const std::string& path, const at::Tensor& alm, AlmPrecision precision = AlmPrecision::kFloat64);

/// Reads the coefficients of one table extension as complex128 [lmax + 1, lmax + 1] on the CPU, as
/// read_alm_array does (same `hdu` numbering, same errors).
at::Tensor read_alm(const std::string& path, std::optional<int64_t> hdu = std::nullopt);

/// Reads every table extension as one component: complex128 [C, lmax + 1, lmax + 1] (C >= 1), as
/// read_alm_all_array does.
at::Tensor read_alm_all(const std::string& path);

}  // namespace sphaera::data_tools
