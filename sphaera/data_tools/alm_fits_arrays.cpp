#include "sphaera/data_tools/alm_fits_arrays.h"

#include <fitsio.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/fits_file.h"

namespace sphaera::data_tools {

namespace {

using fits::check_exists;
using fits::FitsFile;
using fits::is_real_numeric;
using fits::read_integer_key;
using fits::read_string_key;
using fits::try_open;
using fits::upper_trimmed;

void open_fits(const std::string& path, FitsFile& file) {
  check_exists(path);
  const int status = try_open(path, file);
  SPHAERA_CHECK(status == 0, path, ": not a readable FITS file: ", fits::error_text(status));
}

// Number of HDUs, primary included.
int hdu_count(fitsfile* f, const std::string& path) {
  int status = 0, hdus = 0;
  fits_get_num_hdus(f, &hdus, &status);
  SPHAERA_CHECK(status == 0, path, ": corrupt FITS file: ", fits::error_text(status));
  return hdus;
}

// Moves to extension `ext` (1 = the HDU after the primary); returns its type (IMAGE_HDU, ASCII_TBL, BINARY_TBL).
int move_to_extension(fitsfile* f, int ext, const std::string& path) {
  int status = 0, type = 0;
  fits_movabs_hdu(f, ext + 1, &type, &status);
  SPHAERA_CHECK(status == 0, path, ": corrupt FITS file (extension ", ext, "): ", fits::error_text(status));
  return type;
}

bool is_table(int hdu_type) { return hdu_type == BINARY_TBL || hdu_type == ASCII_TBL; }

// The column names (TTYPEn) of the current table, as written (unnamed columns are "").
std::vector<std::string> column_names(fitsfile* f, const std::string& where) {
  int status = 0, columns = 0;
  fits_get_num_cols(f, &columns, &status);
  SPHAERA_CHECK(status == 0, where, ": corrupt table header: ", fits::error_text(status));
  std::vector<std::string> names;
  for (int c = 1; c <= columns; ++c) {
    auto name = read_string_key(f, "TTYPE" + std::to_string(c));
    names.push_back(name ? *name : "");
  }
  return names;
}

// 1-based number of the first column called `name` (any case, blanks ignored), 0 when there is none.
int find_column(const std::vector<std::string>& names, const std::string& name) {
  for (size_t c = 0; c < names.size(); ++c) {
    if (upper_trimmed(names[c]) == name) return static_cast<int>(c) + 1;
  }
  return 0;
}

bool has_alm_columns(const std::vector<std::string>& names) {
  return find_column(names, "INDEX") != 0 && find_column(names, "REAL") != 0 && find_column(names, "IMAG") != 0;
}

bool is_map_size(long long n) {
  if (n <= 0 || n % 12 != 0) return false;
  const long long nside = std::llround(std::sqrt(static_cast<double>(n / 12)));
  return 12 * nside * nside == n && (nside & (nside - 1)) == 0;
}

// Whether the current table looks like a HEALPix map: PIXTYPE = 'HEALPIX', or numeric columns of
// 12·nside² values each (maps without the keyword, as read_healpix_map accepts them).
bool looks_like_map(fitsfile* f, int columns) {
  if (auto pixtype = read_string_key(f, "PIXTYPE")) {
    if (upper_trimmed(*pixtype) == "HEALPIX") return true;
  }
  int status = 0;
  long long rows = 0;
  fits_get_num_rowsll(f, &rows, &status);
  if (status != 0 || columns < 1) return false;
  for (int c = 1; c <= columns; ++c) {
    int type = 0;
    long repeat = 0, width = 0;
    fits_get_eqcoltype(f, c, &type, &repeat, &width, &status);
    if (status != 0 || !is_real_numeric(type) || !is_map_size(rows * repeat)) return false;
  }
  return true;
}

std::string joined(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + (n.empty() ? std::string("(unnamed)") : n);
  return out;
}

// Stores `value` at `out` as FITS does: big-endian, two's complement or IEEE 754.
template <typename T>
void put_big_endian(unsigned char* out, T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  if constexpr (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) {
    std::memcpy(out, &value, sizeof(T));
  } else if constexpr (sizeof(T) == 4) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    bits = __builtin_bswap32(bits);
    std::memcpy(out, &bits, 4);
  } else {
    uint64_t bits;
    std::memcpy(&bits, &value, 8);
    bits = __builtin_bswap64(bits);
    std::memcpy(out, &bits, 8);
  }
}

int64_t isqrt(int64_t n) {
  auto r = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  while (r * r > n) --r;
  while ((r + 1) * (r + 1) <= n) ++r;
  return r;
}

// One coefficient table, decoded.
struct AlmTable {
  int64_t lmax = 0;
  int64_t mmax = 0;
  std::vector<std::complex<double>> alm;  // [lmax + 1][lmax + 1]
};

// Reads the table at the current HDU, extension number `ext`.
AlmTable read_alm_table(fitsfile* f, const std::string& path, int ext) {
  const std::string where = path + ": extension " + std::to_string(ext);
  const auto names = column_names(f, where);
  const int index_col = find_column(names, "INDEX");
  const int real_col = find_column(names, "REAL");
  const int imag_col = find_column(names, "IMAG");
  if (index_col == 0 || real_col == 0 || imag_col == 0) {
    SPHAERA_CHECK(!looks_like_map(f, static_cast<int>(names.size())), where,
                  " holds a HEALPix map, not spherical harmonic coefficients (a table with columns INDEX, REAL "
                  "and IMAG); read it as a map");
    std::string missing;
    for (const char* name : {"INDEX", "REAL", "IMAG"}) {
      if (find_column(names, name) == 0) missing += (missing.empty() ? "" : ", ") + std::string(name);
    }
    SPHAERA_CHECK(false, where, " is not a table of spherical harmonic coefficients: no column ", missing,
                  " (columns present: ", joined(names), "; expected INDEX, REAL, IMAG)");
  }

  int status = 0;
  long long rows = 0;
  fits_get_num_rowsll(f, &rows, &status);
  SPHAERA_CHECK(status == 0, where, ": corrupt table header: ", fits::error_text(status));
  long long count = -1;
  long index_repeat = 1;
  for (int col : {index_col, real_col, imag_col}) {
    int type = 0;
    long repeat = 0, width = 0;
    fits_get_eqcoltype(f, col, &type, &repeat, &width, &status);
    SPHAERA_CHECK(status == 0, where, ": column ", names[col - 1], ": ", fits::error_text(status));
    SPHAERA_CHECK(is_real_numeric(type), where, ": column ", names[col - 1],
                  " is not a real numeric column (FITS type code ", type, ")");
    if (col == index_col) index_repeat = repeat;
    const long long n = rows * repeat;
    if (count < 0) count = n;
    SPHAERA_CHECK(n == count, where, ": column ", names[col - 1], " holds ", n, " values, column ",
                  names[index_col - 1], " holds ", count);
  }
  SPHAERA_CHECK(count > 0, where, ": the coefficient table has no rows");

  std::vector<double> index(count), re(count), im(count);
  const int cols[3] = {index_col, real_col, imag_col};
  double* out[3] = {index.data(), re.data(), im.data()};
  for (int k = 0; k < 3; ++k) {
    int anynul = 0;
    double null_value = std::nan("");  // undefined values (TNULL) come back as NaN
    fits_read_col(f, TDOUBLE, cols[k], 1, 1, count, &null_value, out[k], &anynul, &status);
    SPHAERA_CHECK(status == 0, where, ": cannot read column ", names[cols[k] - 1],
                  " (truncated or corrupt file?): ", fits::error_text(status));
  }

  // Decode l and m of every row; the largest supported index is (kMaxAlmFileLmax + 1)².
  const double max_index = static_cast<double>((kMaxAlmFileLmax + 1) * (kMaxAlmFileLmax + 1));
  std::vector<int64_t> ls(count), ms(count);
  int64_t lmax = 0, mmax = 0;
  // A whole number as an integer where one holds it exactly (a corrupt INDEX may be any double).
  const auto shown_index = [](double v) -> std::string {
    if (std::abs(v) < 9.0e15) return std::to_string(static_cast<long long>(v));
    std::ostringstream s;
    s << v;
    return s.str();
  };
  for (long long i = 0; i < count; ++i) {
    const double v = index[i];
    const long long row = i / index_repeat + 1;
    SPHAERA_CHECK(std::isfinite(v) && v == std::floor(v), where, ": row ", row, ": INDEX = ", v,
                  " is not a whole number");
    SPHAERA_CHECK(v >= 1, where, ": row ", row, ": INDEX = ", shown_index(v),
                  " is out of range (indices are l² + l + m + 1 >= 1)");
    SPHAERA_CHECK(v <= max_index, where, ": row ", row, ": INDEX = ", shown_index(v), " means l > ",
                  kMaxAlmFileLmax, ", the largest lmax read (corrupt file?)");
    const int64_t n = static_cast<int64_t>(v) - 1;
    const int64_t l = isqrt(n);
    const int64_t m = n - l * l - l;
    SPHAERA_CHECK(m >= 0, where, ": row ", row, ": INDEX = ", n + 1,
                  " is l² + l + m + 1 of no (l, m) with 0 <= m <= l: it decodes to l = ", l, ", m = ", m,
                  " (negative m), or to l = ", l - 1, ", m = ", m + 2 * l, " (m > l)");
    ls[i] = l;
    ms[i] = m;
    lmax = std::max(lmax, l);
    mmax = std::max(mmax, m);
  }

  // HEALPix C++ and Fortran declare the size in the header; rows beyond it contradict the header.
  if (auto key = read_integer_key(f, "MAX-LPOL", where)) {
    SPHAERA_CHECK(*key >= lmax, where, ": the header says MAX-LPOL = ", *key, " but the rows reach l = ", lmax);
    SPHAERA_CHECK(*key <= kMaxAlmFileLmax, where, ": the header says MAX-LPOL = ", *key, ", above ", kMaxAlmFileLmax,
                  ", the largest lmax read");
    lmax = *key;
  }
  if (auto key = read_integer_key(f, "MAX-MPOL", where)) {
    SPHAERA_CHECK(*key >= mmax, where, ": the header says MAX-MPOL = ", *key, " but the rows reach m = ", mmax);
    mmax = std::min<int64_t>(*key, lmax);
  }

  // A table may leave coefficients out (HEALPix C++'s write_compressed_Alm_to_fits); they read as zeros of the
  // dense [lmax + 1]² array. One that would fill under 1/1024 of an array above 256 MiB is taken for a corrupt
  // INDEX or MAX-LPOL rather than allocated.
  const int64_t cells = (lmax + 1) * (lmax + 1);
  SPHAERA_CHECK(cells <= (int64_t{16} << 20) || count >= cells / 1024, where, ": lmax ", lmax, " needs ",
                cells, " coefficients in memory (", (cells * 16) >> 20, " MiB) but the table holds only ", count,
                " (under 1/1024 of them): corrupt INDEX or MAX-LPOL?");
  const int64_t size = lmax + 1;
  std::vector<std::complex<double>> alm(static_cast<size_t>(size * size));
  std::complex<double>* a = alm.data();
  std::vector<uint8_t> seen(static_cast<size_t>(size * size), 0);
  for (long long i = 0; i < count; ++i) {
    const int64_t cell = ls[i] * size + ms[i];
    if (seen[cell] != 0) {
      long long first = 0;
      while (ls[first] != ls[i] || ms[first] != ms[i]) ++first;
      SPHAERA_CHECK(false, where, ": INDEX = ", ls[i] * ls[i] + ls[i] + ms[i] + 1, " (l = ", ls[i], ", m = ", ms[i],
                    ") appears twice, in rows ", first / index_repeat + 1, " and ", i / index_repeat + 1);
    }
    seen[cell] = 1;
    a[cell] = std::complex<double>(re[i], im[i]);
  }
  return {lmax, mmax, std::move(alm)};
}

// Moves to the first table extension; returns its number, or 0 when there is none.
int first_table_extension(fitsfile* f, const std::string& path) {
  const int hdus = hdu_count(f, path);
  for (int ext = 1; ext < hdus; ++ext) {
    if (is_table(move_to_extension(f, ext, path))) return ext;
  }
  return 0;
}

}  // namespace

void write_alm_array(const std::string& path, const std::complex<double>* alm, int64_t components, int64_t lmax,
                     AlmPrecision precision) {
  SPHAERA_CHECK(components >= 1 && lmax >= 0 && alm != nullptr, path,
                ": write_alm wants at least one component of lmax >= 0, got ", components, " components of lmax ",
                lmax);
  const int64_t size = lmax + 1;

  // Entries with m > l are not stored: refuse to lose non-zero ones (NaN counts as non-zero).
  {
    const std::complex<double>* a = alm;
    for (int64_t c = 0; c < components; ++c)
      for (int64_t l = 0; l < size; ++l)
        for (int64_t m = l + 1; m < size; ++m) {
          const auto v = a[(c * size + l) * size + m];
          SPHAERA_CHECK(v.real() == 0.0 && v.imag() == 0.0, path, ": coefficient ",
                        (components > 1 ? "of component " + std::to_string(c) + " " : ""), "at l = ", l, ", m = ", m,
                        " is non-zero, but only 0 <= m <= l is stored (entries with m > l must be zero)");
        }
  }

  // Rows in healpy's order: m-major, l from m to lmax.
  const int64_t rows = size * (size + 1) / 2;
  // First row of order m.
  auto first_row = [size](int64_t m) { return m * size - m * (m - 1) / 2; };
  const bool float32 = precision == AlmPrecision::kFloat32;
  const bool wide_index = size * size > std::numeric_limits<int32_t>::max();
  std::string tform_index = wide_index ? "K" : "J", tform_value = float32 ? "E" : "D";
  std::string ttype[3] = {"INDEX", "REAL", "IMAG"}, tunit[3] = {"l*l+l+m+1", "unknown", "unknown"};
  char* ttypes[3] = {ttype[0].data(), ttype[1].data(), ttype[2].data()};
  char* tforms[3] = {tform_index.data(), tform_value.data(), tform_value.data()};
  char* tunits[3] = {tunit[0].data(), tunit[1].data(), tunit[2].data()};

  AtomicFile out(path);
  FitsFile file;
  int status = fits::create_with_empty_primary(file, out.temporary(), path);
  fitsfile* f = file.get();
  std::vector<double> re(rows), im(rows);
  const int64_t index_bytes = wide_index ? 8 : 4, value_bytes = float32 ? 4 : 8;
  constexpr int64_t kChunkRows = 8192;
  std::vector<unsigned char> chunk(kChunkRows * (index_bytes + 2 * value_bytes));
  for (int64_t c = 0; c < components; ++c) {
    fits_create_tbl(f, BINARY_TBL, rows, 3, ttypes, tforms, tunits, nullptr, &status);
    long long lmax_key = lmax, mmax_key = lmax;
    fits_write_key(f, TLONGLONG, "MAX-LPOL", &lmax_key, "highest l in the table", &status);
    fits_write_key(f, TLONGLONG, "MAX-MPOL", &mmax_key, "highest m in the table", &status);
    char creator[] = "Sphaera";
    fits_write_key(f, TSTRING, "CREATOR", creator, "Software creating the FITS file", &status);
    SPHAERA_CHECK(status == 0, path, ": cannot write the table header: ", fits::error_text(status));
    const std::complex<double>* component = alm + c * size * size;
    // The transposition [l][m] -> rows (m-major), in tiles of 8 orders: one cache line of each l per tile.
    constexpr int64_t kTile = 8;
    for (int64_t m0 = 0; m0 <= lmax; m0 += kTile) {
      const int64_t m1 = std::min(size, m0 + kTile);
      for (int64_t l = m0; l <= lmax; ++l) {
        const std::complex<double>* row = component + l * size;
        for (int64_t m = m0; m < std::min(m1, l + 1); ++m) {
          const int64_t r = first_row(m) + (l - m);
          re[r] = row[m].real();
          im[r] = row[m].imag();
        }
      }
    }
    // The rows as FITS stores them (big-endian INDEX, REAL, IMAG), encoded here and written a chunk of
    // consecutive rows at a time: cfitsio writing column after column would pass over the table three times.
    const int64_t width = index_bytes + 2 * value_bytes;
    int64_t r = 0;
    for (int64_t m = 0; m <= lmax && status == 0; ++m) {
      for (int64_t l = m; l <= lmax; ++l, ++r) {
        unsigned char* row = chunk.data() + (r % kChunkRows) * width;
        const long long index = l * l + l + m + 1;
        if (wide_index) {
          put_big_endian<int64_t>(row, index);
        } else {
          put_big_endian<int32_t>(row, static_cast<int32_t>(index));
        }
        if (float32) {
          put_big_endian<float>(row + index_bytes, static_cast<float>(re[r]));
          put_big_endian<float>(row + index_bytes + value_bytes, static_cast<float>(im[r]));
        } else {
          put_big_endian<double>(row + index_bytes, re[r]);
          put_big_endian<double>(row + index_bytes + value_bytes, im[r]);
        }
        if ((r + 1) % kChunkRows == 0 || r + 1 == rows) {
          const int64_t first = r / kChunkRows * kChunkRows;
          fits_write_tblbytes(f, first + 1, 1, (r + 1 - first) * width, chunk.data(), &status);
        }
      }
    }
    SPHAERA_CHECK(status == 0, path, ": cannot write the coefficients: ", fits::error_text(status));
  }
  status = file.close();
  SPHAERA_CHECK(status == 0, path, ": cannot finish the file (disk full?): ", fits::error_text(status));
  out.commit();
}

AlmArray read_alm_array(const std::string& path, std::optional<int64_t> hdu) {
  FitsFile file;
  open_fits(path, file);
  fitsfile* f = file.get();
  int ext = 0;
  if (hdu) {
    const int extensions = hdu_count(f, path) - 1;
    SPHAERA_CHECK(*hdu != 0, path,
                  ": HDU 0 is the primary HDU, which holds no table; coefficient tables are extensions 1 to ",
                  extensions, " (numbered as in healpy.read_alm)");
    SPHAERA_CHECK(*hdu >= 1 && *hdu <= extensions, path, ": no extension ", *hdu, " (the file has ", extensions,
                  " extension(s), numbered from 1 as in healpy.read_alm)");
    ext = static_cast<int>(*hdu);
    const int type = move_to_extension(f, ext, path);
    SPHAERA_CHECK(is_table(type), path, ": extension ", ext, " is an image, not a table of coefficients");
  } else {
    ext = first_table_extension(f, path);
    SPHAERA_CHECK(ext != 0, path, ": no spherical harmonic coefficients: the FITS file has no table extension");
  }
  AlmTable table = read_alm_table(f, path, ext);
  return {1, table.lmax, table.mmax, std::move(table.alm)};
}

AlmArray read_alm_all_array(const std::string& path) {
  FitsFile file;
  open_fits(path, file);
  fitsfile* f = file.get();
  const int hdus = hdu_count(f, path);
  AlmArray out;
  int first = 0;
  for (int ext = 1; ext < hdus; ++ext) {
    if (!is_table(move_to_extension(f, ext, path))) continue;
    AlmTable table = read_alm_table(f, path, ext);
    if (first == 0) {
      first = ext;
      out.lmax = table.lmax;
      out.mmax = table.mmax;
    }
    SPHAERA_CHECK(table.lmax == out.lmax && table.mmax == out.mmax, path, ": extension ", ext, " has lmax ", table.lmax,
                  ", mmax ", table.mmax, " but extension ", first, " has lmax ", out.lmax, ", mmax ", out.mmax,
                  ": all components must share lmax and mmax");
    out.values.insert(out.values.end(), table.alm.begin(), table.alm.end());
    ++out.components;
  }
  SPHAERA_CHECK(out.components > 0, path, ": no spherical harmonic coefficients: the FITS file has no table extension");
  return out;
}

FitsContent sniff_fits(const std::string& path) {
  check_exists(path);
  FitsFile file;
  try {
    if (try_open(path, file) != 0) return FitsContent::kOther;
  } catch (const core::InvalidArgument&) {
    return FitsContent::kOther;  // a corrupt table header: not a file of ours
  }
  fitsfile* f = file.get();
  int status = 0, hdus = 0;
  fits_get_num_hdus(f, &hdus, &status);
  if (status != 0) return FitsContent::kOther;
  for (int ext = 1; ext < hdus; ++ext) {
    int type = 0;
    fits_movabs_hdu(f, ext + 1, &type, &status);
    if (status != 0) return FitsContent::kOther;
    if (!is_table(type)) continue;
    std::vector<std::string> names;
    try {
      names = column_names(f, path);
    } catch (const core::InvalidArgument&) {
      return FitsContent::kOther;
    }
    if (has_alm_columns(names)) return FitsContent::kAlm;
    if (looks_like_map(f, static_cast<int>(names.size()))) return FitsContent::kHealpixMap;
    return FitsContent::kOther;
  }
  return FitsContent::kOther;
}

const char* fits_content_name(FitsContent content) {
  switch (content) {
    case FitsContent::kHealpixMap:
      return "HEALPix map";
    case FitsContent::kAlm:
      return "spherical harmonic coefficients (alm)";
    case FitsContent::kOther:
      break;
  }
  return "other FITS content";
}

}  // namespace sphaera::data_tools
