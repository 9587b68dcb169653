// The peer of `sphaera map2alm` as a whole process: a small HEALPix C++ program that reads a HEALPix FITS map,
// computes its a_lm (map2alm_iter with unit ring weights, as healpy's use_weights=False) and writes them with
// write_Alm_to_fits in float64. Used to compare whole-process time and memory:
//
//   /usr/bin/time -v ./build/bench/healpix_map2alm_peer map.fits alm.fits 2048 0
//   /usr/bin/time -v ./build/sphaera map2alm map.fits --out alm.fits --lmax 2048 --iter 0
//
// Deliberately plain HEALPix C++ (no Sphaera, no LibTorch): what a HEALPix user would write. libsharp inside
// HEALPix C++ uses OpenMP (all cores unless OMP_NUM_THREADS says otherwise).
#include <alm.h>
#include <alm_fitsio.h>
#include <alm_healpix_tools.h>
#include <datatypes.h>
#include <healpix_map.h>
#include <healpix_map_fitsio.h>
#include <xcomplex.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int usage() {
  std::fprintf(stderr,
               "usage: healpix_map2alm_peer IN_MAP.fits OUT_ALM.fits LMAX [ITER]\n"
               "  reads column 1 of IN_MAP.fits (any ORDERING), map2alm_iter with ITER steps (default 0) and unit\n"
               "  ring weights, writes the a_lm (mmax = LMAX, float64) to OUT_ALM.fits (replaced if it exists)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) return usage();
  const std::string in = argv[1], out = argv[2];
  char* end = nullptr;
  const long lmax = std::strtol(argv[3], &end, 10);
  if (*end != '\0' || lmax < 0) return usage();
  long iter = 0;
  if (argc == 5) {
    iter = std::strtol(argv[4], &end, 10);
    if (*end != '\0' || iter < 0) return usage();
  }
  try {
    auto t = std::chrono::steady_clock::now();
    Healpix_Map<double> map;
    read_Healpix_map_from_fits(in, map, 1, 2);
    if (map.Scheme() == NEST) map.swap_scheme();  // the transform wants RING
    std::fprintf(stderr, "read: %s: nside %d (%.3f s)\n", in.c_str(), map.Nside(), seconds_since(t));

    t = std::chrono::steady_clock::now();
    Alm<xcomplex<double>> alm(static_cast<int>(lmax), static_cast<int>(lmax));
    const arr<double> weight(2 * map.Nside(), 1.0);
    map2alm_iter(map, alm, static_cast<int>(iter), weight);
    std::fprintf(stderr, "map2alm: lmax %ld, iter %ld, unit weights (%.3f s)\n", lmax, iter, seconds_since(t));

    t = std::chrono::steady_clock::now();
    std::remove(out.c_str());  // HEALPix C++ refuses to overwrite
    write_Alm_to_fits(out, alm, static_cast<int>(lmax), static_cast<int>(lmax), PLANCK_FLOAT64);
    std::fprintf(stderr, "wrote: %s (%.3f s)\n", out.c_str(), seconds_since(t));
  } catch (const PlanckError& e) {
    std::fprintf(stderr, "healpix_map2alm_peer: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "healpix_map2alm_peer: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
