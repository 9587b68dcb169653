#pragma once
/// HEALPix maps in FITS files (the format of healpy's read_map / write_map and of HEALPix itself), on tensors:
/// healpix_fits_arrays.h describes the format and reads and writes it on plain arrays.
///
/// In memory a map is NEST-ordered float64, [npix] or [C, npix] (C columns of the table).
///
/// Missing pixels: HEALPix marks them with UNSEEN = -1.6375e30 (healpy's convention), other tools with NaN.
/// The reader turns both into NaN; the writer turns NaN into UNSEEN (and sets BAD_DATA), so that healpy and
/// HEALPix tools treat them as missing. invalid_pixel_mask() finds both.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

#include "sphaera/data_tools/healpix_fits_arrays.h"

namespace sphaera::data_tools {

/// Reads a full-sky HEALPix map from the first table extension of a FITS file, in whatever ORDERING its
/// header says (RING or NESTED/NEST), and returns it in NEST order as float64 on the CPU:
/// - `column` unset: [npix] for a one-column table, [C, npix] for a table of C columns (e.g. I, Q, U);
/// - `column` = k: [npix], the k-th column (0-based).
/// NaN and UNSEEN pixels (and undefined integer pixels, TNULL) are returned as NaN: callers reject or mask
/// them (invalid_pixel_mask()).
/// Throws core::InvalidArgument naming the file when it is missing or not FITS, has no table extension,
/// holds a partial-sky (explicit index) map, has a missing or unknown ORDERING keyword, a pixel count that is
/// not 12·nside² with nside a power of two (≤ 8192), an NSIDE keyword that disagrees with its pixel count,
/// non-numeric columns, or an nside other than `expected_nside` (the message gives both).
at::Tensor read_healpix_map(const std::string& path, std::optional<int64_t> expected_nside = std::nullopt,
                            std::optional<int64_t> column = std::nullopt);

/// As read_healpix_map, but in the file's own ORDERING (no permutation; `nest` tells which) and always
/// [C, npix]: what a transform in the file's order needs (see transforms::HealpixRingOrderGrid).
at::Tensor read_healpix_map_as_stored(const std::string& path, bool& nest);

/// Column type of written maps.
enum class MapPrecision {
  kAuto,     ///< float32 for a float32 (or lower) tensor, else float64
  kFloat32,  ///< FITS 'E'
  kFloat64,  ///< FITS 'D'
};

/// Writes a NEST map, [npix] or [C, npix] (any floating or integer dtype, any device), as a HEALPix FITS
/// file that healpy.read_map reads: in NEST order with ORDERING = 'NESTED' when `write_nest_order`, else
/// permuted to RING order with ORDERING = 'RING'. NaN pixels are written as UNSEEN. The file appears
/// complete or not at all (written to a temporary file in the same directory, then renamed); an existing
/// file is replaced; missing parent directories are created.
void write_healpix_map(const std::string& path, const at::Tensor& nest_map, bool write_nest_order = true,
                       MapPrecision precision = MapPrecision::kAuto);

/// Writes a map [npix] or [C, npix] already in the order `nest` names (NEST when true, else RING), as
/// write_healpix_map does otherwise.
void write_healpix_map_as_ordered(const std::string& path, const at::Tensor& map, bool nest,
                                  MapPrecision precision = MapPrecision::kAuto);

/// True where a map is NaN or UNSEEN (|x/UNSEEN − 1| < 1e-5, as healpy's mask_bad), same shape, bool.
at::Tensor invalid_pixel_mask(const at::Tensor& map);

}  // namespace sphaera::data_tools
