// What the FITS and manifest fuzz targets (tests/fuzz) found, one test per finding, each on a file built
// card by card here (so the test shows exactly which bytes matter). Each failed before its fix: the
// unquoted TTYPE aborted the process inside cfitsio, the others gave a wrong message, an 8 GB allocation or
// a path that did not read back.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sphaera/data_tools/alm_fits_arrays.h"
#include "sphaera/data_tools/healpix_fits_arrays.h"
#include "sphaera/data_tools/manifest.h"
#include "tests/support/errors.h"
#include "tests/support/scratch.h"

namespace dt = sphaera::data_tools;
using sphaera::testing::error_of;

namespace {

// One HDU: header cards (each padded to 80 bytes; END is added) and the data bytes.
struct Hdu {
  std::vector<std::string> cards;
  std::string data;
};

// "KEY     = value" with the key padded to 8 columns and the value from column 11.
std::string card(const std::string& key, const std::string& value) {
  std::string k = key;
  k.resize(8, ' ');
  return k + "= " + value;
}

// An integer value right-justified in columns 11 to 30, as the FITS standard fixes for mandatory keywords.
std::string num(int64_t v) {
  std::string s = std::to_string(v);
  return std::string(s.size() < 20 ? 20 - s.size() : 0, ' ') + s;
}

std::string big_endian_double(double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(bits >> (56 - 8 * i));
  return out;
}

class FitsFuzzRegressionTest : public sphaera::testing::ScratchDirTest {
 protected:
  // Writes the HDUs, each header and data unit padded to 2880 bytes (blanks and zeros).
  std::string write_fits(const std::string& name, const std::vector<Hdu>& hdus) {
    std::string bytes;
    for (const Hdu& hdu : hdus) {
      std::string header;
      for (std::string c : hdu.cards) {
        c.resize(80, ' ');
        header += c;
      }
      header += std::string("END").append(77, ' ');
      header.resize((header.size() + 2879) / 2880 * 2880, ' ');
      std::string data = hdu.data;
      data.resize((data.size() + 2879) / 2880 * 2880, '\0');
      bytes += header + data;
    }
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }

  static Hdu empty_primary() {
    return {{card("SIMPLE", "                   T"), card("BITPIX", "                   8"),
             card("NAXIS", "                   0"), card("EXTEND", "                   T")},
            ""};
  }

  // A binary table of `rows` rows of float64 columns named by `ttypes` (values as written, quotes included).
  static Hdu table(const std::vector<std::string>& ttypes, int64_t rows, std::vector<std::string> extra,
                   const std::string& data) {
    Hdu hdu{{card("XTENSION", "'BINTABLE'"), card("BITPIX", "                   8"),
             card("NAXIS", "                   2"),
             card("NAXIS1", num(static_cast<int64_t>(8 * ttypes.size()))), card("NAXIS2", num(rows)),
             card("PCOUNT", "                   0"), card("GCOUNT", "                   1"),
             card("TFIELDS", num(static_cast<int64_t>(ttypes.size())))},
            data};
    for (size_t i = 0; i < ttypes.size(); ++i) {
      hdu.cards.push_back(card("TTYPE" + std::to_string(i + 1), ttypes[i]));
      hdu.cards.push_back(card("TFORM" + std::to_string(i + 1), "'1D      '"));
    }
    hdu.cards.insert(hdu.cards.end(), extra.begin(), extra.end());
    return hdu;
  }
};

// Finding (healpix_map, alm): a TTYPEn whose unquoted value fills the card (70 characters) overran a
// 70-byte field of cfitsio 4.2 (strcpy) and glibc aborted the process. Now one error naming file, HDU, card.
TEST_F(FitsFuzzRegressionTest, UnquotedColumnNameFillingTheCardIsAnErrorNotAnAbort) {
  const std::string name(70, 'X');
  const std::string map = write_fits(
      "map.fits", {empty_primary(), table({name}, 12, {card("PIXTYPE", "'HEALPIX '"), card("ORDERING", "'RING    '"),
                                                       card("NSIDE", num(1))},
                                          std::string(96, '\0'))});
  const std::string expected = map + ": HDU 2, header card 9: TTYPE1 is not a quoted string (corrupt header)";
  EXPECT_EQ(error_of([&] { dt::read_healpix_map_array(map); }), expected);
  EXPECT_EQ(error_of([&] { dt::read_healpix_map_info(map); }), expected);
  EXPECT_EQ(error_of([&] { dt::read_alm_array(map); }), expected);
  EXPECT_EQ(dt::sniff_fits(map), dt::FitsContent::kOther);

  // A quoted name of the longest length FITS allows (68 characters) still reads.
  const std::string ok = write_fits(
      "quoted.fits", {empty_primary(), table({"'" + std::string(68, 'Y') + "'"}, 12,
                                             {card("PIXTYPE", "'HEALPIX '"), card("ORDERING", "'RING    '")},
                                             std::string(96, '\0'))});
  EXPECT_EQ(dt::read_healpix_map_array(ok).nside, 1);
}

// Findings (healpix_map): cfitsio 4.2 quotes a value it cannot convert in an 81-byte message, and glibc
// aborted the process: NSIDE = 57 bytes of garbage (read as an integer), a TSCALn that is a long string.
TEST_F(FitsFuzzRegressionTest, ValuesCfitsioWouldQuoteInAnOverlongMessageAreErrors) {
  const auto map_with = [&](const std::string& name, const std::string& extra_card) {
    return write_fits(name, {empty_primary(), table({"'A'"}, 12, {card("PIXTYPE", "'HEALPIX '"),
                                                                  card("ORDERING", "'RING    '"), extra_card},
                                                    std::string(96, '\0'))});
  };
  const std::string nside = map_with("nside.fits", card("NSIDE", "   " + std::string(57, '\xff')));
  EXPECT_EQ(error_of([&] { dt::read_healpix_map_array(nside); }),
            nside + ": HDU 2, header card 13: NSIDE is not a FITS value: an unquoted value of more than 28 "
                    "characters (corrupt header)");
  const std::string tscal = map_with("tscal.fits", card("TSCAL1", "'" + std::string(60, 'S') + "'"));
  EXPECT_EQ(error_of([&] { dt::read_healpix_map_array(tscal); }),
            tscal + ": HDU 2, header card 13: TSCAL1 is not a number (corrupt header)");
  EXPECT_EQ(dt::sniff_fits(tscal), dt::FitsContent::kOther);
  // Numbers as FITS writes them, and a complex value, still read.
  const std::string fine = map_with("fine.fits", card("TSCAL1", "  1.0000000000000000E+00"));
  EXPECT_EQ(dt::read_healpix_map_array(fine).nside, 1);
  EXPECT_EQ(dt::read_healpix_map_array(map_with("complex.fits", card("CVALUE", "(-1.2345678901234567E+30, 2.5E-1)"))).nside, 1);
}

// The same card in the second extension, behind a data unit the header walk must step over.
TEST_F(FitsFuzzRegressionTest, HeaderWalkFindsTheCardBehindAnotherExtension) {
  const std::string first = std::string(96, '\0');
  const std::string path = write_fits(
      "two.fits", {empty_primary(), table({"'A'"}, 12, {}, first), table({std::string(70, 'Z')}, 1, {}, first)});
  EXPECT_EQ(error_of([&] { dt::read_alm_all_array(path); }),
            path + ": HDU 3, header card 9: TTYPE1 is not a quoted string (corrupt header)");
}

// Finding (alm): INDEX = 5.5e241 was cast to long long for the message (undefined behaviour; the message
// showed -9223372036854775808).
TEST_F(FitsFuzzRegressionTest, HugeIndexIsNamedAsItIs) {
  const std::string data = big_endian_double(5.46779e241) + big_endian_double(1) + big_endian_double(0);
  const std::string path = write_fits("alm.fits", {empty_primary(), table({"'INDEX'", "'REAL'", "'IMAG'"}, 1, {}, data)});
  EXPECT_EQ(error_of([&] { dt::read_alm_array(path); }),
            path + ": extension 1: row 1: INDEX = 5.46779e+241 means l > 32767, the largest lmax read (corrupt file?)");
}

// Finding (alm): MAX-LPOL = 23000 over three rows allocated [23001]² complex values (8 GB) for a 14 kB file.
// Sparse tables still read (missing coefficients are zeros) while they fill 1/1024 of an array above 256 MiB.
TEST_F(FitsFuzzRegressionTest, SparseTableMayNotClaimGigabytes) {
  std::string data;
  // (l, m) = (0, 0), (1, 0), (1, 1)
  for (double index : {1.0, 3.0, 4.0}) data += big_endian_double(index) + big_endian_double(1) + big_endian_double(0);
  const auto with_lmax = [&](const std::string& name, int64_t lmax) {
    return write_fits(name, {empty_primary(), table({"'INDEX'", "'REAL'", "'IMAG'"}, 3,
                                                    {card("MAX-LPOL", num(lmax))}, data)});
  };
  const std::string huge = with_lmax("huge.fits", 23000);
  EXPECT_EQ(error_of([&] { dt::read_alm_array(huge); }),
            huge + ": extension 1: lmax 23000 needs 529046001 coefficients in memory (8072 MiB) but the table "
                   "holds only 3 (under 1/1024 of them): corrupt INDEX or MAX-LPOL?");
  const dt::AlmArray sparse = dt::read_alm_array(with_lmax("sparse.fits", 4095));  // 256 MiB: still read
  EXPECT_EQ(sparse.lmax, 4095);
  EXPECT_EQ(sparse.values[0], std::complex<double>(1, 0));
  EXPECT_EQ(sparse.values[4096 * 4096 - 1], std::complex<double>(0, 0));
}

// Finding (healpix_map): TFIELDS beyond any memory made cfitsio's calloc overflow; the reader must report
// cfitsio's error (under AddressSanitizer this needs allocator_may_return_null=1, as glibc behaves).
TEST_F(FitsFuzzRegressionTest, AbsurdFieldCountIsAnError) {
  Hdu t = table({"'A'"}, 12, {card("PIXTYPE", "'HEALPIX '"), card("ORDERING", "'RING    '")}, std::string(96, '\0'));
  t.cards[7] = card("TFIELDS", "9223372036854775807");
  const std::string path = write_fits("tfields.fits", {empty_primary(), t});
  EXPECT_NE(error_of([&] { dt::read_healpix_map_array(path); }).find(path), std::string::npos);
  EXPECT_EQ(dt::sniff_fits(path), dt::FitsContent::kOther);
}

class ManifestFuzzRegressionTest : public sphaera::testing::ScratchDirTest {};

// Finding (manifest): an input "//" stayed "//" (std::filesystem keeps a leading double slash) but was
// written back as "/", so a manifest did not read back as itself.
TEST_F(ManifestFuzzRegressionTest, LeadingDoubleSlashReadsBackTheSame) {
  const std::string csv = path("m.csv");
  std::ofstream(csv) << "input,label\n//,1\n//data//a.fits,2\n";
  const auto entries = dt::read_manifest(csv);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].input, "/");
  EXPECT_EQ(entries[1].input, "/data/a.fits");
  const std::string copy = path("copy.csv");
  dt::write_manifest(copy, entries);
  const auto back = dt::read_manifest(copy);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].input, entries[0].input);
  EXPECT_EQ(back[1].input, entries[1].input);
}

// Finding (manifest): a quoted input holding a CR read with it but was written back without it (the reader
// normalises line breaks). A control character in a field is now an error naming the line and field.
TEST_F(ManifestFuzzRegressionTest, ControlCharactersInFieldsAreErrors) {
  const std::string csv = path("cr.csv");
  std::ofstream(csv) << "input,label\na.fits,0\n\"/abs/p1\r2.fits\",1\n";
  EXPECT_EQ(error_of([&] { dt::read_manifest(csv); }),
            csv + ":3: field 1 holds a control character (0x0D): a line break inside quotes?");
  std::ofstream(csv) << "input,label\n\"two\nlines.fits\",1\n";
  EXPECT_EQ(error_of([&] { dt::read_manifest(csv); }),
            csv + ":2: field 1 holds a control character (0x0A): a line break inside quotes?");
}

}  // namespace
