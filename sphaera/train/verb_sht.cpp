// `sphaera rotate`: healpy.rotate_alm on FITS files that healpy reads and writes (maps in any ORDERING, alm as
// healpy.write_alm), beside map2alm and alm2map (verb_transforms.cpp, which need no LibTorch; rotations do).
// Everything is computed in float64; one summary line per step, with its time, goes to stderr.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/alm_fits.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/train/cli.h"
#include "sphaera/train/cli_base.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/sht.h"
#include "sphaera/transforms/wigner.h"

namespace sphaera::train {

namespace {

using data_tools::FitsContent;

const char* precision_name(bool float32) { return float32 ? "float32" : "float64"; }

// A HEALPix map read for transforming: float64, [C, npix] in the file's own order (transforms run in it: no
// reordering of large maps), missing pixels set to 0.
struct InputMap {
  at::Tensor maps;
  int64_t nside = 0;
  bool nest = false;   // ORDERING on disk, and in memory
  bool single = true;  // one column: written back as one
};

// The full-sky HEALPix grid in the given memory order.
transforms::GridPtr healpix_grid(int64_t nside, bool nest) {
  if (nest) return std::make_shared<transforms::HealpixGrid>(nside);
  return std::make_shared<transforms::HealpixRingOrderGrid>(nside);
}

InputMap read_input_map(const std::string& path) {
  Stopwatch clock;
  const auto info = data_tools::read_healpix_map_info(path);
  InputMap in;
  in.maps = data_tools::read_healpix_map_as_stored(path, in.nest);
  in.single = in.maps.size(0) == 1;
  in.nside = info.nside;
  // healpy.map2alm replaces UNSEEN pixels by zeros before the transform; the reader turned them into NaN.
  const auto missing = in.maps.isnan();
  const int64_t n_missing = missing.sum().item<int64_t>();
  if (n_missing > 0) in.maps.masked_fill_(missing, 0.0);
  std::string what = path + ": HEALPix map, nside " + std::to_string(in.nside) + ", " + (in.nest ? "NESTED" : "RING") +
                     ", " + plural(in.maps.size(0), "column", "columns");
  if (n_missing > 0) what += ", " + plural(n_missing, "missing pixel", "missing pixels") + " set to 0 (as healpy)";
  report_step("read", what, clock.seconds());
  return in;
}

// Forward transform of every column: [C, npix] (in.nest order) → [C, lmax + 1, lmax + 1].
at::Tensor forward_sht(const InputMap& in, transforms::ShtOptions options, const std::string& step) {
  Stopwatch clock;
  auto grid = healpix_grid(in.nside, in.nest);
  const transforms::Sht sht(grid, options);
  const at::Tensor alm = sht.forward(in.maps);
  report_step(step,
              "forward SHT of " + plural(in.maps.size(0), "map", "maps") + ", lmax " + std::to_string(sht.lmax()) +
                  ", iter " + std::to_string(sht.iterations()) + ", " + transforms::to_string(sht.mode()),
              clock.seconds());
  return alm;
}

// Inverse transform: [C, L + 1, L + 1] → [C, 12 nside²] in NEST or RING order.
at::Tensor inverse_sht(const at::Tensor& alm, int64_t nside, bool nest, const std::string& step) {
  Stopwatch clock;
  auto grid = healpix_grid(nside, nest);
  transforms::ShtOptions options;
  options.lmax = alm.size(-1) - 1;
  const transforms::Sht sht(grid, options);
  const at::Tensor maps = sht.inverse(alm);
  report_step(step,
              "inverse SHT of " + plural(alm.size(0), "component", "components") + ", lmax " +
                  std::to_string(sht.lmax()) + ", nside " + std::to_string(nside) + ", " +
                  transforms::to_string(sht.mode()),
              clock.seconds());
  return maps;
}

void write_alm_file(const std::string& path, const at::Tensor& alm, bool float32) {
  Stopwatch clock;
  data_tools::write_alm(path, alm, float32 ? data_tools::AlmPrecision::kFloat32 : data_tools::AlmPrecision::kFloat64);
  report_step("wrote",
              path + ": alm, lmax " + std::to_string(alm.size(-1) - 1) + ", " + plural(alm.size(0), "HDU", "HDUs") +
                  ", " + precision_name(float32),
              clock.seconds());
}

// `maps` [C, npix] in the order `nest` names; a single column is written as a one-column map.
void write_map_file(const std::string& path, const at::Tensor& maps, bool single, bool nest, bool float32) {
  Stopwatch clock;
  const int64_t nside = data_tools::nside_of_npix(maps.size(-1), path);
  data_tools::write_healpix_map_as_ordered(
      path, single ? maps[0] : maps, nest,
      float32 ? data_tools::MapPrecision::kFloat32 : data_tools::MapPrecision::kFloat64);
  report_step("wrote",
              path + ": HEALPix map, nside " + std::to_string(nside) + ", " + (nest ? "NESTED" : "RING") + ", " +
                  plural(maps.size(0), "column", "columns") + ", " + precision_name(float32),
              clock.seconds());
}

at::Tensor read_alm_file(const std::string& path) {
  Stopwatch clock;
  const at::Tensor alm = data_tools::read_alm_all(path);
  report_step("read",
              path + ": alm, lmax " + std::to_string(alm.size(-1) - 1) + ", " + plural(alm.size(0), "HDU", "HDUs"),
              clock.seconds());
  return alm;
}

// ---- rotate ----

struct RotateArgs {
  std::string in, out;
  std::vector<std::string> euler;
  bool degrees = false;
  bool float32 = false;
};

// One Euler angle as typed; the whole text must be a finite number.
double parse_angle(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SPHAERA_CHECK(used == text.size() && used > 0 && std::isfinite(value), "--euler: '", text,
                "' is not an angle (a finite number, in radians, or degrees with --deg)");
  return value;
}

void run_rotate(const RotateArgs& a, int threads) {
  SPHAERA_CHECK(a.euler.size() == 3, "--euler: wants three angles PSI THETA PHI, got ", a.euler.size());
  double angles[3];
  for (int k = 0; k < 3; ++k) angles[k] = parse_angle(a.euler[k]) * (a.degrees ? M_PI / 180.0 : 1.0);
  SPHAERA_CHECK(!a.in.empty(), "missing the input file (a HEALPix map or an alm FITS file)");
  apply_threads(threads);
  const double psi = angles[0], theta = angles[1], phi = angles[2];
  char rotation[160];
  std::snprintf(rotation, sizeof(rotation), "Euler angles (psi, theta, phi) = (%.15g, %.15g, %.15g) rad", psi, theta,
                phi);

  const FitsContent content = data_tools::sniff_fits(a.in);
  if (content == FitsContent::kAlm) {
    const at::Tensor alm = read_alm_file(a.in);
    Stopwatch clock;
    const at::Tensor rotated = transforms::rotate_alm(alm, psi, theta, phi);
    report_step("rotate", std::string("alm, ") + rotation, clock.seconds());
    write_alm_file(a.out, rotated, a.float32);
    return;
  }
  if (content != FitsContent::kHealpixMap) {
    // The map reader says precisely what is wrong with the file (not FITS, no table, ...).
    try {
      data_tools::read_healpix_map_info(a.in);
    } catch (const core::InvalidArgument& e) {
      throw core::InvalidArgument(std::string(e.what()) +
                                  " (rotate takes a HEALPix map or spherical harmonic coefficients (alm))");
    }
    SPHAERA_CHECK(false, a.in, ": neither a HEALPix map nor spherical harmonic coefficients (alm)");
  }
  const InputMap in = read_input_map(a.in);
  const at::Tensor alm = forward_sht(in, transforms::ShtOptions{}, "map2alm");
  Stopwatch clock;
  const at::Tensor rotated = transforms::rotate_alm(alm, psi, theta, phi);
  report_step("rotate", std::string("alm, ") + rotation, clock.seconds());
  const at::Tensor maps = inverse_sht(rotated, in.nside, in.nest, "alm2map");
  write_map_file(a.out, maps, in.single, in.nest, a.float32);
}

void add_rotate(CLI::App& app) {
  auto* verb = app.add_subcommand("rotate", "Rotate a HEALPix map or alm by Euler angles (healpy.rotate_alm)");
  verb->group(kTransformVerbGroup);
  verb->footer(
      "The rotation is healpy.rotate_alm's (and HEALPix C++ rotate_alm's): active, ZYZ, R = Rz(phi) Ry(theta)\n"
      "Rz(psi), applied to the coefficients. An alm file is rotated in harmonic space and written as alm (one\n"
      "HDU per component). A map is transformed as healpy.map2alm does by default (lmax 3*nside-1, iter 3),\n"
      "rotated, synthesised at its own nside and written in its own ORDERING. The inverse rotation is\n"
      "--euler -PHI -THETA -PSI. Negative angles need no quoting.\n"
      "Example: sphaera rotate map.fits --euler 0.1 -0.5 1.2 --out rotated.fits");
  auto a = std::make_shared<RotateArgs>();
  // Checked in the callback (not ->required()), so that a wrong --euler is reported as such first.
  verb->add_option("input", a->in, "HEALPix FITS map or alm FITS file (required)");
  verb->add_option("--out", a->out, "FITS file to write (a map for a map, alm for alm)")->required();
  // 1 to 3 values, counted in the callback: too few angles then give a clear message instead of the next
  // option being taken for an angle; no more than 3, so that `--euler A B C IN` leaves IN alone.
  verb->add_option("--euler", a->euler, "The three Euler angles PSI THETA PHI, in radians (degrees with --deg)")
      ->expected(1, 3)
      ->allow_extra_args(false)
      ->required()
      ->type_name("PSI THETA PHI");
  verb->add_flag("--deg", a->degrees, "The --euler angles are in degrees");
  verb->add_flag("--float32", a->float32, "Write float32 (E) columns, half the file size (default: float64, D)");
  int* threads = &add_threads_option(*verb);
  verb->callback([a, threads] { run_rotate(*a, *threads); });
}

}  // namespace

void add_sht_verbs(CLI::App& app) {
  add_transform_verbs(app);
  add_rotate(app);
}

}  // namespace sphaera::train
