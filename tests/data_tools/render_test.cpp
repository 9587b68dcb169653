// Mollweide PNGs: file format, geometry (inside the ellipse coloured, outside background), colours, errors.
#include "sphaera/data_tools/render.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "sphaera/core/check.h"
#include "sphaera/transforms/healpix_grid.h"

namespace fs = std::filesystem;
using sphaera::core::InvalidArgument;
using namespace sphaera::data_tools;

namespace {

constexpr double kPi = 3.14159265358979323846;

// z = cos θ of every NEST pixel: +1 at the north pole, −1 at the south pole.
at::Tensor z_map(int64_t nside) {
  return sphaera::transforms::HealpixGrid(nside).directions().select(1, 2).contiguous();
}

std::array<int, 3> pixel(const at::Tensor& image, double x, double y) {
  const auto p = image[static_cast<int64_t>(y)][static_cast<int64_t>(x)];
  return {p[0].item<int>(), p[1].item<int>(), p[2].item<int>()};
}

std::array<int, 3> colour(double t) {
  uint8_t rgb[3];
  viridis(t, rgb);
  return {rgb[0], rgb[1], rgb[2]};
}

int distance(const std::array<int, 3>& a, const std::array<int, 3>& b) {
  return std::max({std::abs(a[0] - b[0]), std::abs(a[1] - b[1]), std::abs(a[2] - b[2])});
}

// Image position (pixel centre) of latitude `lat`, longitude `lon` (radians) in Mollweide projection.
std::pair<double, double> project(const MollweideLayout& L, double lat, double lon) {
  double theta = lat;
  for (int i = 0; i < 100; ++i) {  // Newton for 2θ + sin 2θ = π sin(lat)
    const double f = 2 * theta + std::sin(2 * theta) - kPi * std::sin(lat);
    if (std::abs(f) < 1e-14) break;
    theta -= f / (2 + 2 * std::cos(2 * theta));
  }
  const double X = -2 * std::sqrt(2.0) / kPi * lon * std::cos(theta), Y = std::sqrt(2.0) * std::sin(theta);
  return {L.cx + X / (2 * std::sqrt(2.0)) * L.a, L.cy - Y / std::sqrt(2.0) * L.b};
}

TEST(RenderTest, LayoutIsAnEllipseTwiceAsWideAsHigh) {
  const auto L = mollweide_layout(800);
  EXPECT_EQ(L.width, 800);
  EXPECT_DOUBLE_EQ(L.a, 2 * L.b);
  EXPECT_GT(L.a, 360);
  EXPECT_LE(L.cx + L.a, 800);
  EXPECT_GT(L.cy - L.b, 10);  // room for the title
  EXPECT_GT(L.bar_y0, L.cy + L.b);
  EXPECT_GT(L.height, L.bar_y1 + 10);  // room for the labels
  EXPECT_THROW(mollweide_layout(10), InvalidArgument);
}

TEST(RenderTest, InsideTheEllipseIsColouredOutsideIsBackground) {
  RenderOptions options;
  options.width = 400;
  options.min = -1.0;
  options.max = 1.0;
  const auto image = render_mollweide(z_map(32), options);
  const auto L = mollweide_layout(400);
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{L.height, L.width, 3}));
  ASSERT_EQ(image.scalar_type(), torch::kUInt8);
  const std::array<int, 3> white = {255, 255, 255};
  int64_t inside = 0, outside = 0;
  for (int64_t j = static_cast<int64_t>(L.cy - L.b) - 3; j < static_cast<int64_t>(L.cy + L.b) + 3; ++j) {
    for (int64_t i = 0; i < L.width; ++i) {
      const double dx = (i + 0.5 - L.cx) / L.a, dy = (j + 0.5 - L.cy) / L.b;
      const double r = dx * dx + dy * dy;
      if (r < 0.98) {
        ++inside;
        EXPECT_NE(pixel(image, i, j), white) << i << "," << j;
      } else if (r > 1.02) {
        ++outside;
        EXPECT_EQ(pixel(image, i, j), white) << i << "," << j;
      }
    }
  }
  EXPECT_GT(inside, 50000);
  EXPECT_GT(outside, 10000);
  // Colours follow the map: z = sin(latitude), scaled from [-1, 1] to [0, 1].
  for (double lat_deg : {-70.0, -30.0, 0.0, 20.0, 60.0}) {
    for (double lon_deg : {-150.0, 0.0, 100.0}) {
      const double lat = lat_deg * kPi / 180, lon = lon_deg * kPi / 180;
      const auto [x, y] = project(L, lat, lon);
      EXPECT_LE(distance(pixel(image, x, y), colour((std::sin(lat) + 1) / 2)), 6) << lat_deg << "," << lon_deg;
    }
  }
  // The colour bar runs from the colour of the minimum to that of the maximum.
  const double bar_y = (L.bar_y0 + L.bar_y1) / 2.0;
  const double bar = static_cast<double>(L.bar_x1 - L.bar_x0);
  EXPECT_EQ(pixel(image, L.bar_x0 + 1, bar_y), colour(1.5 / bar));
  EXPECT_LE(distance(pixel(image, L.bar_x0 + 1, bar_y), colour(0.0)), 3);
  EXPECT_EQ(pixel(image, L.bar_x1 - 2, bar_y), colour(1.0 - 1.5 / bar));
  EXPECT_LE(distance(pixel(image, L.bar_x1 - 1, bar_y), colour(1.0)), 3);
}

TEST(RenderTest, LongitudeIncreasesToTheLeftAsInHealpy) {
  // φ ∈ [0, π) = 1, [π, 2π) = 0: the eastern half (longitude 0..180°) is drawn left of the centre.
  const auto dirs = sphaera::transforms::HealpixGrid(16).directions();
  const auto y = dirs.select(1, 1);
  const auto map = (y >= 0).to(torch::kDouble);
  RenderOptions options;
  options.width = 200;
  const auto image = render_mollweide(map, options);
  const auto L = mollweide_layout(200);
  EXPECT_LE(distance(pixel(image, L.cx - L.a / 2, L.cy), colour(1.0)), 3);
  EXPECT_LE(distance(pixel(image, L.cx + L.a / 2, L.cy), colour(0.0)), 3);
}

TEST(RenderTest, MissingPixelsAreGreyAndScaleClamps) {
  auto map = z_map(16);
  map.masked_fill_(map > 0.5, std::nan(""));
  RenderOptions options;
  options.width = 300;
  options.min = 0.0;
  options.max = 0.25;
  const auto image = render_mollweide(map, options);
  const auto L = mollweide_layout(300);
  const auto [nx, ny] = project(L, 70 * kPi / 180, 0.0);
  EXPECT_EQ(pixel(image, nx, ny), (std::array<int, 3>{kMissingGrey, kMissingGrey, kMissingGrey}));
  const auto [sx, sy] = project(L, -60 * kPi / 180, 1.0);
  EXPECT_EQ(pixel(image, sx, sy), colour(0.0));  // below min: clamped
  const auto [ex, ey] = project(L, 25 * kPi / 180, 1.0);
  EXPECT_EQ(pixel(image, ex, ey), colour(1.0));  // z ≈ 0.42 above max: clamped
}

TEST(RenderTest, PngFileHasSignatureSizeAndSamePixels) {
  const fs::path dir = fs::temp_directory_path() / ("sphaera_render_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string path = (dir / "z.png").string();
  RenderOptions options;
  options.width = 320;
  options.title = "z = cos(theta)";
  write_mollweide_png(path, z_map(16), options);
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 33u);
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_TRUE(std::equal(signature, signature + 8, bytes.begin()));
  EXPECT_EQ(std::string(bytes.begin() + 12, bytes.begin() + 16), "IHDR");
  auto be32 = [&](size_t at) {
    return (uint32_t(bytes[at]) << 24) | (uint32_t(bytes[at + 1]) << 16) | (uint32_t(bytes[at + 2]) << 8) |
           bytes[at + 3];
  };
  const auto L = mollweide_layout(320);
  EXPECT_EQ(be32(16), 320u);
  EXPECT_EQ(be32(20), static_cast<uint32_t>(L.height));
  // Decoded, the file holds exactly the rendered image, the title drawn in dark pixels above the map.
  const auto back = read_png_rgb(path);
  const auto rendered = render_mollweide(z_map(16), options);
  EXPECT_TRUE(torch::equal(back, rendered));
  const auto title_band = back.slice(0, 0, static_cast<int64_t>(L.cy - L.b));
  EXPECT_GT((title_band.sum(2) < 200).sum().item<int64_t>(), 20);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  EXPECT_THROW(read_png_rgb((dir / "absent.png").string()), InvalidArgument);
  fs::remove_all(dir);
}

TEST(RenderTest, BadInputsAreErrors) {
  RenderOptions options;
  EXPECT_THROW(render_mollweide(torch::zeros({100}), options), InvalidArgument);
  options.min = 1.0;
  options.max = 1.0;
  EXPECT_THROW(render_mollweide(z_map(2), options), InvalidArgument);
  RenderOptions channel;
  channel.channel = 2;
  EXPECT_THROW(render_mollweide(torch::zeros({2, 48}), channel), InvalidArgument);
  // A constant map renders (mid colour), as does a map with every pixel missing (grey).
  RenderOptions plain;
  plain.width = 100;
  const auto L = mollweide_layout(100);
  EXPECT_EQ(pixel(render_mollweide(torch::ones({48}), plain), L.cx, L.cy), colour(0.5));
  EXPECT_EQ(pixel(render_mollweide(torch::full({48}, std::nan("")), plain), L.cx, L.cy),
            (std::array<int, 3>{kMissingGrey, kMissingGrey, kMissingGrey}));
}

}  // namespace
