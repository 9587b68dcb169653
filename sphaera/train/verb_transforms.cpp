// `sphaera map2alm` and `sphaera alm2map`: the spherical harmonic transform utilities users of healpy expect,
// on FITS files that healpy reads and writes (maps in any ORDERING, alm as healpy.write_alm). Everything is
// computed in float64 by the transform Sht differentiates (transforms/ring_transform.h), on plain arrays: these
// verbs do not load LibTorch. One summary line per step, with its time, goes to stderr.
#include <cmath>
#include <complex>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "sphaera/core/buffer.h"
#include "sphaera/core/check.h"
#include "sphaera/data_tools/alm_fits_arrays.h"
#include "sphaera/data_tools/healpix_fits_arrays.h"
#include "sphaera/train/cli_base.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/ring_transform.h"

namespace sphaera::train {

namespace {

using data_tools::FitsContent;

// Legendre tables may take this much in auto mode (transforms::ShtOptions' default memory budget).
constexpr int64_t kTableBudget = int64_t{1} << 30;
// The largest band limit (as transforms::Sht).
constexpr int64_t kMaxLmax = 16384;

const char* precision_name(bool float32) { return float32 ? "float32" : "float64"; }
const char* ordering_name(bool nest) { return nest ? "NESTED" : "RING"; }

// Auto mode: one map is transformed on the fly (recomputing the Legendre functions is faster than building
// tables and reading them back); several use tables when these fit in the budget.
bool auto_precompute(const std::vector<transforms::Ring>& rings, int64_t lmax, int64_t maps) {
  if (maps <= 1) return false;
  std::vector<double> theta;
  for (const auto& ring : rings) theta.push_back(ring.theta);
  return transforms::LegendrePlan::table_bytes(theta, lmax, lmax) <= kTableBudget;
}

// The HEALPix transform for maps stored in NEST or RING order.
transforms::RingTransform healpix_transform(int64_t nside, bool nest, int64_t lmax, bool precompute,
                                            std::vector<transforms::Ring> rings) {
  return transforms::RingTransform(std::move(rings), nest ? transforms::healpix_ring_to_nest(nside) : nullptr, lmax,
                                   precompute);
}

// ---- map2alm ----

struct Map2AlmArgs {
  std::string in, out;
  int64_t lmax = -1;
  bool lmax_given = false;
  int iter = 3;
  bool ring_weights = false;
  std::string mode = "auto";
  bool float32 = false;
};

void run_map2alm(const Map2AlmArgs& a, int threads) {
  apply_omp_threads(threads);
  SPHAERA_CHECK(!a.lmax_given || a.lmax >= 0, "--lmax: must be >= 0, got ", a.lmax);
  SPHAERA_CHECK(!a.lmax_given || a.lmax <= kMaxLmax, "--lmax: ", a.lmax, " is beyond the supported ", kMaxLmax);
  SPHAERA_CHECK(a.iter >= 0, "--iter: must be >= 0, got ", a.iter);
  SPHAERA_CHECK(a.mode == "auto" || a.mode == "precompute" || a.mode == "on_the_fly", "--mode: unknown SHT mode '",
                a.mode, "' (known: auto, precompute, on_the_fly)");
  const FitsContent content = data_tools::sniff_fits(a.in);
  SPHAERA_CHECK(content != FitsContent::kAlm, a.in,
                ": holds spherical harmonic coefficients (alm), not a HEALPix map; map2alm reads maps "
                "(use sphaera alm2map to synthesise a map from alm)");

  // Read, in the file's own order; healpy.map2alm sets UNSEEN pixels to zero (the reader made them NaN).
  Stopwatch read_clock;
  data_tools::MapArray map = data_tools::read_healpix_map_array(a.in);
  int64_t missing = 0;
  for (double& x : map.values) {
    if (std::isnan(x)) {
      x = 0.0;
      ++missing;
    }
  }
  std::string what = a.in + ": HEALPix map, nside " + std::to_string(map.nside) + ", " + ordering_name(map.nest) +
                     ", " + plural(map.columns, "column", "columns");
  if (missing > 0) what += ", " + plural(missing, "missing pixel", "missing pixels") + " set to 0 (as healpy)";
  report_step("read", what, read_clock.seconds());

  Stopwatch clock;
  const int64_t lmax = a.lmax_given ? a.lmax : 3 * map.nside - 1;
  std::vector<transforms::Ring> rings = transforms::healpix_rings(map.nside);
  if (a.ring_weights) {
    const std::vector<double> weight = transforms::healpix_ring_weights(map.nside, "/usr/share/healpy/data");
    for (size_t r = 0; r < rings.size(); ++r) rings[r].weight = weight[r];
  }
  const bool precompute = a.mode == "auto" ? auto_precompute(rings, lmax, map.columns) : a.mode == "precompute";
  const auto sht = healpix_transform(map.nside, map.nest, lmax, precompute, std::move(rings));
  const int64_t size = lmax + 1;
  core::Buffer<double> alm(map.columns * size * size * 2);  // complex [columns][l][m], written whole
  sht.forward(map.values.data(), map.columns, a.iter, alm.data());
  report_step("map2alm",
              "forward SHT of " + plural(map.columns, "map", "maps") + ", lmax " + std::to_string(lmax) + ", iter " +
                  std::to_string(a.iter) + ", " + (a.ring_weights ? "ring weights" : "uniform weights") + ", " +
                  (precompute ? "precompute" : "on_the_fly"),
              clock.seconds());

  Stopwatch write_clock;
  data_tools::write_alm_array(a.out, reinterpret_cast<const std::complex<double>*>(alm.data()), map.columns, lmax,
                              a.float32 ? data_tools::AlmPrecision::kFloat32 : data_tools::AlmPrecision::kFloat64);
  report_step("wrote",
              a.out + ": alm, lmax " + std::to_string(lmax) + ", " + plural(map.columns, "HDU", "HDUs") + ", " +
                  precision_name(a.float32),
              write_clock.seconds());
}

void add_map2alm(CLI::App& app) {
  auto* verb = app.add_subcommand("map2alm", "HEALPix map -> spherical harmonic coefficients (healpy.map2alm)");
  verb->group(kTransformVerbGroup);
  verb->footer(
      "Reads a HEALPix FITS map (any ORDERING; every column of a multi-column map is transformed on its own, as\n"
      "healpy.map2alm(pol=False)), computes its a_lm in float64 and writes them as healpy.write_alm does: one\n"
      "table (INDEX, REAL, IMAG) per column, m-major, mmax = lmax, readable by healpy.read_alm and HEALPix.\n"
      "Missing pixels (UNSEEN or NaN) count as 0, as in healpy. The defaults are healpy's: lmax 3*nside-1,\n"
      "iter 3, uniform weights.\n"
      "Example: sphaera map2alm map.fits --out alm.fits --lmax 2048 --iter 0");
  auto a = std::make_shared<Map2AlmArgs>();
  verb->add_option("map", a->in, "HEALPix FITS map to transform")->required();
  verb->add_option("--out", a->out, "alm FITS file to write")->required();
  verb->add_option_function<int64_t>(
      "--lmax",
      [a](const int64_t& lmax) {
        a->lmax = lmax;
        a->lmax_given = true;
      },
      "Band limit, >= 0 (default: 3*nside - 1, as healpy)");
  verb->add_option("--iter", a->iter,
                   "Refinement steps a += map2alm(map - alm2map(a)) after the first quadrature (healpy's iter; 0 "
                   "for the plain quadrature)")
      ->capture_default_str();
  verb->add_flag("--ring-weights", a->ring_weights,
                 "Quadrature with healpy-data's ring weights (healpy's use_weights=True; files in "
                 "/usr/share/healpy/data)");
  verb->add_option("--mode", a->mode,
                   "Legendre tables: precompute (fast, memory grows as lmax^2 x rings), on_the_fly (recomputed, "
                   "little memory) or auto (on the fly for a one-column map, where it is faster; for several "
                   "columns, precompute when the tables fit in 1 GiB)")
      ->capture_default_str();
  verb->add_flag("--float32", a->float32, "Write float32 (E) columns, half the file size (default: float64, D)");
  int* threads = &add_threads_option(*verb);
  verb->callback([a, threads] { run_map2alm(*a, *threads); });
}

// ---- alm2map ----

struct Alm2MapArgs {
  std::string in, out;
  int64_t nside = 0;
  int64_t lmax = -1;
  bool lmax_given = false;
  bool nest = false;
  bool float32 = false;
};

void run_alm2map(const Alm2MapArgs& a, int threads) {
  apply_omp_threads(threads);
  SPHAERA_CHECK(a.nside >= 1 && a.nside <= 8192 && (a.nside & (a.nside - 1)) == 0,
                "--nside: HEALPix nside must be a power of two between 1 and 8192, got ", a.nside);
  SPHAERA_CHECK(!a.lmax_given || a.lmax >= 0, "--lmax: must be >= 0, got ", a.lmax);
  SPHAERA_CHECK(!a.lmax_given || a.lmax <= kMaxLmax, "--lmax: ", a.lmax, " is beyond the supported ", kMaxLmax);
  const FitsContent content = data_tools::sniff_fits(a.in);
  SPHAERA_CHECK(content != FitsContent::kHealpixMap, a.in,
                ": holds a HEALPix map, not spherical harmonic coefficients (alm); alm2map reads alm "
                "(use sphaera map2alm to compute them from a map)");

  Stopwatch read_clock;
  const data_tools::AlmArray file = data_tools::read_alm_all_array(a.in);
  report_step("read", a.in + ": alm, lmax " + std::to_string(file.lmax) + ", " + plural(file.components, "HDU", "HDUs"),
              read_clock.seconds());
  SPHAERA_CHECK(a.lmax_given || file.lmax <= kMaxLmax, a.in, ": lmax ", file.lmax, " is beyond the supported ",
                kMaxLmax, " (--lmax truncates)");

  // The same coefficients with band limit lmax: higher degrees dropped, missing ones zero.
  Stopwatch clock;
  const int64_t lmax = a.lmax_given ? a.lmax : file.lmax;
  const int64_t size = lmax + 1, have = file.lmax + 1, keep = std::min(size, have);
  std::vector<std::complex<double>> alm(static_cast<size_t>(file.components * size * size));
  for (int64_t c = 0; c < file.components; ++c)
    for (int64_t l = 0; l < keep; ++l)
      for (int64_t m = 0; m < keep; ++m) alm[(c * size + l) * size + m] = file.values[(c * have + l) * have + m];

  std::vector<transforms::Ring> rings = transforms::healpix_rings(a.nside);
  const bool precompute = auto_precompute(rings, lmax, file.components);
  const auto sht = healpix_transform(a.nside, a.nest, lmax, precompute, std::move(rings));
  const int64_t npix = 12 * a.nside * a.nside;
  core::Buffer<double> maps(file.components * npix);
  sht.inverse(reinterpret_cast<const double*>(alm.data()), file.components, maps.data());
  report_step("alm2map",
              "inverse SHT of " + plural(file.components, "component", "components") + ", lmax " +
                  std::to_string(lmax) + ", nside " + std::to_string(a.nside) + ", " +
                  (precompute ? "precompute" : "on_the_fly"),
              clock.seconds());

  Stopwatch write_clock;
  data_tools::write_healpix_map_array(a.out, maps.data(), file.components, npix, a.nest, a.float32);
  report_step("wrote",
              a.out + ": HEALPix map, nside " + std::to_string(a.nside) + ", " + ordering_name(a.nest) + ", " +
                  plural(file.components, "column", "columns") + ", " + precision_name(a.float32),
              write_clock.seconds());
}

void add_alm2map(CLI::App& app) {
  auto* verb = app.add_subcommand("alm2map", "Spherical harmonic coefficients -> HEALPix map (healpy.alm2map)");
  verb->group(kTransformVerbGroup);
  verb->footer(
      "Reads an alm FITS file (healpy.write_alm, HEALPix C++ or Fortran; every table HDU is one component and\n"
      "becomes one map column), synthesises the map in float64 and writes it as healpy.write_map does: RING\n"
      "order unless --nest, readable by healpy.read_map and HEALPix.\n"
      "Example: sphaera alm2map alm.fits --out map.fits --nside 1024");
  auto a = std::make_shared<Alm2MapArgs>();
  verb->add_option("alm", a->in, "alm FITS file to synthesise")->required();
  verb->add_option("--out", a->out, "HEALPix FITS map to write")->required();
  verb->add_option("--nside", a->nside, "nside of the map (a power of two, 1 to 8192)")->required();
  verb->add_option_function<int64_t>(
      "--lmax",
      [a](const int64_t& lmax) {
        a->lmax = lmax;
        a->lmax_given = true;
      },
      "Band limit, >= 0: degrees above it are dropped, missing ones are zero (default: the file's lmax)");
  verb->add_flag("--nest", a->nest, "Write the map in NESTED order (default: RING, as healpy.write_map)");
  verb->add_flag("--float32", a->float32, "Write float32 (E) columns, half the file size (default: float64, D)");
  int* threads = &add_threads_option(*verb);
  verb->callback([a, threads] { run_alm2map(*a, *threads); });
}

}  // namespace

void add_transform_verbs(CLI::App& app) {
  add_map2alm(app);
  add_alm2map(app);
}

}  // namespace sphaera::train
