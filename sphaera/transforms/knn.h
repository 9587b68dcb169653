#pragma once
/// Exact k nearest neighbours of points on the unit sphere, by chord (Euclidean) distance, self excluded: the
/// tensor-facing entry points of knn_search.h (definitions, tie-break and method are described there).
#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>

#include "sphaera/transforms/knn_search.h"

namespace sphaera::transforms {

class HealpixGrid;

/// k nearest neighbours among `directions` (float64 [n, 3] unit vectors, any order), n < 2³¹.
/// `storage`: optional memory for `index` (at least n · min(k, n − 1) int32), e.g. to reuse it afterwards.
NearestNeighbours nearest_neighbours(const at::Tensor& directions, int k, std::shared_ptr<int32_t[]> storage = {});

/// Same, using the HEALPix layout of the grid's pixels (NEST buckets are contiguous): faster, same result.
NearestNeighbours nearest_neighbours(const HealpixGrid& grid, int k, std::shared_ptr<int32_t[]> storage = {});

/// O(n²) reference with the same definition and tie-break (for tests and tiny inputs).
NearestNeighbours brute_force_nearest_neighbours(const at::Tensor& directions, int k);

/// The points of a grid for knn_search.h: `directions` must be the grid's directions (float64, contiguous,
/// CPU), kept alive by the caller; HEALPix grids pass their nside and NEST pixels.
SpherePoints sphere_points(const HealpixGrid* healpix, const at::Tensor& directions);

}  // namespace sphaera::transforms
