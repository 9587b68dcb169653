#pragma once
/// HEALPix maps in FITS files (the format of healpy's read_map / write_map and of HEALPix itself).
///
/// In memory a map is NEST-ordered float64, [npix] or [C, npix] (C columns of the table). On disk a map is
/// a binary table extension with one column per channel and the header keywords PIXTYPE = 'HEALPIX',
/// ORDERING = 'NESTED' | 'RING', NSIDE, FIRSTPIX, LASTPIX, INDXSCHM = 'IMPLICIT', OBJECT = 'FULLSKY'.
///
/// Missing pixels: HEALPix marks them with UNSEEN = -1.6375e30 (healpy's convention), other tools with NaN.
/// The reader turns both into NaN; the writer turns NaN into UNSEEN (and sets BAD_DATA), so that healpy and
/// HEALPix tools treat them as missing. invalid_pixel_mask() finds both.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

namespace sphaera::data_tools {

/// healpy.UNSEEN: the value HEALPix uses for missing pixels.
constexpr double kUnseen = -1.6375e30;

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

/// Header facts of a HEALPix FITS map, without reading its pixels.
struct HealpixMapInfo {
  int64_t nside = 0;
  bool nest = false;    ///< ORDERING on disk (read_healpix_map returns NEST whatever it is)
  int64_t columns = 0;  ///< channels
};
/// Same checks as read_healpix_map (except the pixel values).
HealpixMapInfo read_healpix_map_info(const std::string& path);

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

/// nside of a full-sky map with `npix` pixels, or throws core::InvalidArgument mentioning `what` when npix
/// is not 12·nside² with nside a power of two in [1, 8192].
int64_t nside_of_npix(int64_t npix, const std::string& what);

}  // namespace sphaera::data_tools
