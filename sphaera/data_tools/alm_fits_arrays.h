#pragma once
/// Spherical harmonic coefficients (a_lm) in FITS files, as healpy.write_alm / read_alm and HEALPix (C++ and
/// Fortran) write and read them, on plain arrays (no LibTorch); alm_fits.h gives the same on tensors.
///
/// In memory the coefficients of a real map are complex, [lmax + 1][lmax + 1] indexed [l][m] with
/// 0 <= m <= l (entries with m > l are zero), or [C][lmax + 1][lmax + 1] for C components (e.g. T, E, B).
///
/// On disk each component is one binary table extension (the primary HDU is empty) with one row per
/// coefficient and the columns
///   INDEX  integer, l² + l + m + 1   (so l = floor(sqrt(INDEX − 1)), m = INDEX − 1 − l² − l)
///   REAL   Re a_lm, float64 ('D') or float32 ('E')
///   IMAG   Im a_lm
/// possibly followed by others (HEALPix Fortran's REAL_ERROR, IMAG_ERROR), which are ignored. Only m >= 0 is
/// stored: a_l,−m = (−1)^m conj(a_lm) for real maps. The header may carry MAX-LPOL and MAX-MPOL (HEALPix
/// C++ and Fortran write them, healpy neither writes nor reads them).
///
/// Differences from healpy.read_alm, all on files healpy mishandles:
/// - columns are found by name (INDEX, REAL, IMAG, any case), not as "the first three columns";
/// - rows may be missing (HEALPix C++'s write_compressed_Alm_to_fits, Fortran files starting at l = 2):
///   their coefficients read as zero, as HEALPix C++ and Fortran read them (healpy raises an IndexError or
///   returns a misplaced array);
/// - a float INDEX column holding whole numbers is accepted (healpy 1.16 raises an IndexError);
/// - a duplicated index is an error (healpy keeps one of the rows and returns an array of the wrong size).
#include <complex>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sphaera::data_tools {

/// Column type of the REAL and IMAG columns of written coefficients.
enum class AlmPrecision {
  kFloat64,  ///< FITS 'D' (healpy.write_alm's out_dtype=np.float64)
  kFloat32,  ///< FITS 'E' (out_dtype=np.float32): coefficients rounded to float32
};

/// The largest lmax the readers accept: a guard against a corrupt index allocating gigabytes
/// ([lmax + 1]² complex128 is 16 GB at lmax 32767).
constexpr int64_t kMaxAlmFileLmax = 32767;

/// Coefficients as read: `components` blocks of [lmax + 1][lmax + 1] complex values, indexed [l][m].
struct AlmArray {
  int64_t components = 0;
  int64_t lmax = 0;
  int64_t mmax = 0;  ///< the largest m present or declared (MAX-MPOL); entries beyond are zero
  std::vector<std::complex<double>> values;
};

/// Writes `components` blocks of [lmax + 1][lmax + 1] coefficients from `alm` as healpy.write_alm writes
/// them: one binary table per component, mmax = lmax, rows in healpy's order (m-major: m = 0, l = 0..lmax;
/// m = 1, l = 1..lmax; ...), an int32 INDEX column (int64 beyond lmax 46339), REAL/IMAG columns of
/// `precision`, and MAX-LPOL / MAX-MPOL keywords for HEALPix tools. NaN coefficients are written as they
/// are. The file appears complete or not at all (temporary file, then rename); an existing file is replaced;
/// missing parent directories are created.
/// Throws core::InvalidArgument naming the file when an entry with m > l is non-zero (it would be silently
/// lost).
void write_alm_array(const std::string& path, const std::complex<double>* alm, int64_t components, int64_t lmax,
                     AlmPrecision precision = AlmPrecision::kFloat64);

/// Reads the coefficients of one table extension (components = 1).
/// `hdu` numbers extensions as healpy.read_alm and cfitsio's "file.fits[n]" do: 1 is the first extension
/// (0 would be the primary HDU, which holds no table). Unset: the first table extension.
/// lmax and mmax are the largest l and m among the rows, or MAX-LPOL / MAX-MPOL when the header declares
/// larger ones; coefficients absent from the file (m > mmax, missing rows) are zero. Rows may come in any
/// order; INDEX may be an integer or a float column of whole numbers.
/// Throws core::InvalidArgument naming the file when it is missing or not FITS, has no table extension (or
/// no extension `hdu`, or `hdu` is not a table), holds a HEALPix map instead, lacks one of the INDEX, REAL and
/// IMAG columns (the message lists the columns present), has no rows, an index that is not a whole number
/// >= 1, an index that is no (l, m) with 0 <= m <= l (healpy's "negative m"; an m > l written as
/// l² + l + m + 1 decodes as such), a duplicated index, rows beyond the header's MAX-LPOL / MAX-MPOL, or an
/// lmax above kMaxAlmFileLmax.
AlmArray read_alm_array(const std::string& path, std::optional<int64_t> hdu = std::nullopt);

/// Reads every table extension as one component, as healpy.read_alm(path, hdu=(1, 2, ..., C)). All
/// extensions must be coefficient tables with the same lmax and mmax (healpy's condition; the message names
/// the first extension that differs). Same errors as read_alm_array otherwise.
AlmArray read_alm_all_array(const std::string& path);

/// What a FITS file holds, judged from its first table extension.
enum class FitsContent {
  kHealpixMap,  ///< PIXTYPE = 'HEALPIX' without alm columns, or numeric columns of 12·nside² values
  kAlm,         ///< columns INDEX, REAL and IMAG (any case): spherical harmonic coefficients
  kOther,       ///< anything else: no table extension, another table, or not a FITS file at all
};

/// Tells a HEALPix map file from a coefficient file (and from anything else) by its header alone, so that a
/// command can accept either. Throws core::InvalidArgument naming the file only when it does not exist or is
/// a directory; an unreadable or non-FITS file is kOther.
FitsContent sniff_fits(const std::string& path);

/// "HEALPix map", "spherical harmonic coefficients (alm)" or "other FITS content", for messages.
const char* fits_content_name(FitsContent content);

}  // namespace sphaera::data_tools
