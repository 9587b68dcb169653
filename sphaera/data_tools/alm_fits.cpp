// Coefficient files on tensors: alm_fits_arrays.cpp reads and writes them on plain arrays.
#include "sphaera/data_tools/alm_fits.h"

#include <torch/torch.h>

#include <complex>
#include <cstring>

#include "sphaera/core/check.h"

namespace sphaera::data_tools {

namespace {
// complex128 [C, lmax + 1, lmax + 1] holding the array's coefficients (C = 1 squeezed when `squeeze`).
at::Tensor to_tensor(AlmArray&& array, bool squeeze) {
  const int64_t size = array.lmax + 1;
  auto out = torch::empty({array.components, size, size}, torch::kComplexDouble);
  static_assert(sizeof(c10::complex<double>) == sizeof(std::complex<double>));
  std::memcpy(out.data_ptr(), array.values.data(), array.values.size() * sizeof(std::complex<double>));
  return squeeze ? out[0] : out;
}
}  // namespace

void write_alm(const std::string& path, const at::Tensor& alm, AlmPrecision precision) {
  SPHAERA_CHECK(alm.defined() && (alm.dim() == 2 || alm.dim() == 3) && alm.size(-1) == alm.size(-2) &&
                    alm.size(-1) >= 1 && (alm.dim() == 2 || alm.size(0) >= 1),
                path, ": write_alm wants coefficients [lmax + 1, lmax + 1] or [C, lmax + 1, lmax + 1], got ",
                alm.defined() ? alm.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(alm.scalar_type() == torch::kComplexFloat || alm.scalar_type() == torch::kComplexDouble, path,
                ": write_alm wants complex64 or complex128 coefficients, got ", alm.scalar_type());
  auto data = alm.detach().to(torch::kCPU, torch::kComplexDouble);
  if (data.dim() == 2) data = data.unsqueeze(0);
  data = data.contiguous();
  write_alm_array(path, reinterpret_cast<const std::complex<double>*>(data.data_ptr()), data.size(0), data.size(-1) - 1,
                  precision);
}

at::Tensor read_alm(const std::string& path, std::optional<int64_t> hdu) {
  return to_tensor(read_alm_array(path, hdu), true);
}

at::Tensor read_alm_all(const std::string& path) { return to_tensor(read_alm_all_array(path), false); }

}  // namespace sphaera::data_tools
