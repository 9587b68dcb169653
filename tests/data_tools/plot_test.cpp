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

TEST(PlotTest, MismatchedSeriesAreAnError) {
  Panel bad{"loss", "epoch", {{"train", {1, 2}, {1.0}}}};
  EXPECT_THROW(write_line_chart_png((fs::temp_directory_path() / "x.png").string(), {bad}),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(write_line_chart_png("/etc/passwd/x.png", {Panel{"a", "b", {}}}), std::exception);
}

}  // namespace
