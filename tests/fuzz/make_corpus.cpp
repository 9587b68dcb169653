// Writes the generated seeds of tests/fuzz/corpus (run by hand after a change of the writers or of the
// seeds; its outputs are committed):
//
//   build-fuzz/make_corpus tests/fuzz/corpus
//
//   healpix_map/  maps of nside 1 and 2, RING and NESTED, float32 and float64, 1 and 3 columns, written by
//                 write_healpix_map_array; plus hand-made tables (cfitsio) the reader must also take or refuse:
//                 ASCII table, scaled int16 with TNULL, vector column (repeat 4), ORDERING in the primary
//                 header only, partial sky (INDXSCHM = EXPLICIT), an image extension before the table.
//   alm/          coefficients of lmax 0 to 3, float32 and float64, 1 and 3 components, written by
//                 write_alm_array; plus hand-made tables: missing rows with MAX-LPOL/MAX-MPOL, a float INDEX
//                 and extra error columns, an int64 INDEX, an ASCII table, two tables of different lmax,
//                 and a map (for sniff_fits).
//   matrix_market/  inputs of fuzz_matrix_market's decoder (see decode() there).
// Each file is a few FITS blocks (2880 bytes); the whole corpus stays well under 1 MB.
#include <fitsio.h>

#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sphaera/data_tools/alm_fits_arrays.h"
#include "sphaera/data_tools/healpix_fits_arrays.h"

namespace fs = std::filesystem;
namespace dt = sphaera::data_tools;

namespace {

void ok(int status, const std::string& what) {
  if (status != 0) {
    char text[FLEN_STATUS];
    fits_get_errstatus(status, text);
    std::fprintf(stderr, "make_corpus: %s: %s (%d)\n", what.c_str(), text, status);
    std::exit(1);
  }
}

// A FITS file with an empty primary HDU, written with cfitsio directly.
fitsfile* create(const std::string& path) {
  fs::remove(path);
  fitsfile* f = nullptr;
  int status = 0;
  fits_create_diskfile(&f, path.c_str(), &status);
  fits_create_img(f, BYTE_IMG, 0, nullptr, &status);
  ok(status, path);
  return f;
}

void close(fitsfile* f, const std::string& path) {
  int status = 0;
  fits_close_file(f, &status);
  ok(status, path);
}

void key_string(fitsfile* f, const char* key, const char* value, int& status) {
  fits_write_key(f, TSTRING, key, const_cast<char*>(value), nullptr, &status);
}
void key_long(fitsfile* f, const char* key, long long value, int& status) {
  fits_write_key(f, TLONGLONG, key, &value, nullptr, &status);
}
void key_double(fitsfile* f, const char* key, double value, int& status) {
  fits_write_key(f, TDOUBLE, key, &value, nullptr, &status);
}

// A table of `columns` columns named and formatted as given, with `rows` rows.
void table(fitsfile* f, int type, long rows, std::vector<std::string> names, std::vector<std::string> forms,
           int& status) {
  std::vector<char*> ttype, tform;
  for (auto& n : names) ttype.push_back(n.data());
  for (auto& t : forms) tform.push_back(t.data());
  fits_create_tbl(f, type, rows, static_cast<int>(names.size()), ttype.data(), tform.data(), nullptr, nullptr,
                  &status);
}

void healpix_keys(fitsfile* f, const char* ordering, long long nside, int& status) {
  key_string(f, "PIXTYPE", "HEALPIX", status);
  key_string(f, "ORDERING", ordering, status);
  key_long(f, "NSIDE", nside, status);
  key_string(f, "INDXSCHM", "IMPLICIT", status);
}

std::vector<double> pixels(long n, double offset) {
  std::vector<double> x(n);
  for (long i = 0; i < n; ++i) x[i] = offset + 0.25 * i - 1.0;
  return x;
}

void maps(const fs::path& dir) {
  for (int64_t nside : {1, 2})
    for (bool nest : {false, true})
      for (bool f32 : {false, true})
        for (int64_t columns : {1, 3}) {
          const int64_t npix = 12 * nside * nside;
          std::vector<double> x = pixels(static_cast<long>(columns * npix), 0.0);
          x[1] = std::nan("");   // written as UNSEEN
          x[2] = dt::kUnseen;
          const std::string name = "map_n" + std::to_string(nside) + (nest ? "_nest" : "_ring") +
                                   (f32 ? "_f32" : "_f64") + "_c" + std::to_string(columns) + ".fits";
          dt::write_healpix_map_array((dir / name).string(), x.data(), columns, npix, nest, f32);
        }

  {  // ASCII table
    const std::string p = (dir / "map_ascii_table.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    table(f, ASCII_TBL, 12, {"SIGNAL"}, {"E15.7"}, status);
    healpix_keys(f, "RING", 1, status);
    auto x = pixels(12, 3.0);
    fits_write_col(f, TDOUBLE, 1, 1, 1, 12, x.data(), &status);
    ok(status, p);
    close(f, p);
  }
  {  // scaled int16 with TNULL
    const std::string p = (dir / "map_int16_scaled_tnull.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    table(f, BINARY_TBL, 12, {"SIGNAL"}, {"1I"}, status);
    healpix_keys(f, "NESTED", 1, status);
    key_double(f, "TSCAL1", 0.5, status);
    key_double(f, "TZERO1", 1.0, status);
    key_long(f, "TNULL1", -32768, status);
    fits_set_tscale(f, 1, 1.0, 0.0, &status);  // write raw integers
    short raw[12] = {-32768, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 32767};
    fits_write_col(f, TSHORT, 1, 1, 1, 12, raw, &status);
    ok(status, p);
    close(f, p);
  }
  {  // vector column: 3 rows of 4 values
    const std::string p = (dir / "map_repeat4.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    table(f, BINARY_TBL, 3, {"T", "Q"}, {"4E", "4D"}, status);
    healpix_keys(f, "RING", 1, status);
    auto x = pixels(12, 1.0);
    fits_write_col(f, TDOUBLE, 1, 1, 1, 12, x.data(), &status);
    fits_write_col(f, TDOUBLE, 2, 1, 1, 12, x.data(), &status);
    ok(status, p);
    close(f, p);
  }
  {  // ORDERING only in the primary header, no PIXTYPE, no NSIDE
    const std::string p = (dir / "map_primary_ordering.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    key_string(f, "ORDERING", "NEST", status);
    table(f, BINARY_TBL, 48, {"I_STOKES"}, {"1D"}, status);
    auto x = pixels(48, 0.0);
    fits_write_col(f, TDOUBLE, 1, 1, 1, 48, x.data(), &status);
    ok(status, p);
    close(f, p);
  }
  {  // partial sky
    const std::string p = (dir / "map_explicit.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    table(f, BINARY_TBL, 4, {"PIXEL", "SIGNAL"}, {"1J", "1E"}, status);
    healpix_keys(f, "RING", 1, status);
    key_string(f, "INDXSCHM", "EXPLICIT", status);
    key_string(f, "OBJECT", "PARTIAL", status);
    ok(status, p);
    close(f, p);
  }
  {  // an image extension, then the table
    const std::string p = (dir / "map_after_image.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    long axes[2] = {2, 2};
    fits_create_img(f, SHORT_IMG, 2, axes, &status);
    table(f, BINARY_TBL, 12, {"SIGNAL"}, {"1E"}, status);
    healpix_keys(f, "RING", 1, status);
    auto x = pixels(12, 2.0);
    fits_write_col(f, TDOUBLE, 1, 1, 1, 12, x.data(), &status);
    ok(status, p);
    close(f, p);
  }
}

std::vector<std::complex<double>> coefficients(int64_t components, int64_t lmax) {
  const int64_t size = lmax + 1;
  std::vector<std::complex<double>> a(static_cast<size_t>(components * size * size));
  for (int64_t c = 0; c < components; ++c)
    for (int64_t l = 0; l < size; ++l)
      for (int64_t m = 0; m <= l; ++m) a[(c * size + l) * size + m] = {0.5 * l - m + c, m == 0 ? 0.0 : 0.125 * m};
  return a;
}

// Rows (index, re, im) into a new binary table with the given column formats.
void alm_rows(fitsfile* f, const std::vector<std::string>& forms, const std::vector<double>& index,
              const std::vector<double>& re, const std::vector<double>& im, int& status) {
  std::vector<std::string> names = {"INDEX", "REAL", "IMAG"};
  for (size_t k = 3; k < forms.size(); ++k) names.push_back(k == 3 ? "REAL_ERROR" : "IMAG_ERROR");
  table(f, BINARY_TBL, static_cast<long>(index.size()), names, forms, status);
  const long n = static_cast<long>(index.size());
  fits_write_col(f, TDOUBLE, 1, 1, 1, n, const_cast<double*>(index.data()), &status);
  fits_write_col(f, TDOUBLE, 2, 1, 1, n, const_cast<double*>(re.data()), &status);
  fits_write_col(f, TDOUBLE, 3, 1, 1, n, const_cast<double*>(im.data()), &status);
  for (int c = 4; c <= static_cast<int>(forms.size()); ++c)
    fits_write_col(f, TDOUBLE, c, 1, 1, n, const_cast<double*>(im.data()), &status);
}

void alms(const fs::path& dir) {
  for (int64_t lmax : {0, 1, 3})
    for (bool f32 : {false, true}) {
      const auto a = coefficients(1, lmax);
      dt::write_alm_array((dir / ("alm_l" + std::to_string(lmax) + (f32 ? "_f32" : "_f64") + ".fits")).string(),
                          a.data(), 1, lmax, f32 ? dt::AlmPrecision::kFloat32 : dt::AlmPrecision::kFloat64);
    }
  {
    const auto a = coefficients(3, 2);
    dt::write_alm_array((dir / "alm_teb_l2_f64.fits").string(), a.data(), 3, 2);
  }
  {  // missing rows (l = 0, 1 absent, as HEALPix Fortran files starting at l = 2), MAX-LPOL/MAX-MPOL larger
    const std::string p = (dir / "alm_compressed.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    alm_rows(f, {"1J", "1D", "1D"}, {5, 7, 9, 13}, {1, 2, 3, 4}, {0, 0.5, 0, -1}, status);
    key_long(f, "MAX-LPOL", 4, status);
    key_long(f, "MAX-MPOL", 3, status);
    ok(status, p);
    close(f, p);
  }
  {  // float INDEX, float32 values, HEALPix Fortran's error columns, rows out of order
    const std::string p = (dir / "alm_float_index_errors.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    alm_rows(f, {"1D", "1E", "1E", "1E", "1E"}, {3, 1, 2, 4}, {0.5, 1, -2, 3}, {0.25, 0, 0, 0.75}, status);
    ok(status, p);
    close(f, p);
  }
  {  // int64 INDEX, lower-case names
    const std::string p = (dir / "alm_int64_index.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    std::vector<std::string> names = {"index", "real", "imag"}, forms = {"1K", "1D", "1D"};
    table(f, BINARY_TBL, 3, names, forms, status);
    long long index[3] = {1, 2, 3};
    double re[3] = {1, 2, 3}, im[3] = {0, 0, 1};
    fits_write_col(f, TLONGLONG, 1, 1, 1, 3, index, &status);
    fits_write_col(f, TDOUBLE, 2, 1, 1, 3, re, &status);
    fits_write_col(f, TDOUBLE, 3, 1, 1, 3, im, &status);
    ok(status, p);
    close(f, p);
  }
  {  // ASCII table
    const std::string p = (dir / "alm_ascii.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    std::vector<std::string> names = {"INDEX", "REAL", "IMAG"}, forms = {"I8", "E15.7", "E15.7"};
    table(f, ASCII_TBL, 3, names, forms, status);
    double index[3] = {1, 2, 3}, re[3] = {1, 2, 3}, im[3] = {0, 0, 1};
    fits_write_col(f, TDOUBLE, 1, 1, 1, 3, index, &status);
    fits_write_col(f, TDOUBLE, 2, 1, 1, 3, re, &status);
    fits_write_col(f, TDOUBLE, 3, 1, 1, 3, im, &status);
    ok(status, p);
    close(f, p);
  }
  {  // two components of different lmax (read_alm_all_array refuses them)
    const std::string p = (dir / "alm_two_tables_lmax_differ.fits").string();
    fitsfile* f = create(p);
    int status = 0;
    alm_rows(f, {"1J", "1D", "1D"}, {1, 2, 3}, {1, 2, 3}, {0, 0, 1}, status);
    alm_rows(f, {"1J", "1D", "1D"}, {1}, {1}, {0}, status);
    ok(status, p);
    close(f, p);
  }
  {  // a map: sniff_fits says kHealpixMap, the alm readers refuse it
    std::vector<double> x = pixels(12, 0.0);
    dt::write_healpix_map_array((dir / "map_n1_ring_f32_c1.fits").string(), x.data(), 1, 12, false, true);
  }
}

void write_bytes(const fs::path& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

// Seeds for fuzz_matrix_market's decoder: [rows % 33] [flags] [cols...] then per row [count] and per entry
// [gap] [kind] [value bytes] (kind % 4: 0 raw float64 bits, 1 special value k, 2 int8, 3 float32 bits).
void matrix_market(const fs::path& dir) {
  // 3x3 square (flag 1), special values: 0, -0, inf, -inf, NaN, -NaN, denorm_min, largest subnormal...
  write_bytes(dir / "square_specials.bin", {3, 1,                                 //
                                            3, 0, 1, 0, 0, 1, 1, 0, 1, 2,         // row 0: cols 0, 1, 2
                                            3, 0, 1, 3, 0, 1, 4, 0, 1, 5,         // row 1
                                            3, 0, 1, 7, 0, 1, 10, 0, 1, 11});     // row 2
  // 4x4 square, raw float64 bits (a subnormal, a NaN with payload, pi) and small integers
  write_bytes(dir / "square_raw_bits.bin",
              {4, 1,                                                              //
               2, 0, 0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,           // row 0: col 0, subnormal
               1, 2, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18,             //        col 3, pi
               1, 1, 0, 0x7f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34,          // row 1: col 1, NaN payload
               2, 0, 2, 0x85, 1, 2, 0x7f,                                        // row 2: cols 0, 2: -123, 127
               1, 3, 3, 0x00, 0x00, 0x00, 0x01});                                // row 3: col 3, float32 subnormal
  // 2x5 general (not square: the symmetric write is refused), with a comment (flag 2)
  write_bytes(dir / "rect_comment.bin", {2, 2, 5,                                 //
                                         2, 0, 2, 1, 3, 3, 0x3f, 0x80, 0x00, 0x00,  // row 0: cols 0, 4
                                         1, 1, 1, 16,                            // row 1: col 2, 0.1
                                         'a', 'b', '\n', '\n', 'c', '%', 'd', '\n', 8});  // comment: 8 bytes
  // 3 rows, 2^31 - 1 columns (flag 4: wide columns, 3-byte gaps)
  write_bytes(dir / "wide_columns.bin", {3, 4, 0x7f, 0xff, 0xff, 0xff,             //
                                         1, 0, 0, 0, 1, 2,                       // row 0: col 0, inf
                                         1, 0x7f, 0xff, 0xff, 2, 0xff,           // row 1: col 8388607, -1
                                         0});                                    // row 2: empty
  write_bytes(dir / "empty.bin", {0, 0});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus CORPUS_DIR (tests/fuzz/corpus)\n");
    return 2;
  }
  const fs::path root(argv[1]);
  for (const char* d : {"healpix_map", "alm", "matrix_market"}) fs::create_directories(root / d);
  maps(root / "healpix_map");
  alms(root / "alm");
  matrix_market(root / "matrix_market");
  return 0;
}
