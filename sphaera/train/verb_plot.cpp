// `sphaera plot MAP.fits --out MAP.png`: any HEALPix map as a Mollweide picture.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/alm_fits_arrays.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/render.h"
#include "sphaera/train/cli.h"

namespace sphaera::train {

void add_plot_verb(CLI::App& app) {
  auto* verb = app.add_subcommand("plot", "Draw a HEALPix FITS map in Mollweide projection as a PNG");
  verb->footer(
      "Any ORDERING (RING or NESTED) is read; NaN and UNSEEN pixels are grey; the colour scale (viridis) spans\n"
      "the map's valid range unless --min/--max say otherwise.\n"
      "Example: sphaera plot data/quickstart/test/lognormal_0000.fits --out lognormal.png --title lognormal");
  struct Args {
    std::string map, out, title;
    double min = 0, max = 0;
    int64_t width = 800, column = 0;
  };
  auto args = std::make_shared<Args>();
  verb->add_option("map", args->map, "HEALPix FITS map")->required();
  verb->add_option("--out", args->out, "PNG file to write")->required();
  verb->add_option("--title", args->title, "Title above the map (default: the map's file name)");
  auto* min = verb->add_option("--min", args->min, "Colour scale minimum (default: the smallest pixel)");
  auto* max = verb->add_option("--max", args->max, "Colour scale maximum (default: the largest pixel)");
  verb->add_option("--width", args->width, "Image width in pixels")
      ->check(CLI::Range(64, 16384))
      ->capture_default_str();
  verb->add_option("--column", args->column, "Column (channel) of a multi-column map, from 0")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  int* threads = &add_threads_option(*verb);
  verb->callback([args, min, max, threads] {
    apply_threads(*threads);
    data_tools::RenderOptions options;
    options.width = args->width;
    options.title = args->title.empty() ? std::filesystem::path(args->map).filename().string() : args->title;
    if (!min->empty()) options.min = args->min;
    if (!max->empty()) options.max = args->max;
    SPHAERA_CHECK(data_tools::sniff_fits(args->map) != data_tools::FitsContent::kAlm, args->map,
                  ": holds spherical harmonic coefficients (alm), not a HEALPix map; plot draws maps "
                  "(make one with: sphaera alm2map ", args->map, " --nside N --out MAP.fits)");
    const auto map = data_tools::read_healpix_map(args->map, std::nullopt, args->column);
    data_tools::write_mollweide_png(args->out, map, options);
    std::cerr << "plot: wrote " << args->out << "\n";
  });
}

}  // namespace sphaera::train
