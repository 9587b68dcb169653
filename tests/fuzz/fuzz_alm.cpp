// Fuzz target: the a_lm FITS reader (sphaera/data_tools/alm_fits_arrays.h) over cfitsio.
//
// The input is written to a file of this process's scratch directory on /dev/shm (the readers take a path),
// then sniffed (sniff_fits) and read with read_alm_array (first table; extension 2, as hdu=2 of healpy) and
// read_alm_all_array. Errors must be core::InvalidArgument; what is read must be consistent.
#include <cstdint>
#include <string>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/alm_fits_arrays.h"
#include "tests/fuzz/fuzz_common.h"

using sphaera::core::InvalidArgument;
namespace dt = sphaera::data_tools;

namespace {

void check(const dt::AlmArray& a, const char* what) {
  const auto size = static_cast<size_t>(a.lmax + 1);
  FUZZ_ASSERT(a.components >= 1 && a.lmax >= 0 && a.lmax <= dt::kMaxAlmFileLmax && a.mmax >= 0 &&
                  a.mmax <= a.lmax && a.values.size() == static_cast<size_t>(a.components) * size * size,
              "%s: components %lld, lmax %lld, mmax %lld, %zu values", what, static_cast<long long>(a.components),
              static_cast<long long>(a.lmax), static_cast<long long>(a.mmax), a.values.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = sphaera::fuzz::scratch_path("alm.fits");
  sphaera::fuzz::write_file(path, data, size);

  dt::FitsContent content = dt::FitsContent::kOther;
  try {
    content = dt::sniff_fits(path);  // throws only for a missing file or a directory
  } catch (const InvalidArgument& e) {
    FUZZ_ASSERT(false, "sniff_fits threw for an existing file: %s", e.what());
  }
  (void)dt::fits_content_name(content);
  try {
    check(dt::read_alm_array(path), "read_alm_array");
  } catch (const InvalidArgument&) {
  }
  try {
    check(dt::read_alm_array(path, 2), "read_alm_array(hdu 2)");
  } catch (const InvalidArgument&) {
  }
  try {
    check(dt::read_alm_all_array(path), "read_alm_all_array");
  } catch (const InvalidArgument&) {
  }
  return 0;
}
