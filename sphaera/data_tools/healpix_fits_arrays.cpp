#include "sphaera/data_tools/healpix_fits_arrays.h"

#include <fitsio.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/fits_file.h"

namespace sphaera::data_tools {

namespace {

using fits::FitsFile;
using fits::read_integer_key;
using fits::read_string_key;
using fits::upper_trimmed;

// Everything the header says, with the file positioned at the table extension.
struct OpenMap {
  FitsFile file;
  int64_t nside = 0;
  int64_t npix = 0;
  bool nest = false;
  int columns = 0;
};

void open_map(const std::string& path, OpenMap& m) {
  fits::check_exists(path);
  int status = fits::try_open(path, m.file);
  SPHAERA_CHECK(status == 0, path, ": not a readable FITS file: ", fits::error_text(status));
  fitsfile* f = m.file.get();

  const std::optional<std::string> primary_ordering = read_string_key(f, "ORDERING");
  int hdus = 0;
  fits_get_num_hdus(f, &hdus, &status);
  SPHAERA_CHECK(status == 0, path, ": corrupt FITS file: ", fits::error_text(status));
  int table_hdu = 0;
  for (int h = 2; h <= hdus && table_hdu == 0; ++h) {
    int type = 0;
    fits_movabs_hdu(f, h, &type, &status);
    SPHAERA_CHECK(status == 0, path, ": corrupt FITS file (HDU ", h, "): ", fits::error_text(status));
    if (type == BINARY_TBL || type == ASCII_TBL) table_hdu = h;
  }
  SPHAERA_CHECK(table_hdu != 0, path, ": not a HEALPix map: the FITS file has no table extension");

  if (auto pixtype = read_string_key(f, "PIXTYPE")) {
    SPHAERA_CHECK(upper_trimmed(*pixtype) == "HEALPIX", path, ": not a HEALPix map: PIXTYPE = '", *pixtype, "'");
  }
  if (auto scheme = read_string_key(f, "INDXSCHM")) {
    SPHAERA_CHECK(upper_trimmed(*scheme) != "EXPLICIT", path,
                  ": partial-sky HEALPix map (INDXSCHM = 'EXPLICIT', a pixel index column) is not supported; "
                  "write it as a full-sky map with UNSEEN pixels");
  }
  std::optional<std::string> ordering = read_string_key(f, "ORDERING");
  if (!ordering) ordering = primary_ordering;
  SPHAERA_CHECK(ordering.has_value(), path,
                ": the header has no ORDERING keyword, so the pixel order (RING or NESTED) is unknown");
  const std::string order = upper_trimmed(*ordering);
  SPHAERA_CHECK(order == "RING" || order == "NESTED" || order == "NEST", path, ": unknown ORDERING '", *ordering,
                "' (expected RING or NESTED)");
  m.nest = order != "RING";

  fits_get_num_cols(f, &m.columns, &status);
  long long rows = 0;
  fits_get_num_rowsll(f, &rows, &status);
  SPHAERA_CHECK(status == 0, path, ": corrupt table header: ", fits::error_text(status));
  SPHAERA_CHECK(m.columns > 0 && rows > 0, path, ": not a HEALPix map: the table is empty");
  for (int c = 1; c <= m.columns; ++c) {
    int type = 0;
    long repeat = 0, width = 0;
    fits_get_eqcoltype(f, c, &type, &repeat, &width, &status);
    SPHAERA_CHECK(status == 0, path, ": column ", c, ": ", fits::error_text(status));
    SPHAERA_CHECK(fits::is_real_numeric(type), path, ": column ", c, " is not a real numeric column (FITS type code ",
                  type, ")");
    const int64_t n = static_cast<int64_t>(rows) * repeat;
    if (c == 1) m.npix = n;
    SPHAERA_CHECK(n == m.npix, path, ": column ", c, " holds ", n, " values, column 1 holds ", m.npix);
  }
  m.nside = nside_of_npix(m.npix, path + ": table");
  if (auto nside_key = read_integer_key(f, "NSIDE", path)) {
    SPHAERA_CHECK(*nside_key == m.nside, path, ": header says NSIDE = ", *nside_key, " but the table holds ", m.npix,
                  " pixels (nside ", m.nside, ")");
  }
}

}  // namespace

int64_t nside_of_npix(int64_t npix, const std::string& what) {
  SPHAERA_CHECK(npix > 0 && npix % 12 == 0, what, ": ", npix, " pixels is not a HEALPix map size (12·nside²)");
  const int64_t nside = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(npix / 12))));
  SPHAERA_CHECK(12 * nside * nside == npix, what, ": ", npix, " pixels is not a HEALPix map size (12·nside²)");
  SPHAERA_CHECK((nside & (nside - 1)) == 0 && nside <= 8192, what, ": nside ", nside,
                " is not a power of two in [1, 8192]");
  return nside;
}

HealpixMapInfo read_healpix_map_info(const std::string& path) {
  OpenMap m;
  open_map(path, m);
  return {m.nside, m.nest, m.columns};
}

namespace {

// A big-endian IEEE 754 value as stored in FITS.
template <typename T>
double from_big_endian(const unsigned char* in) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  T value;
  if constexpr (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) {
    std::memcpy(&value, in, sizeof(T));
  } else if constexpr (sizeof(T) == 4) {
    uint32_t bits;
    std::memcpy(&bits, in, 4);
    bits = __builtin_bswap32(bits);
    std::memcpy(&value, &bits, 4);
  } else {
    uint64_t bits;
    std::memcpy(&bits, in, 8);
    bits = __builtin_bswap64(bits);
    std::memcpy(&value, &bits, 8);
  }
  return static_cast<double>(value);
}

// The common case of a binary table whose columns are all unscaled float32 or float64 (what healpy and
// HEALPix write): columns first..first+count−1 read as raw rows, a chunk at a time, and decoded here, which
// is several times faster than cfitsio's per-column conversion. Returns false (nothing read) for any other
// table, which cfitsio's fits_read_col then reads.
bool read_raw_floats(const std::string& path, OpenMap& m, int first, int count, double* out) {
  fitsfile* f = m.file.get();
  int status = 0, hdu_type = 0;
  fits_get_hdu_type(f, &hdu_type, &status);
  if (status != 0 || hdu_type != BINARY_TBL) return false;
  std::vector<int64_t> offset(m.columns), bytes(m.columns), repeat(m.columns);
  int64_t width = 0;
  for (int c = 1; c <= m.columns; ++c) {
    int type = 0;
    long r = 0, w = 0;
    fits_get_coltype(f, c, &type, &r, &w, &status);
    if (status != 0 || (type != TDOUBLE && type != TFLOAT)) return false;
    for (const char* key : {"TSCAL", "TZERO"}) {
      double v = 0.0;
      int key_status = 0;
      fits_read_key(f, TDOUBLE, (key + std::to_string(c)).c_str(), &v, nullptr, &key_status);
      if (key_status == 0 && v != (key[1] == 'S' ? 1.0 : 0.0)) return false;
    }
    offset[c - 1] = width;
    bytes[c - 1] = type == TDOUBLE ? 8 : 4;
    repeat[c - 1] = r;
    width += r * bytes[c - 1];
  }
  long long row_width = 0, rows = 0;
  fits_read_key(f, TLONGLONG, "NAXIS1", &row_width, nullptr, &status);
  fits_get_num_rowsll(f, &rows, &status);
  if (status != 0 || row_width != width || rows * repeat[first - 1] != m.npix) return false;

  // About 8 MB a chunk, but no more than the table (a small map must not allocate and clear 8 MB).
  const int64_t chunk_rows = std::min<int64_t>(rows, std::max<int64_t>(1, (int64_t{8} << 20) / width));
  std::vector<unsigned char> chunk(static_cast<size_t>(chunk_rows * width));
  for (int64_t row = 0; row < rows; row += chunk_rows) {
    const int64_t n = std::min<int64_t>(chunk_rows, rows - row);
    fits_read_tblbytes(f, row + 1, 1, n * width, chunk.data(), &status);
    SPHAERA_CHECK(status == 0, path,
                  ": cannot read the pixels (truncated or corrupt file?): ", fits::error_text(status));
    for (int c = 0; c < count; ++c) {
      const int col = first - 1 + c;
      const int64_t r = repeat[col];
      double* x = out + c * m.npix + row * r;
      for (int64_t i = 0; i < n; ++i) {
        const unsigned char* in = chunk.data() + i * width + offset[col];
        if (bytes[col] == 8) {
          for (int64_t j = 0; j < r; ++j) x[i * r + j] = from_big_endian<double>(in + 8 * j);
        } else {
          for (int64_t j = 0; j < r; ++j) x[i * r + j] = from_big_endian<float>(in + 4 * j);
        }
      }
    }
  }
  return true;
}

// The pixels as stored ([count][npix], NaN where invalid) of the open map m.
MapArray read_pixels(const std::string& path, OpenMap& m, std::optional<int64_t> expected_nside,
                     std::optional<int64_t> column) {
  if (expected_nside) {
    SPHAERA_CHECK(m.nside == *expected_nside, path, ": map has nside ", m.nside, ", expected nside ", *expected_nside);
  }
  if (column) {
    SPHAERA_CHECK(*column >= 0 && *column < m.columns, path, ": column ", *column, " does not exist (the map has ",
                  m.columns, " column(s), numbered from 0)");
  }
  const int first = column ? static_cast<int>(*column) + 1 : 1;
  const int count = column ? 1 : m.columns;
  MapArray out;
  out.nside = m.nside;
  out.nest = m.nest;
  out.columns = count;
  out.values = core::Buffer<double>(count * m.npix);
  if (!read_raw_floats(path, m, first, count, out.values.data())) {
    for (int c = 0; c < count; ++c) {
      int status = 0, anynul = 0;
      double null_value = std::nan("");  // undefined values (NaN, TNULL) come back as NaN
      fits_read_col(m.file.get(), TDOUBLE, first + c, 1, 1, m.npix, &null_value, out.values.data() + c * m.npix,
                    &anynul, &status);
      SPHAERA_CHECK(status == 0, path, ": cannot read column ", first + c,
                    " (truncated or corrupt file?): ", fits::error_text(status));
    }
  }
  // NaN and UNSEEN (|x/UNSEEN − 1| < 1e-5, as healpy's mask_bad) become NaN, in one pass.
  double* x = out.values.data();
  const int64_t n = out.values.size();
#pragma omp parallel for schedule(static) if (n > (1 << 18))
  for (int64_t i = 0; i < n; ++i)
    if (std::abs(x[i] / kUnseen - 1.0) < 1e-5) x[i] = std::nan("");
  return out;
}
}  // namespace

MapArray read_healpix_map_array(const std::string& path, std::optional<int64_t> expected_nside,
                                std::optional<int64_t> column) {
  OpenMap m;
  open_map(path, m);
  return read_pixels(path, m, expected_nside, column);
}

void write_healpix_map_array(const std::string& path, const double* values, int64_t columns, int64_t npix, bool nest,
                             bool float32) {
  const int64_t nside = nside_of_npix(npix, path + ": map to write");
  SPHAERA_CHECK(columns >= 1 && columns <= 999, path, ": cannot write ", columns, " columns (1 to 999)");
  SPHAERA_CHECK(values != nullptr, path, ": no pixels to write");

  // Rows of 1024 values, as healpy writes maps of at least 1024 pixels; one value per row otherwise.
  const long repeat = npix % 1024 == 0 ? 1024 : 1;
  const std::string tform = std::to_string(repeat) + (float32 ? "E" : "D");
  std::vector<std::string> names;
  for (int64_t c = 0; c < columns; ++c) names.push_back(columns == 1 ? "SIGNAL" : "CHANNEL_" + std::to_string(c));
  std::vector<char*> ttype, tforms;
  for (auto& n : names) {
    ttype.push_back(const_cast<char*>(n.c_str()));
    tforms.push_back(const_cast<char*>(tform.c_str()));
  }

  AtomicFile out(path);
  FitsFile file;
  int status = fits::create_with_empty_primary(file, out.temporary(), path);
  fitsfile* f = file.get();
  fits_create_tbl(f, BINARY_TBL, npix / repeat, static_cast<int>(columns), ttype.data(), tforms.data(), nullptr,
                  "xtension", &status);
  auto key_string = [&](const char* key, const char* value, const char* comment) {
    fits_write_key(f, TSTRING, key, const_cast<char*>(value), comment, &status);
  };
  auto key_integer = [&](const char* key, long long value, const char* comment) {
    fits_write_key(f, TLONGLONG, key, &value, comment, &status);
  };
  key_string("PIXTYPE", "HEALPIX", "HEALPIX pixelisation");
  key_string("ORDERING", nest ? "NESTED" : "RING", "Pixel ordering scheme, either RING or NESTED");
  key_integer("NSIDE", nside, "Resolution parameter of HEALPIX");
  key_integer("FIRSTPIX", 0, "First pixel # (0 based)");
  key_integer("LASTPIX", npix - 1, "Last pixel # (0 based)");
  key_string("INDXSCHM", "IMPLICIT", "Indexing: IMPLICIT or EXPLICIT");
  key_string("OBJECT", "FULLSKY", "Sky coverage, either FULLSKY or PARTIAL");
  double bad = kUnseen;
  fits_write_key(f, TDOUBLE, "BAD_DATA", &bad, "Sentinel value given to bad pixels", &status);
  key_string("CREATOR", "Sphaera", "Software creating the FITS file");
  SPHAERA_CHECK(status == 0, path, ": cannot write the FITS header: ", fits::error_text(status));
  // In chunks: NaN written as UNSEEN, and rounded to float32 when asked.
  constexpr int64_t kChunk = int64_t{1} << 16;
  std::vector<double> chunk64(static_cast<size_t>(std::min(npix, kChunk)));
  std::vector<float> chunk32(float32 ? chunk64.size() : 0);
  for (int64_t c = 0; c < columns && status == 0; ++c) {
    for (int64_t start = 0; start < npix && status == 0; start += kChunk) {
      const int64_t count = std::min(kChunk, npix - start);
      const double* x = values + c * npix + start;
      for (int64_t i = 0; i < count; ++i) chunk64[i] = std::isnan(x[i]) ? kUnseen : x[i];
      const long long row = start / repeat + 1, element = start % repeat + 1;
      if (float32) {
        for (int64_t i = 0; i < count; ++i) chunk32[i] = static_cast<float>(chunk64[i]);
        fits_write_col(f, TFLOAT, static_cast<int>(c) + 1, row, element, count, chunk32.data(), &status);
      } else {
        fits_write_col(f, TDOUBLE, static_cast<int>(c) + 1, row, element, count, chunk64.data(), &status);
      }
    }
  }
  SPHAERA_CHECK(status == 0, path, ": cannot write the pixels: ", fits::error_text(status));
  status = file.close();
  SPHAERA_CHECK(status == 0, path, ": cannot finish the file (disk full?): ", fits::error_text(status));
  out.commit();
}

}  // namespace sphaera::data_tools
