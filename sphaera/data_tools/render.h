#pragma once
/// Maps to pictures: a HEALPix NEST map in Mollweide projection, as healpy's mollview draws it (Galactic or
/// equatorial longitude 0 at the centre, increasing to the left, north up), with a title, a viridis colour
/// scale and a colour bar labelled with its minimum and maximum; missing (NaN / UNSEEN) pixels in grey.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

namespace sphaera::data_tools {

struct RenderOptions {
  int64_t width = 800;        ///< image width in pixels, ≥ 64; the height follows (mollweide_layout)
  std::string title;          ///< drawn centred above the map (nothing when empty)
  std::optional<double> min;  ///< colour scale minimum (default: the smallest valid pixel)
  std::optional<double> max;  ///< colour scale maximum (default: the largest valid pixel)
  int64_t channel = 0;        ///< which channel of a [C, npix] map
};

/// Where things are in an image of a given width: the map ellipse has centre (cx, cy) and semi-axes
/// a (horizontal) = 2b (vertical), in pixel coordinates (x right, y down; pixel (i, j) covers
/// [i, i+1) × [j, j+1)). Above it a title band, below it the colour bar.
struct MollweideLayout {
  int64_t width = 0, height = 0;
  double cx = 0, cy = 0, a = 0, b = 0;
  int64_t bar_x0 = 0, bar_x1 = 0, bar_y0 = 0, bar_y1 = 0;  ///< colour bar rectangle [x0, x1) × [y0, y1)
};
MollweideLayout mollweide_layout(int64_t width);

/// Colours of the image (what write_mollweide_png writes): background white, missing pixels grey (128).
constexpr uint8_t kBackground = 255;
constexpr uint8_t kMissingGrey = 128;

/// The viridis colour of t ∈ [0, 1] (clamped), as 8-bit RGB.
void viridis(double t, uint8_t rgb[3]);

/// Renders a NEST map [npix] or [C, npix] (any real dtype) to an RGB image, uint8 [height, width, 3].
/// Throws core::InvalidArgument on a map that is not full-sky HEALPix, a bad channel or width, or min ≥ max.
at::Tensor render_mollweide(const at::Tensor& nest_map, const RenderOptions& options = {});

/// Renders as render_mollweide and writes a PNG atomically (temporary file + rename).
void write_mollweide_png(const std::string& path, const at::Tensor& nest_map, const RenderOptions& options = {});

/// Reads a PNG back as RGB, uint8 [height, width, 3] (alpha dropped). Throws naming the file on failure.
at::Tensor read_png_rgb(const std::string& path);

}  // namespace sphaera::data_tools
