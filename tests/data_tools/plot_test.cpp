#include "sphaera/data_tools/plot.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/render.h"

namespace fs = std::filesystem;
using namespace sphaera::data_tools;

namespace {

// Number of pixels of an RGB image within 10 levels of a colour.
int64_t pixels_of_colour(const at::Tensor& rgb, const double colour[3]) {
  auto target = torch::tensor({colour[0] * 255, colour[1] * 255, colour[2] * 255}, torch::kDouble);
  auto diff = (rgb.to(torch::kDouble) - target).abs().amax(2);
  return (diff < 10).sum().item<int64_t>();
}

TEST(PlotTest, DrawsEverySeriesInItsColourAtTheRequestedSize) {
  const auto path = (fs::temp_directory_path() / "sphaera_plot_test.png").string();
  Panel loss{"loss", "epoch", {{"train", {1, 2, 3}, {1.0, 0.5, 0.2}}, {"val", {1, 2, 3}, {1.1, 0.7, 0.4}}}};
  Panel accuracy{"accuracy", "epoch", {{"val", {1, 2, 3}, {0.5, 0.8, NAN}}}};
  write_line_chart_png(path, {loss, accuracy}, 300, 200);
  const auto rgb = read_png_rgb(path);
  ASSERT_EQ(rgb.size(0), 200);
  ASSERT_EQ(rgb.size(1), 600);
  double blue[3], orange[3];
  series_colour(0, blue);
  series_colour(1, orange);
  // Each panel holds blue; only the first holds orange (its second series).
  EXPECT_GT(pixels_of_colour(rgb.slice(1, 0, 300), blue), 50);
  EXPECT_GT(pixels_of_colour(rgb.slice(1, 300, 600), blue), 20);
  EXPECT_GT(pixels_of_colour(rgb.slice(1, 0, 300), orange), 50);
  EXPECT_EQ(pixels_of_colour(rgb.slice(1, 300, 600), orange), 0);
  fs::remove(path);
}

// y = x² on log-log axes is a straight line: the point at x = 10 (the middle decade of 1..100) is drawn at the
// middle of the plot area, where linear axes would put it near the bottom (10 of 0..10000). Non-positive values
// have no place on a logarithmic axis and are skipped, not drawn at infinity.
TEST(PlotTest, LogarithmicAxesPlaceDecadesEvenly) {
  const auto path = (fs::temp_directory_path() / "sphaera_plot_log_test.png").string();
  Panel panel{"time", "nside", {{"a", {1, 10, 100, 1000}, {1, 100, 10000, 0}}}, true, true};
  write_line_chart_png(path, {panel}, 300, 200);
  const auto rgb = read_png_rgb(path);
  double blue[3];
  series_colour(0, blue);
  // Plot area of a 300 x 200 panel: x in [56, 286], y in [34, 156] (plot.cpp's margins).
  const int64_t column = (56 + 286) / 2;
  const auto target = torch::tensor({blue[0] * 255, blue[1] * 255, blue[2] * 255}, torch::kDouble);
  const auto hit = (rgb.select(1, column).to(torch::kDouble) - target).abs().amax(1) < 10;
  const auto rows = hit.nonzero();
  ASSERT_GT(rows.size(0), 0);
  EXPECT_NEAR(rows.to(torch::kDouble).mean().item<double>(), (34 + 156) / 2.0, 4.0);
  fs::remove(path);
}

TEST(PlotTest, MismatchedSeriesAreAnError) {
  Panel bad{"loss", "epoch", {{"train", {1, 2}, {1.0}}}};
  EXPECT_THROW(write_line_chart_png((fs::temp_directory_path() / "x.png").string(), {bad}),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(write_line_chart_png("/etc/passwd/x.png", {Panel{"a", "b", {}}}), std::exception);
}

}  // namespace
