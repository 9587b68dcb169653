#pragma once
/// HEALPix NEST pixels on plain arrays (no LibTorch): what HealpixGrid and the torch-free verbs share.
#include <cstdint>
#include <string>

namespace sphaera::transforms {

/// Checks that nside is a power of two in [1, 8192]; `what` names the setting in the error message.
void check_nside(int64_t nside, const std::string& what = "nside");

/// Unit vectors of NEST pixels at `nside` into out [n, 3] (row-major): pixels[0..n), or all 12·nside² pixels
/// in NEST order when `pixels` is null. A pixel's vector is HEALPix C++'s pix2vec of its counterpart in the
/// first face of its row of faces (0, 4 or 8), turned about the z axis by π/2 per face (exactly): so sin and
/// cos only see φ < π/2, and the faces of a row are exact turns of one another (which the graph search uses).
/// Threads: OpenMP's.
void healpix_nest_directions(int64_t nside, const int64_t* pixels, int64_t n, double* out);

}  // namespace sphaera::transforms
