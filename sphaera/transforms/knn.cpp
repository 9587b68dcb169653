#include "sphaera/transforms/knn.h"

#include <ATen/ATen.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/healpix_grid.h"

namespace sphaera::transforms {

namespace {

at::Tensor checked_directions(const at::Tensor& directions, int k) {
  SPHAERA_CHECK(directions.defined() && directions.dim() == 2 && directions.size(1) == 3,
                "nearest_neighbours: directions must be [n, 3], got ",
                directions.defined() ? directions.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(directions.size(0) < (int64_t{1} << 31), "nearest_neighbours: ", directions.size(0),
                " points exceed int32 indices");
  SPHAERA_CHECK(k >= 1, "nearest_neighbours: k must be ≥ 1, got ", k);
  return directions.to(at::kCPU, at::kDouble).contiguous();
}

}  // namespace

SpherePoints sphere_points(const HealpixGrid* healpix, const at::Tensor& directions) {
  SpherePoints p;
  p.xyz = directions.data_ptr<double>();
  p.n = directions.size(0);
  if (healpix != nullptr) {
    p.healpix_nside = healpix->nside();
    if (!healpix->is_full_sky()) p.nest_pixels = healpix->nest_pixels().data_ptr<int64_t>();
  }
  return p;
}

NearestNeighbours nearest_neighbours(const at::Tensor& directions, int k, std::shared_ptr<int32_t[]> storage) {
  const auto dirs = checked_directions(directions, k);
  return nearest_neighbours(sphere_points(nullptr, dirs), k, std::move(storage));
}

NearestNeighbours nearest_neighbours(const HealpixGrid& grid, int k, std::shared_ptr<int32_t[]> storage) {
  SPHAERA_CHECK(k >= 1, "nearest_neighbours: k must be ≥ 1, got ", k);
  const auto dirs = grid.directions();
  return nearest_neighbours(sphere_points(&grid, dirs), k, std::move(storage));
}

NearestNeighbours brute_force_nearest_neighbours(const at::Tensor& directions, int k) {
  const auto dirs = checked_directions(directions, k);
  return brute_force_nearest_neighbours(sphere_points(nullptr, dirs), k);
}

}  // namespace sphaera::transforms
