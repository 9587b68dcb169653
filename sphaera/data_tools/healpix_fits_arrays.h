#pragma once
/// HEALPix maps in FITS files (the format of healpy's read_map / write_map and of HEALPix itself), on plain
/// arrays (no LibTorch); healpix_fits.h gives the same on tensors, in NEST order.
///
/// On disk a map is a binary table extension with one column per channel and the header keywords
/// PIXTYPE = 'HEALPIX', ORDERING = 'NESTED' | 'RING', NSIDE, FIRSTPIX, LASTPIX, INDXSCHM = 'IMPLICIT',
/// OBJECT = 'FULLSKY'.
///
/// Missing pixels: HEALPix marks them with UNSEEN = -1.6375e30 (healpy's convention), other tools with NaN.
/// The reader turns both into NaN; the writer turns NaN into UNSEEN (and sets BAD_DATA), so that healpy and
/// HEALPix tools treat them as missing.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sphaera/core/buffer.h"

namespace sphaera::data_tools {

/// healpy.UNSEEN: the value HEALPix uses for missing pixels.
constexpr double kUnseen = -1.6375e30;

/// Header facts of a HEALPix FITS map, without reading its pixels.
struct HealpixMapInfo {
  int64_t nside = 0;
  bool nest = false;    ///< ORDERING on disk
  int64_t columns = 0;  ///< channels
};
/// Same checks as read_healpix_map_array (except the pixel values).
HealpixMapInfo read_healpix_map_info(const std::string& path);

/// A map as stored: `columns` rows of 12·nside² float64 pixels in the file's ORDERING, NaN where missing.
struct MapArray {
  int64_t nside = 0;
  bool nest = false;
  int64_t columns = 0;
  core::Buffer<double> values;  ///< [columns][npix]
  int64_t npix() const { return 12 * nside * nside; }
};

/// Reads a full-sky HEALPix map from the first table extension of a FITS file, in whatever ORDERING its
/// header says (RING or NESTED/NEST; `nest` of the result tells which): every column, or the `column`-th
/// (0-based). NaN and UNSEEN pixels (and undefined integer pixels, TNULL) are returned as NaN.
/// Throws core::InvalidArgument naming the file when it is missing or not FITS, has no table extension,
/// holds a partial-sky (explicit index) map, has a missing or unknown ORDERING keyword, a pixel count that is
/// not 12·nside² with nside a power of two (≤ 8192), an NSIDE keyword that disagrees with its pixel count,
/// non-numeric columns, no column `column`, or an nside other than `expected_nside` (the message gives both).
MapArray read_healpix_map_array(const std::string& path, std::optional<int64_t> expected_nside = std::nullopt,
                                std::optional<int64_t> column = std::nullopt);

/// Writes `columns` maps of `npix` pixels each ([columns][npix], in NEST order when `nest`, else RING) as a
/// HEALPix FITS file that healpy.read_map reads, with float32 ('E') or float64 ('D') columns. NaN pixels are
/// written as UNSEEN. The file appears complete or not at all (written to a temporary file in the same
/// directory, then renamed); an existing file is replaced; missing parent directories are created.
void write_healpix_map_array(const std::string& path, const double* values, int64_t columns, int64_t npix, bool nest,
                             bool float32);

/// nside of a full-sky map with `npix` pixels, or throws core::InvalidArgument mentioning `what` when npix
/// is not 12·nside² with nside a power of two in [1, 8192].
int64_t nside_of_npix(int64_t npix, const std::string& what);

}  // namespace sphaera::data_tools
