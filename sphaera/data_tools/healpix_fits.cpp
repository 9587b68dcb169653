#include "sphaera/data_tools/healpix_fits.h"

#include <fitsio.h>
#include <healpix_base.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/fits_file.h"
#include "sphaera/data_tools/healpix_order.h"

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
// The pixels as stored ([count, npix], NaN where invalid) of the open map m.
at::Tensor read_pixels(const std::string& path, OpenMap& m, std::optional<int64_t> expected_nside,
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
  auto out = torch::empty({count, m.npix}, torch::kDouble);
  for (int c = 0; c < count; ++c) {
    int status = 0, anynul = 0;
    double null_value = std::nan("");  // undefined values (NaN, TNULL) come back as NaN
    fits_read_col(m.file.get(), TDOUBLE, first + c, 1, 1, m.npix, &null_value, out[c].data_ptr<double>(), &anynul,
                  &status);
    SPHAERA_CHECK(status == 0, path, ": cannot read column ", first + c,
                  " (truncated or corrupt file?): ", fits::error_text(status));
  }
  // NaN and UNSEEN (|x/UNSEEN − 1| < 1e-5, as invalid_pixel_mask) become NaN, in one pass.
  double* x = out.data_ptr<double>();
  at::parallel_for(0, out.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      if (std::abs(x[i] / kUnseen - 1.0) < 1e-5) x[i] = std::nan("");
  });
  return out;
}
}  // namespace

at::Tensor read_healpix_map(const std::string& path, std::optional<int64_t> expected_nside,
                            std::optional<int64_t> column) {
  OpenMap m;
  open_map(path, m);
  at::Tensor out = read_pixels(path, m, expected_nside, column);
  if (!m.nest) out = out.index_select(1, nest_to_ring_index(m.nside));
  return column || m.columns == 1 ? out[0].contiguous() : out;
}

at::Tensor read_healpix_map_as_stored(const std::string& path, bool& nest) {
  OpenMap m;
  open_map(path, m);
  nest = m.nest;
  return read_pixels(path, m, std::nullopt, std::nullopt);
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
  const bool write_nest_order = nest;
  SPHAERA_CHECK(map.defined() && (map.dim() == 1 || map.dim() == 2), path,
                ": write_healpix_map wants a map [npix] or [C, npix], got ",
                map.defined() ? map.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(!map.is_complex(), path, ": cannot write a complex map");
  const int64_t npix = map.size(-1);
  const int64_t nside = nside_of_npix(npix, path + ": map to write");
  auto maps = map.dim() == 1 ? map.unsqueeze(0) : map;
  const int64_t channels = maps.size(0);
  SPHAERA_CHECK(channels >= 1 && channels <= 999, path, ": cannot write ", channels, " columns (1 to 999)");

  const bool float32 =
      precision == MapPrecision::kFloat32 ||
      (precision == MapPrecision::kAuto && maps.is_floating_point() && maps.scalar_type() != torch::kDouble);
  auto data = maps.detach().to(torch::kCPU, torch::kDouble);
  data = data.masked_fill(data.isnan(), kUnseen);
  if (float32) data = data.to(torch::kFloat);
  data = data.contiguous();

  // Rows of 1024 values, as healpy writes maps of at least 1024 pixels; one value per row otherwise.
  const long repeat = npix % 1024 == 0 ? 1024 : 1;
  const std::string tform = std::to_string(repeat) + (float32 ? "E" : "D");
  std::vector<std::string> names;
  for (int64_t c = 0; c < channels; ++c) names.push_back(channels == 1 ? "SIGNAL" : "CHANNEL_" + std::to_string(c));
  std::vector<char*> ttype, tforms;
  for (auto& n : names) {
    ttype.push_back(const_cast<char*>(n.c_str()));
    tforms.push_back(const_cast<char*>(tform.c_str()));
  }

  AtomicFile out(path);
  FitsFile file;
  int status = fits::create_with_empty_primary(file, out.temporary(), path);
  fitsfile* f = file.get();
  fits_create_tbl(f, BINARY_TBL, npix / repeat, static_cast<int>(channels), ttype.data(), tforms.data(), nullptr,
                  "xtension", &status);
  auto key_string = [&](const char* key, const char* value, const char* comment) {
    fits_write_key(f, TSTRING, key, const_cast<char*>(value), comment, &status);
  };
  auto key_integer = [&](const char* key, long long value, const char* comment) {
    fits_write_key(f, TLONGLONG, key, &value, comment, &status);
  };
  key_string("PIXTYPE", "HEALPIX", "HEALPIX pixelisation");
  key_string("ORDERING", write_nest_order ? "NESTED" : "RING", "Pixel ordering scheme, either RING or NESTED");
  key_integer("NSIDE", nside, "Resolution parameter of HEALPIX");
  key_integer("FIRSTPIX", 0, "First pixel # (0 based)");
  key_integer("LASTPIX", npix - 1, "Last pixel # (0 based)");
  key_string("INDXSCHM", "IMPLICIT", "Indexing: IMPLICIT or EXPLICIT");
  key_string("OBJECT", "FULLSKY", "Sky coverage, either FULLSKY or PARTIAL");
  double bad = kUnseen;
  fits_write_key(f, TDOUBLE, "BAD_DATA", &bad, "Sentinel value given to bad pixels", &status);
  key_string("CREATOR", "Sphaera", "Software creating the FITS file");
  SPHAERA_CHECK(status == 0, path, ": cannot write the FITS header: ", fits::error_text(status));
  for (int64_t c = 0; c < channels; ++c) {
    if (float32) {
      fits_write_col(f, TFLOAT, static_cast<int>(c) + 1, 1, 1, npix, data[c].data_ptr<float>(), &status);
    } else {
      fits_write_col(f, TDOUBLE, static_cast<int>(c) + 1, 1, 1, npix, data[c].data_ptr<double>(), &status);
    }
  }
  SPHAERA_CHECK(status == 0, path, ": cannot write the pixels: ", fits::error_text(status));
  status = file.close();
  SPHAERA_CHECK(status == 0, path, ": cannot finish the file (disk full?): ", fits::error_text(status));
  out.commit();
}

}  // namespace sphaera::data_tools
