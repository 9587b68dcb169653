#include "sphaera/data_tools/render.h"

#include <cairo.h>
#include <healpix_base.h>
#include <pointing.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/healpix_fits.h"

namespace sphaera::data_tools {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Viridis (matplotlib's default colour map) sampled at 9 evenly spaced points, interpolated linearly:
// within a few units of 8-bit RGB of the full table.
constexpr uint8_t kViridis[9][3] = {{68, 1, 84},    {71, 45, 123}, {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
                                    {40, 174, 128}, {94, 201, 98}, {173, 220, 48}, {253, 231, 37}};

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Context = std::unique_ptr<cairo_t, ContextDeleter>;

uint32_t argb(const uint8_t rgb[3]) {
  return 0xFF000000u | (uint32_t(rgb[0]) << 16) | (uint32_t(rgb[1]) << 8) | uint32_t(rgb[2]);
}

std::string number_label(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

// Draws `text` with its baseline at y, horizontally centred on x (clamped inside the image).
void draw_text(cairo_t* cr, const std::string& text, double x, double y, double size, double width) {
  if (text.empty()) return;
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text.c_str(), &ext);
  double left = x - ext.width / 2 - ext.x_bearing;
  left = std::clamp(left, 2.0, std::max(2.0, width - ext.width - 2.0));
  cairo_move_to(cr, left, y);
  cairo_show_text(cr, text.c_str());
}

Surface render_surface(const at::Tensor& nest_map, const RenderOptions& options) {
  SPHAERA_CHECK(nest_map.defined() && (nest_map.dim() == 1 || nest_map.dim() == 2),
                "render: expected a map [npix] or [C, npix], got ",
                nest_map.defined() ? nest_map.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(!nest_map.is_complex(), "render: cannot draw a complex map");
  SPHAERA_CHECK(options.width >= 64 && options.width <= 16384, "render: width must be in [64, 16384], got ",
                options.width);
  auto values = nest_map.dim() == 1 ? nest_map.unsqueeze(0) : nest_map;
  SPHAERA_CHECK(options.channel >= 0 && options.channel < values.size(0), "render: channel ", options.channel,
                " does not exist (the map has ", values.size(0), ")");
  values = values[options.channel].detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t nside = nside_of_npix(values.numel(), "render");
  const auto invalid = invalid_pixel_mask(values);
  values = values.masked_fill(invalid, std::nan(""));

  double lo = 0.0, hi = 1.0;
  const auto valid = values.masked_select(invalid.logical_not());
  if (valid.numel() > 0) {
    lo = valid.min().item<double>();
    hi = valid.max().item<double>();
  }
  if (options.min) lo = *options.min;
  if (options.max) hi = *options.max;
  SPHAERA_CHECK(std::isfinite(lo) && std::isfinite(hi) && (lo < hi || (!options.min && !options.max && lo == hi)),
                "render: the colour scale needs min < max, got min ", lo, " and max ", hi);

  const MollweideLayout L = mollweide_layout(options.width);
  Surface surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(L.width), static_cast<int>(L.height)));
  SPHAERA_CHECK(cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS, "render: cannot create a ", L.width, " x ",
                L.height, " image");
  cairo_surface_flush(surface.get());
  unsigned char* data = cairo_image_surface_get_data(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  const uint8_t white[3] = {kBackground, kBackground, kBackground};
  const uint8_t grey[3] = {kMissingGrey, kMissingGrey, kMissingGrey};
  const uint32_t background = argb(white), missing = argb(grey);
  auto colour_of = [&](double v) {
    uint8_t rgb[3];
    viridis(hi > lo ? (v - lo) / (hi - lo) : 0.5, rgb);
    return argb(rgb);
  };

  const T_Healpix_Base<int64> base(nside, NEST, SET_NSIDE);
  const double* pix = values.data_ptr<double>();
  at::parallel_for(0, L.height, 16, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      auto* row = reinterpret_cast<uint32_t*>(data + j * stride);
      for (int64_t i = 0; i < L.width; ++i) {
        const double X = (i + 0.5 - L.cx) / L.a * 2.0 * M_SQRT2;
        const double Y = (L.cy - (j + 0.5)) / L.b * M_SQRT2;
        if (X * X / 8.0 + Y * Y / 2.0 > 1.0) {
          row[i] = background;
          continue;
        }
        const double theta = std::asin(std::clamp(Y / M_SQRT2, -1.0, 1.0));
        const double lat = std::asin(std::clamp((2 * theta + std::sin(2 * theta)) / kPi, -1.0, 1.0));
        const double c = std::cos(theta);
        double lon = c > 1e-12 ? -kPi * X / (2.0 * M_SQRT2 * c) : 0.0;
        lon = std::clamp(lon, -kPi, kPi);
        const double phi = lon < 0 ? lon + 2 * kPi : lon;
        const double v = pix[base.ang2pix(pointing(kPi / 2 - lat, phi))];
        row[i] = std::isnan(v) ? missing : colour_of(v);
      }
    }
  });
  for (int64_t j = L.bar_y0; j < L.bar_y1; ++j) {
    auto* row = reinterpret_cast<uint32_t*>(data + j * stride);
    for (int64_t i = L.bar_x0; i < L.bar_x1; ++i) {
      uint8_t rgb[3];
      viridis((i - L.bar_x0 + 0.5) / static_cast<double>(L.bar_x1 - L.bar_x0), rgb);
      row[i] = argb(rgb);
    }
  }
  cairo_surface_mark_dirty(surface.get());

  Context cr(cairo_create(surface.get()));
  cairo_set_source_rgb(cr.get(), 0, 0, 0);
  cairo_select_font_face(cr.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  const double title_size = std::max(12.0, L.width / 32.0);
  draw_text(cr.get(), options.title, L.width / 2.0, L.cy - L.b - 0.35 * title_size, title_size,
            static_cast<double>(L.width));
  const double label_size = std::max(10.0, L.width / 50.0);
  const double label_y = L.bar_y1 + 1.2 * label_size;
  draw_text(cr.get(), number_label(lo), L.bar_x0, label_y, label_size, static_cast<double>(L.width));
  draw_text(cr.get(), number_label(hi), L.bar_x1, label_y, label_size, static_cast<double>(L.width));
  cairo_set_line_width(cr.get(), 1.0);
  cairo_rectangle(cr.get(), L.bar_x0 - 0.5, L.bar_y0 - 0.5, L.bar_x1 - L.bar_x0 + 1.0, L.bar_y1 - L.bar_y0 + 1.0);
  cairo_stroke(cr.get());
  cairo_surface_flush(surface.get());
  SPHAERA_CHECK(cairo_status(cr.get()) == CAIRO_STATUS_SUCCESS,
                "render: drawing failed: ", cairo_status_to_string(cairo_status(cr.get())));
  return surface;
}

at::Tensor surface_to_rgb(cairo_surface_t* surface) {
  cairo_surface_flush(surface);
  const int w = cairo_image_surface_get_width(surface), h = cairo_image_surface_get_height(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  const cairo_format_t format = cairo_image_surface_get_format(surface);
  SPHAERA_CHECK(format == CAIRO_FORMAT_RGB24 || format == CAIRO_FORMAT_ARGB32, "unexpected image format");
  const unsigned char* data = cairo_image_surface_get_data(surface);
  auto out = torch::empty({h, w, 3}, torch::kUInt8);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int j = 0; j < h; ++j) {
    const auto* row = reinterpret_cast<const uint32_t*>(data + j * stride);
    for (int i = 0; i < w; ++i) {
      const uint32_t p = row[i];
      uint32_t a = format == CAIRO_FORMAT_ARGB32 ? (p >> 24) : 255;
      for (int k = 0; k < 3; ++k) {
        uint32_t c = (p >> (16 - 8 * k)) & 0xFF;
        if (a != 255) c = a == 0 ? 0 : std::min<uint32_t>(255, (c * 255 + a / 2) / a);  // un-premultiply
        o[(static_cast<int64_t>(j) * w + i) * 3 + k] = static_cast<uint8_t>(c);
      }
    }
  }
  return out;
}

}  // namespace

void viridis(double t, uint8_t rgb[3]) {
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  const double x = t * 8.0;
  const int k = std::min(7, static_cast<int>(x));
  const double f = x - k;
  for (int c = 0; c < 3; ++c) {
    rgb[c] = static_cast<uint8_t>(std::lround(kViridis[k][c] + f * (kViridis[k + 1][c] - kViridis[k][c])));
  }
}

MollweideLayout mollweide_layout(int64_t width) {
  SPHAERA_CHECK(width >= 64 && width <= 16384, "render: width must be in [64, 16384], got ", width);
  MollweideLayout L;
  const double w = static_cast<double>(width);
  const double pad = std::max(4.0, std::floor(w / 50.0));
  const double title = std::max(18.0, std::floor(w / 20.0));
  L.width = width;
  L.a = (w - 2 * pad) / 2.0;
  L.b = L.a / 2.0;
  L.cx = w / 2.0;
  L.cy = title + pad + L.b;
  const double bar_height = std::max(6.0, std::floor(w / 50.0));
  L.bar_x0 = width / 4;
  L.bar_x1 = width - width / 4;
  L.bar_y0 = static_cast<int64_t>(std::ceil(L.cy + L.b + pad));
  L.bar_y1 = L.bar_y0 + static_cast<int64_t>(bar_height);
  const double label = std::max(10.0, w / 50.0);
  L.height = L.bar_y1 + static_cast<int64_t>(std::ceil(1.6 * label + pad));
  return L;
}

at::Tensor render_mollweide(const at::Tensor& nest_map, const RenderOptions& options) {
  const Surface surface = render_surface(nest_map, options);
  return surface_to_rgb(surface.get());
}

void write_mollweide_png(const std::string& path, const at::Tensor& nest_map, const RenderOptions& options) {
  const Surface surface = render_surface(nest_map, options);
  AtomicFile out(path);
  const cairo_status_t status = cairo_surface_write_to_png(surface.get(), out.temporary().c_str());
  SPHAERA_CHECK(status == CAIRO_STATUS_SUCCESS, path, ": cannot write the PNG: ", cairo_status_to_string(status));
  out.commit();
}

at::Tensor read_png_rgb(const std::string& path) {
  Surface surface(cairo_image_surface_create_from_png(path.c_str()));
  const cairo_status_t status = cairo_surface_status(surface.get());
  SPHAERA_CHECK(status == CAIRO_STATUS_SUCCESS, path, ": cannot read as PNG: ", cairo_status_to_string(status));
  return surface_to_rgb(surface.get());
}

}  // namespace sphaera::data_tools
