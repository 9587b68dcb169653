#pragma once
/// HEALPix pixel-order permutations for full-sky maps (HEALPix C++, no grid object needed).
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace sphaera::data_tools {

/// For each NEST index its RING index, int64 [12 nside²]: map_nest = map_ring.index_select(-1, this).
at::Tensor nest_to_ring_index(int64_t nside);
/// For each RING index its NEST index, int64 [12 nside²]: map_ring = map_nest.index_select(-1, this).
at::Tensor ring_to_nest_index(int64_t nside);

}  // namespace sphaera::data_tools
