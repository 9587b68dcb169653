#include "sphaera/data_tools/plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"

namespace sphaera::data_tools {

namespace {

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

void text_at(cairo_t* cr, const std::string& text, double x, double y, double size, double align) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text.c_str(), &ext);
  cairo_move_to(cr, x - align * ext.x_advance, y);
  cairo_show_text(cr, text.c_str());
}

void draw_panel(cairo_t* cr, const Panel& panel, double x0, double width, double height) {
  const double left = x0 + 56, right = x0 + width - 14, top = 34, bottom = height - 44;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& s : panel.series) {
    SPHAERA_CHECK(s.x.size() == s.y.size(), "plot: series '", s.name, "' has ", s.x.size(), " x values and ",
                  s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double pad = 0.05 * (ymax - ymin);
  ymin -= pad;
  ymax += pad;
  auto px = [&](double x) { return left + (x - xmin) / (xmax - xmin) * (right - left); };
  auto py = [&](double y) { return bottom - (y - ymin) / (ymax - ymin) * (bottom - top); };

  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  cairo_stroke(cr);
  text_at(cr, panel.title, (left + right) / 2, 22, 14, 0.5);
  text_at(cr, panel.x_label, (left + right) / 2, height - 10, 12, 0.5);
  text_at(cr, short_number(xmin), left, bottom + 16, 11, 0.0);
  text_at(cr, short_number(xmax), right, bottom + 16, 11, 1.0);
  text_at(cr, short_number(ymax), left - 4, top + 10, 11, 1.0);
  text_at(cr, short_number(ymin), left - 4, bottom, 11, 1.0);

  // Legend box (white, so curves under it do not hide the names), top right inside the panel.
  if (!panel.series.empty()) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, right - 96, top + 4, 92, 16.0 * panel.series.size() + 4);
    cairo_fill(cr);
  }
  for (size_t k = 0; k < panel.series.size(); ++k) {
    const auto& s = panel.series[k];
    double rgb[3];
    series_colour(k, rgb);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width(cr, 2);
    bool pen_down = false;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        pen_down = false;
        continue;
      }
      if (pen_down) {
        cairo_line_to(cr, px(s.x[i]), py(s.y[i]));
      } else {
        cairo_move_to(cr, px(s.x[i]), py(s.y[i]));
      }
      pen_down = true;
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < s.x.size(); ++i) {  // markers, so single points show
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      cairo_arc(cr, px(s.x[i]), py(s.y[i]), 2.5, 0, 2 * M_PI);
      cairo_fill(cr);
    }
    // Legend, top right inside the panel.
    const double ly = top + 16 + 16 * k;
    cairo_rectangle(cr, right - 90, ly - 8, 14, 4);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, s.name, right - 72, ly, 11, 0.0);
  }
}

}  // namespace

void series_colour(size_t i, double rgb[3]) {
  static const double palette[4][3] = {{0.12, 0.47, 0.71}, {1.0, 0.5, 0.05}, {0.17, 0.63, 0.17}, {0.84, 0.15, 0.16}};
  for (int c = 0; c < 3; ++c) rgb[c] = palette[i % 4][c];
}

void write_line_chart_png(const std::string& path, const std::vector<Panel>& panels, int panel_width, int height) {
  SPHAERA_CHECK(!panels.empty(), "plot: no panel to draw for ", path);
  SPHAERA_CHECK(panel_width >= 100 && height >= 100, "plot: panels must be at least 100 x 100 pixels");
  const int width = panel_width * static_cast<int>(panels.size());
  std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t*)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height), cairo_surface_destroy);
  std::unique_ptr<cairo_t, void (*)(cairo_t*)> cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  cairo_select_font_face(cr.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  for (size_t p = 0; p < panels.size(); ++p) draw_panel(cr.get(), panels[p], p * panel_width, panel_width, height);
  cairo_surface_flush(surface.get());
  AtomicFile out(path);
  SPHAERA_CHECK(cairo_surface_write_to_png(surface.get(), out.temporary().c_str()) == CAIRO_STATUS_SUCCESS,
                path, ": cannot write the PNG");
  out.commit();
}

}  // namespace sphaera::data_tools
