// HEALPix FITS maps on tensors, NEST order in memory: healpix_fits_arrays.cpp reads and writes the files.
#include "sphaera/data_tools/healpix_fits.h"

#include <healpix_base.h>
#include <torch/torch.h>

#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_order.h"

namespace sphaera::data_tools {

// For each NEST index its RING index.
at::Tensor nest_to_ring_index(int64_t nside) {
  T_Healpix_Base<int64> base(nside, NEST, SET_NSIDE);
  const int64_t npix = 12 * nside * nside;
  auto index = torch::empty({npix}, torch::kLong);
  int64_t* p = index.data_ptr<int64_t>();
  at::parallel_for(0, npix, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] = base.nest2ring(i);
  });
  return index;
}

// For each RING index its NEST index.
at::Tensor ring_to_nest_index(int64_t nside) {
  T_Healpix_Base<int64> base(nside, RING, SET_NSIDE);
  const int64_t npix = 12 * nside * nside;
  auto index = torch::empty({npix}, torch::kLong);
  int64_t* p = index.data_ptr<int64_t>();
  at::parallel_for(0, npix, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] = base.ring2nest(i);
  });
  return index;
}

namespace {
// The array's pixels as float64 [columns, npix], without a copy (the tensor owns the vector).
at::Tensor to_tensor(MapArray&& array) {
  auto* values = new core::Buffer<double>(std::move(array.values));
  return torch::from_blob(
      values->data(), {array.columns, array.npix()}, [values](void*) { delete values; }, torch::kDouble);
}
}  // namespace

at::Tensor read_healpix_map(const std::string& path, std::optional<int64_t> expected_nside,
                            std::optional<int64_t> column) {
  MapArray array = read_healpix_map_array(path, expected_nside, column);
  const bool nest = array.nest, single = column || array.columns == 1;
  const int64_t nside = array.nside;
  at::Tensor out = to_tensor(std::move(array));
  if (!nest) out = out.index_select(1, nest_to_ring_index(nside));
  return single ? out[0].contiguous() : out;
}

at::Tensor read_healpix_map_as_stored(const std::string& path, bool& nest) {
  MapArray array = read_healpix_map_array(path);
  nest = array.nest;
  return to_tensor(std::move(array));
}

at::Tensor invalid_pixel_mask(const at::Tensor& map) {
  SPHAERA_CHECK(map.defined(), "invalid_pixel_mask: undefined tensor");
  if (!map.is_floating_point()) return torch::zeros_like(map, map.options().dtype(torch::kBool));
  auto x = map.to(torch::kDouble);
  return x.isnan().logical_or((x / kUnseen - 1.0).abs() < 1e-5);
}

void write_healpix_map(const std::string& path, const at::Tensor& nest_map, bool write_nest_order,
                       MapPrecision precision) {
  SPHAERA_CHECK(nest_map.defined() && (nest_map.dim() == 1 || nest_map.dim() == 2), path,
                ": write_healpix_map wants a map [npix] or [C, npix], got ",
                nest_map.defined() ? nest_map.sizes() : at::IntArrayRef{});
  if (write_nest_order) return write_healpix_map_as_ordered(path, nest_map, true, precision);
  const int64_t nside = nside_of_npix(nest_map.size(-1), path + ": map to write");
  write_healpix_map_as_ordered(path, nest_map.detach().to(torch::kCPU).index_select(-1, ring_to_nest_index(nside)),
                               false, precision);
}

void write_healpix_map_as_ordered(const std::string& path, const at::Tensor& map, bool nest, MapPrecision precision) {
  SPHAERA_CHECK(map.defined() && (map.dim() == 1 || map.dim() == 2), path,
                ": write_healpix_map wants a map [npix] or [C, npix], got ",
                map.defined() ? map.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(!map.is_complex(), path, ": cannot write a complex map");
  const int64_t npix = map.size(-1);
  nside_of_npix(npix, path + ": map to write");
  auto maps = map.dim() == 1 ? map.unsqueeze(0) : map;
  SPHAERA_CHECK(maps.size(0) >= 1 && maps.size(0) <= 999, path, ": cannot write ", maps.size(0), " columns (1 to 999)");
  const bool float32 =
      precision == MapPrecision::kFloat32 ||
      (precision == MapPrecision::kAuto && maps.is_floating_point() && maps.scalar_type() != torch::kDouble);
  const auto data = maps.detach().to(torch::kCPU, torch::kDouble).contiguous();
  write_healpix_map_array(path, data.data_ptr<double>(), data.size(0), npix, nest, float32);
}

}  // namespace sphaera::data_tools
