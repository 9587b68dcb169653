#pragma once
/// Reader for NumPy .npy files (format 1.0/2.0, little-endian, C order): the peers' reference outputs.
#include <string>

#include <ATen/core/Tensor.h>

namespace sphaera::testing {

/// Loads an .npy file as a CPU tensor of its own dtype (float32/64, int32/64, bool).
at::Tensor load_npy(const std::string& path);

/// Path of a file under tests/data/.
std::string test_data(const std::string& relative);

/// Relative error ||a - b|| / ||b|| (Frobenius, float64).
double relative_error(const at::Tensor& a, const at::Tensor& b);

}  // namespace sphaera::testing
