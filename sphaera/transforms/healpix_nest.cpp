#include "sphaera/transforms/healpix_nest.h"

#include <healpix_base.h>

#include "sphaera/core/check.h"

namespace sphaera::transforms {

void check_nside(int64_t nside, const std::string& what) {
  SPHAERA_CHECK(nside > 0 && (nside & (nside - 1)) == 0 && nside <= 8192, what,
                ": HEALPix nside must be a power of two between 1 and 8192, got ", nside);
}

namespace {

// The four faces of a row (0–3, 4–7, 8–11) are one another turned by multiples of π/2 about the z axis, pixel
// for pixel: a pixel's direction is that of its counterpart in the row's first face, turned (exactly: the turns
// only swap and negate coordinates). Besides sparing three quarters of the trigonometry, this keeps every φ
// given to sin and cos below π/2, where its rounding is smallest.
void turned(const vec3& v, int quarter, double* out) {
  const double x[4] = {v.x, -v.y, -v.x, v.y};
  const double y[4] = {v.y, v.x, -v.y, -v.x};
  out[0] = x[quarter];
  out[1] = y[quarter];
  out[2] = v.z;
}

}  // namespace

void healpix_nest_directions(int64_t nside, const int64_t* pixels, int64_t n, double* out) {
  check_nside(nside);
  const T_Healpix_Base<int64> base(nside, NEST, SET_NSIDE);
  const int64_t per_face = nside * nside;
  if (pixels == nullptr && n == 12 * per_face) {  // the whole sky: each first face, then its turns
#pragma omp parallel for schedule(static) if (n > 20000)
    for (int64_t i = 0; i < 3 * per_face; ++i) {
      const int64_t first = (i / per_face) * 4 * per_face + i % per_face;
      const vec3 v = base.pix2vec(first);
      for (int quarter = 0; quarter < 4; ++quarter) turned(v, quarter, out + 3 * (first + quarter * per_face));
    }
    return;
  }
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pixel = pixels != nullptr ? pixels[i] : i;
    const int64_t face = pixel / per_face;
    turned(base.pix2vec((face / 4) * 4 * per_face + pixel % per_face), static_cast<int>(face % 4), out + 3 * i);
  }
}

}  // namespace sphaera::transforms
