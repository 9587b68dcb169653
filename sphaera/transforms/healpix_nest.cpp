#include "sphaera/transforms/healpix_nest.h"

#include <healpix_base.h>

#include "sphaera/core/check.h"

namespace sphaera::transforms {

void check_nside(int64_t nside, const std::string& what) {
  SPHAERA_CHECK(nside > 0 && (nside & (nside - 1)) == 0 && nside <= 8192, what,
                ": HEALPix nside must be a power of two between 1 and 8192, got ", nside);
}

void healpix_nest_directions(int64_t nside, const int64_t* pixels, int64_t n, double* out) {
  check_nside(nside);
  const T_Healpix_Base<int64> base(nside, NEST, SET_NSIDE);
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    const vec3 v = base.pix2vec(pixels != nullptr ? pixels[i] : i);
    out[3 * i] = v.x;
    out[3 * i + 1] = v.y;
    out[3 * i + 2] = v.z;
  }
}

}  // namespace sphaera::transforms
