#pragma once
/// Line charts as PNG (cairo): training curves and the like, side by side in panels.
#include <string>
#include <vector>

namespace sphaera::data_tools {

struct Series {
  std::string name;        ///< legend entry
  std::vector<double> x;
  std::vector<double> y;   ///< same length as x; non-finite values are skipped
};

struct Panel {
  std::string title;       ///< above the panel, e.g. "loss"
  std::string x_label;     ///< under the x axis, e.g. "epoch"
  std::vector<Series> series;
  bool log_x = false;      ///< logarithmic axes (ticks at powers of ten); non-positive values are skipped
  bool log_y = false;
};

/// The colour of series i (RGB in [0, 1]): the ten of matplotlib's "tab10" (blue, orange, green, red, ...), then
/// repeating.
void series_colour(size_t i, double rgb[3]);

/// Draws the panels left to right, each `panel_width` × `height` pixels, with axes, min/max tick labels (and a
/// tick at each power of ten on a logarithmic axis) and a legend, and writes a PNG atomically. Throws core::InvalidArgument on mismatched x/y lengths or
/// an unwritable path.
void write_line_chart_png(const std::string& path, const std::vector<Panel>& panels, int panel_width = 420,
                          int height = 320);

}  // namespace sphaera::data_tools
