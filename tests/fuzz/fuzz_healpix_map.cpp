// Fuzz target: the HEALPix FITS map reader (sphaera/data_tools/healpix_fits_arrays.h) over cfitsio.
//
// The input is written to a file of this process's scratch directory on /dev/shm (the readers take a path),
// then read with read_healpix_map_info and read_healpix_map_array (every column; and one column with the
// expected nside, as the data loaders read multi-channel maps). Errors must be core::InvalidArgument; the
// info and the array must agree.
#include <cstdint>
#include <string>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_fits_arrays.h"
#include "tests/fuzz/fuzz_common.h"

using sphaera::core::InvalidArgument;
namespace dt = sphaera::data_tools;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = sphaera::fuzz::scratch_path("map.fits");
  sphaera::fuzz::write_file(path, data, size);

  dt::HealpixMapInfo info;
  try {
    info = dt::read_healpix_map_info(path);
  } catch (const InvalidArgument&) {
    return 0;
  }
  FUZZ_ASSERT(info.nside >= 1 && info.nside <= 8192 && (info.nside & (info.nside - 1)) == 0 && info.columns >= 1,
              "read_healpix_map_info accepted nside %lld, %lld columns", static_cast<long long>(info.nside),
              static_cast<long long>(info.columns));
  try {
    const dt::MapArray map = dt::read_healpix_map_array(path);
    FUZZ_ASSERT(map.nside == info.nside && map.nest == info.nest && map.columns == info.columns &&
                    map.values.size() == map.columns * map.npix(),
                "read_healpix_map_array disagrees with read_healpix_map_info");
  } catch (const InvalidArgument&) {
  }
  try {
    const dt::MapArray one = dt::read_healpix_map_array(path, info.nside, info.columns - 1);
    FUZZ_ASSERT(one.columns == 1 && one.values.size() == one.npix(), "one column read as %lld columns",
                static_cast<long long>(one.columns));
  } catch (const InvalidArgument&) {
  }
  return 0;
}
