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
  // Values as drawn: log10 on a logarithmic axis, where only positive values have a place.
  auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!panel.log_x || x > 0) && (!panel.log_y || y > 0);
  };
  auto tx = [&](double x) { return panel.log_x ? std::log10(x) : x; };
  auto ty = [&](double y) { return panel.log_y ? std::log10(y) : y; };
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& s : panel.series) {
    SPHAERA_CHECK(s.x.size() == s.y.size(), "plot: series '", s.name, "' has ", s.x.size(), " x values and ",
                  s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i])) continue;
      xmin = std::min(xmin, tx(s.x[i]));
      xmax = std::max(xmax, tx(s.x[i]));
      ymin = std::min(ymin, ty(s.y[i]));
      ymax = std::max(ymax, ty(s.y[i]));
    }
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double pad = 0.05 * (ymax - ymin);
  ymin -= pad;
  ymax += pad;
  auto px = [&](double x) { return left + (tx(x) - xmin) / (xmax - xmin) * (right - left); };
  auto py = [&](double y) { return bottom - (ty(y) - ymin) / (ymax - ymin) * (bottom - top); };
  auto label = [](double v, bool log) { return short_number(log ? std::pow(10.0, v) : v); };

  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  cairo_stroke(cr);
  text_at(cr, panel.title, (left + right) / 2, 22, 14, 0.5);
  text_at(cr, panel.x_label, (left + right) / 2, height - 10, 12, 0.5);
  text_at(cr, label(xmin, panel.log_x), left, bottom + 16, 11, 0.0);
  text_at(cr, label(xmax, panel.log_x), right, bottom + 16, 11, 1.0);
  text_at(cr, label(ymax, panel.log_y), left - 4, top + 10, 11, 1.0);
  text_at(cr, label(ymin, panel.log_y), left - 4, bottom, 11, 1.0);
  // Decade ticks inside a logarithmic axis (labelled where they do not crowd the ends).
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  if (panel.log_x) {
    for (double d = std::ceil(xmin); d <= std::floor(xmax); d += 1) {
      const double x = left + (d - xmin) / (xmax - xmin) * (right - left);
      cairo_move_to(cr, x, bottom);
      cairo_line_to(cr, x, bottom - 5);
      cairo_stroke(cr);
      if (x - left > 30 && right - x > 30) text_at(cr, short_number(std::pow(10.0, d)), x, bottom + 16, 11, 0.5);
    }
  }
  if (panel.log_y) {
    for (double d = std::ceil(ymin); d <= std::floor(ymax); d += 1) {
      const double y = bottom - (d - ymin) / (ymax - ymin) * (bottom - top);
      cairo_move_to(cr, left, y);
      cairo_line_to(cr, left + 5, y);
      cairo_stroke(cr);
      if (bottom - y > 16 && y - top > 16) text_at(cr, short_number(std::pow(10.0, d)), left - 4, y + 4, 11, 1.0);
    }
  }
  cairo_set_source_rgb(cr, 0, 0, 0);

  // Legend box (white, so curves under it do not hide the names), top right inside the panel, as wide as the
  // longest name.
  double legend_text = 0;
  cairo_set_font_size(cr, 11);
  for (const auto& s : panel.series) {
    cairo_text_extents_t ext;
    cairo_text_extents(cr, s.name.c_str(), &ext);
    legend_text = std::max(legend_text, ext.x_advance);
  }
  const double legend_left = right - legend_text - 30;
  if (!panel.series.empty()) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, legend_left, top + 4, legend_text + 26, 16.0 * panel.series.size() + 4);
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
      if (!usable(s.x[i], s.y[i])) {
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
      if (!usable(s.x[i], s.y[i])) continue;
      cairo_arc(cr, px(s.x[i]), py(s.y[i]), 2.5, 0, 2 * M_PI);
      cairo_fill(cr);
    }
    // Legend, top right inside the panel.
    const double ly = top + 16 + 16 * k;
    cairo_rectangle(cr, legend_left + 4, ly - 6, 14, 4);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, s.name, legend_left + 22, ly, 11, 0.0);
  }
}

}  // namespace

void series_colour(size_t i, double rgb[3]) {
  static const double palette[10][3] = {{0.12, 0.47, 0.71}, {1.0, 0.5, 0.05},   {0.17, 0.63, 0.17},
                                        {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
                                        {0.89, 0.47, 0.76}, {0.5, 0.5, 0.5},    {0.74, 0.74, 0.13},
                                        {0.09, 0.75, 0.81}};
  for (int c = 0; c < 3; ++c) rgb[c] = palette[i % 10][c];
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
