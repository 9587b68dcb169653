// Spherical harmonic coefficient (alm) FITS files: round trips, healpy interoperability both ways, files in the
// HEALPix C++ and Fortran layouts, sniffing maps from coefficients, and clear errors on bad files.
#include "sphaera/data_tools/alm_fits.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "tests/support/errors.h"
#include "tests/support/npy.h"
#include "tests/support/scratch.h"

namespace fs = std::filesystem;
using namespace sphaera::data_tools;
using sphaera::testing::error_of;
using sphaera::testing::load_npy;

namespace {

// Python helpers shared by the scripts: healpy's 1-D order <-> our [l, m] layout, complex arrays saved as
// two float64 .npy files, and hand-made coefficient tables (astropy) for layouts healpy never writes.
const char* kPythonPrelude = R"(
from astropy.io import fits

def to_lm(a, lmax, mmax=None):
    mmax = lmax if mmax is None else mmax
    out = np.zeros((lmax + 1, lmax + 1), complex)
    for m in range(mmax + 1):
        for l in range(m, lmax + 1):
            out[l, m] = a[hp.Alm.getidx(lmax, l, m)]
    return out

def save_complex(stem, z):
    np.save(stem + '_re.npy', np.ascontiguousarray(np.real(z), dtype=np.float64))
    np.save(stem + '_im.npy', np.ascontiguousarray(np.imag(z), dtype=np.float64))

def random_alm(rng, lmax, mmax=None):
    n = hp.Alm.getsize(lmax, lmax if mmax is None else mmax)
    return rng.standard_normal(n) + 1j * rng.standard_normal(n)

def table(columns, keys=()):
    hdu = fits.BinTableHDU.from_columns([fits.Column(name=n, format=f, array=np.asarray(v)) for n, f, v in columns])
    for k, v in keys:
        hdu.header[k] = v
    return hdu

def save_fits(name, *hdus):
    fits.HDUList([fits.PrimaryHDU()] + list(hdus)).writeto(name, overwrite=True)
)";

class AlmFitsTest : public sphaera::testing::ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    torch::manual_seed(7);
  }

  // Runs a script with the system Python (healpy, astropy, numpy) in the test directory; fails the test with
  // its output when it exits non-zero (its asserts compare values on the Python side).
  void python(const std::string& script) {
    const auto r = run_python(script, kPythonPrelude);
    ASSERT_EQ(r.exit_code, 0) << "python failed:\n" << script << "\n" << r.out;
  }

  // A complex array saved by save_complex() as complex128.
  at::Tensor load_complex(const std::string& stem) const {
    return torch::complex(load_npy(path(stem + "_re.npy")), load_npy(path(stem + "_im.npy")));
  }

  // The message of the error `f` throws; asserts it names the file and contains `expected`.
  template <typename F>
  void expect_error(F&& f, const std::string& file, const std::string& expected) {
    const std::string message = error_of(f);
    EXPECT_NE(message.find(path(file)), std::string::npos) << "message does not name the file: " << message;
    EXPECT_NE(message.find(expected), std::string::npos) << "expected '" << expected << "' in: " << message;
  }

};

// Random coefficients [..., lmax + 1, lmax + 1], zero where m > l.
at::Tensor random_alm(int64_t lmax, std::vector<int64_t> leading = {}) {
  leading.push_back(lmax + 1);
  leading.push_back(lmax + 1);
  auto alm = torch::complex(torch::randn(leading, torch::kDouble), torch::randn(leading, torch::kDouble));
  return alm * torch::ones({lmax + 1, lmax + 1}, torch::kDouble).tril();
}

TEST_F(AlmFitsTest, RoundTripIsExactInFloat64) {
  const auto alm = random_alm(16);
  write_alm(path("a.fits"), alm);
  const auto back = read_alm(path("a.fits"));
  EXPECT_EQ(back.scalar_type(), torch::kComplexDouble);
  EXPECT_EQ(back.sizes(), alm.sizes());
  EXPECT_TRUE(torch::equal(back, alm));
  EXPECT_TRUE(torch::equal(read_alm(path("a.fits"), 1), alm));
  EXPECT_TRUE(torch::equal(read_alm_all(path("a.fits")), alm.unsqueeze(0)));

  // Several components: one extension each.
  const auto teb = random_alm(8, {3});
  write_alm(path("teb.fits"), teb);
  EXPECT_TRUE(torch::equal(read_alm_all(path("teb.fits")), teb));
  EXPECT_TRUE(torch::equal(read_alm(path("teb.fits")), teb[0]));
  EXPECT_TRUE(torch::equal(read_alm(path("teb.fits"), 3), teb[2]));

  // complex64 in, float64 columns: the float32 values survive exactly.
  const auto single = random_alm(5).to(torch::kComplexFloat);
  write_alm(path("c64.fits"), single);
  EXPECT_TRUE(torch::equal(read_alm(path("c64.fits")), single.to(torch::kComplexDouble)));

  // lmax 0: a single coefficient.
  const auto monopole = torch::complex(torch::full({1, 1}, 2.5, torch::kDouble), torch::zeros({1, 1}, torch::kDouble));
  write_alm(path("l0.fits"), monopole);
  EXPECT_TRUE(torch::equal(read_alm(path("l0.fits")), monopole));

  // Nothing but the files written is left in the directory (no temporaries).
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 4);
}

TEST_F(AlmFitsTest, Float32ColumnsKeepFloat32Precision) {
  const auto alm = random_alm(40);  // large enough for the files to differ by more than FITS block padding
  write_alm(path("f32.fits"), alm, AlmPrecision::kFloat32);
  write_alm(path("f64.fits"), alm, AlmPrecision::kFloat64);
  const auto back = read_alm(path("f32.fits"));
  EXPECT_TRUE(torch::equal(back, alm.to(torch::kComplexFloat).to(torch::kComplexDouble)));
  EXPECT_FALSE(torch::equal(back, alm));
  EXPECT_LT((back - alm).abs().max().item<double>(), 1e-6 * alm.abs().max().item<double>());
  EXPECT_LT(fs::file_size(path("f32.fits")), fs::file_size(path("f64.fits")));
}

TEST_F(AlmFitsTest, ReadsWhatHealpyWrites) {
  python(
      "rng = np.random.default_rng(5)\n"
      "for lmax in (16, 64):\n"
      "    a = random_alm(rng, lmax)\n"
      "    hp.write_alm('healpy_%d.fits' % lmax, a, out_dtype=np.float64)\n"
      "    save_complex('healpy_%d' % lmax, to_lm(a, lmax))\n"
      "# mmax < lmax, by truncation (mmax=) and from a truncated array (mmax_in=)\n"
      "a = random_alm(rng, 20)\n"
      "hp.write_alm('trunc.fits', a, mmax=7, out_dtype=np.float64)\n"
      "z = to_lm(a, 20); z[:, 8:] = 0\n"
      "save_complex('trunc', z)\n"
      "b = random_alm(rng, 20, 5)\n"
      "hp.write_alm('mmax_in.fits', b, mmax_in=5, out_dtype=np.float64)\n"
      "save_complex('mmax_in', to_lm(b, 20, 5))\n"
      "# T, E, B as a list; float32 columns\n"
      "teb = [random_alm(rng, 24) for _ in range(3)]\n"
      "hp.write_alm('teb32.fits', teb, out_dtype=np.float32)\n"
      "save_complex('teb32', np.stack([to_lm(x.astype(np.complex64), 24) for x in teb]))\n");
  for (const char* stem : {"healpy_16", "healpy_64", "trunc", "mmax_in"}) {
    const auto expected = load_complex(stem);
    const auto ours = read_alm(path(std::string(stem) + ".fits"));
    EXPECT_EQ(ours.sizes(), expected.sizes()) << stem;
    EXPECT_TRUE(torch::equal(ours, expected)) << stem;
  }
  EXPECT_EQ(read_alm(path("healpy_64.fits")).size(0), 65);
  const auto teb = load_complex("teb32");
  EXPECT_TRUE(torch::equal(read_alm_all(path("teb32.fits")), teb));
  EXPECT_TRUE(torch::equal(read_alm(path("teb32.fits"), 2), teb[1]));
}

TEST_F(AlmFitsTest, HealpyReadsWhatWeWrite) {
  const auto alm = random_alm(64);
  const auto teb = random_alm(16, {3});
  write_alm(path("ours_64.fits"), alm);
  write_alm(path("ours_teb.fits"), teb);
  write_alm(path("ours_32.fits"), alm, AlmPrecision::kFloat32);
  python(
      "a, mmax = hp.read_alm('ours_64.fits', return_mmax=True)\n"
      "assert mmax == 64 and a.size == hp.Alm.getsize(64) and a.dtype == np.complex128, (mmax, a.size, a.dtype)\n"
      "save_complex('healpy_64', to_lm(a, 64))\n"
      "teb = hp.read_alm('ours_teb.fits', hdu=(1, 2, 3))\n"
      "assert teb.shape == (3, hp.Alm.getsize(16)), teb.shape\n"
      "save_complex('healpy_teb', np.stack([to_lm(x, 16) for x in teb]))\n"
      "s = hp.read_alm('ours_32.fits')\n"
      "assert s.dtype == np.complex64, s.dtype\n"
      "save_complex('healpy_32', to_lm(s, 64))\n"
      "# the layout healpy writes: int32 INDEX, D (or E) values, HEALPix's MAX-LPOL / MAX-MPOL\n"
      "with fits.open('ours_64.fits') as f:\n"
      "    assert len(f) == 2 and f[1].header['TFORM1'] == 'J' and f[1].header['TFORM2'] == 'D', repr(f[1].header)\n"
      "    assert f[1].header['MAX-LPOL'] == 64 and f[1].header['MAX-MPOL'] == 64\n"
      "    assert list(f[1].data['INDEX'][:3]) == [1, 3, 7]  # healpy's row order: m = 0 first\n"
      "with fits.open('ours_32.fits') as f:\n"
      "    assert f[1].header['TFORM2'] == 'E' and f[1].header['TFORM3'] == 'E'\n"
      "with fits.open('ours_teb.fits') as f:\n"
      "    assert len(f) == 4\n");
  EXPECT_TRUE(torch::equal(load_complex("healpy_64"), alm));
  EXPECT_TRUE(torch::equal(load_complex("healpy_teb"), teb));
  EXPECT_TRUE(torch::equal(load_complex("healpy_32"), alm.to(torch::kComplexFloat).to(torch::kComplexDouble)));
}

TEST_F(AlmFitsTest, ReadsHealpixCxxAndFortranLayouts) {
  python(
      "rng = np.random.default_rng(9)\n"
      "lmax, mmax = 10, 6\n"
      "a = random_alm(rng, lmax)\n"
      "z = to_lm(a, lmax); z[:, mmax + 1:] = 0\n"
      "# HEALPix C++ write_Alm_to_fits: l-major rows, lowercase names, MAX-LPOL / MAX-MPOL\n"
      "rows = [(l, m) for l in range(lmax + 1) for m in range(min(l, mmax) + 1)]\n"
      "idx = np.array([l * l + l + m + 1 for l, m in rows], np.int32)\n"
      "re = np.array([z[l, m].real for l, m in rows]); im = np.array([z[l, m].imag for l, m in rows])\n"
      "save_fits('cxx.fits', table([('index', 'J', idx), ('real', 'D', re), ('imag', 'D', im)],\n"
      "                            [('MAX-LPOL', lmax), ('MAX-MPOL', mmax)]))\n"
      "save_complex('cxx', z)\n"
      "# shuffled rows, 64-bit index\n"
      "p = rng.permutation(len(rows))\n"
      "save_fits('shuffled.fits', table([('INDEX', 'K', idx[p].astype(np.int64)), ('REAL', 'D', re[p]),\n"
      "                                  ('IMAG', 'D', im[p])]))\n"
      "# a float INDEX column, columns in another order, an extra column\n"
      "save_fits('float_index.fits', table([('REAL', 'D', re), ('NOTE', 'J', np.zeros(len(rows), np.int32)),\n"
      "                                     ('IMAG', 'D', im), ('INDEX', 'D', idx.astype(float))]))\n"
      "# HEALPix C++ write_compressed_Alm_to_fits: only non-zero coefficients; its MAX-LPOL is the real one\n"
      "keep = [i for i, (l, m) in enumerate(rows) if (l + m) % 3 != 0]\n"
      "save_fits('sparse.fits', table([('index', 'J', idx[keep]), ('real', 'E', re[keep].astype(np.float32)),\n"
      "                                ('imag', 'E', im[keep].astype(np.float32))]))\n"
      "zs = np.zeros_like(z)\n"
      "for i in keep:\n"
      "    l, m = rows[i]; zs[l, m] = complex(np.float32(z[l, m].real), np.float32(z[l, m].imag))\n"
      "save_complex('sparse', zs)\n"
      "# HEALPix Fortran: uppercase names, error columns, l starting at 2, MAX-LPOL above the rows' largest l\n"
      "f_rows = [(l, m) for l, m in rows if l >= 2]\n"
      "f_idx = np.array([l * l + l + m + 1 for l, m in f_rows], np.int32)\n"
      "f_re = np.array([z[l, m].real for l, m in f_rows]); f_im = np.array([z[l, m].imag for l, m in f_rows])\n"
      "save_fits('fortran.fits', *[table([('INDEX', 'J', f_idx), ('REAL', 'D', f_re), ('IMAG', 'D', f_im),\n"
      "                                   ('REAL_ERROR', 'D', 0 * f_re), ('IMAG_ERROR', 'D', 0 * f_im)],\n"
      "                                  [('MAX-LPOL', 12), ('MAX-MPOL', mmax), ('MIN-LPOL', 2)])\n"
      "                            for _ in range(2)])\n"
      "zf = np.zeros((13, 13), complex); zf[2:11, :11] = z[2:, :]\n"
      "save_complex('fortran', zf)\n");
  const auto expected = load_complex("cxx");
  EXPECT_TRUE(torch::equal(read_alm(path("cxx.fits")), expected));
  EXPECT_TRUE(torch::equal(read_alm(path("shuffled.fits")), expected));
  EXPECT_TRUE(torch::equal(read_alm(path("float_index.fits")), expected));
  EXPECT_TRUE(torch::equal(read_alm(path("sparse.fits")), load_complex("sparse")));
  const auto fortran = read_alm_all(path("fortran.fits"));
  EXPECT_EQ(fortran.sizes(), (std::vector<int64_t>{2, 13, 13}));
  EXPECT_TRUE(torch::equal(fortran[1], load_complex("fortran")));
}

TEST_F(AlmFitsTest, SniffTellsMapsFromCoefficients) {
  write_healpix_map(path("map.fits"), torch::randn({12 * 4 * 4}, torch::kDouble));
  write_healpix_map(path("iqu.fits"), torch::randn({3, 12 * 2 * 2}, torch::kDouble), false);
  write_alm(path("alm.fits"), random_alm(6));
  std::ofstream(path("text.fits")) << "this is not a FITS file\n";
  python(
      "hp.write_alm('healpy_alm.fits', random_alm(np.random.default_rng(1), 8))\n"
      "hp.write_map('healpy_map.fits', np.zeros(12 * 8 ** 2))\n"
      "save_fits('bare_map.fits', table([('T', 'D', np.zeros(48))]))  # no PIXTYPE: 48 = 12 * 2^2 values\n"
      "save_fits('catalogue.fits', table([('RA', 'D', np.zeros(5)), ('DEC', 'D', np.zeros(5))]))\n"
      "fits.PrimaryHDU(np.zeros((4, 4))).writeto('image.fits')\n");
  EXPECT_EQ(sniff_fits(path("map.fits")), FitsContent::kHealpixMap);
  EXPECT_EQ(sniff_fits(path("iqu.fits")), FitsContent::kHealpixMap);
  EXPECT_EQ(sniff_fits(path("healpy_map.fits")), FitsContent::kHealpixMap);
  EXPECT_EQ(sniff_fits(path("bare_map.fits")), FitsContent::kHealpixMap);
  EXPECT_EQ(sniff_fits(path("alm.fits")), FitsContent::kAlm);
  EXPECT_EQ(sniff_fits(path("healpy_alm.fits")), FitsContent::kAlm);
  EXPECT_EQ(sniff_fits(path("catalogue.fits")), FitsContent::kOther);
  EXPECT_EQ(sniff_fits(path("image.fits")), FitsContent::kOther);
  EXPECT_EQ(sniff_fits(path("text.fits")), FitsContent::kOther);
  expect_error([&] { sniff_fits(path("absent.fits")); }, "absent.fits", "no such file");
  EXPECT_STREQ(fits_content_name(FitsContent::kAlm), "spherical harmonic coefficients (alm)");
}

TEST_F(AlmFitsTest, MissingForeignAndMapFilesAreErrorsNamingTheFile) {
  expect_error([&] { read_alm(path("absent.fits")); }, "absent.fits", "no such file");
  std::ofstream(path("text.fits")) << "this is not a FITS file\n";
  expect_error([&] { read_alm(path("text.fits")); }, "text.fits", "not a readable FITS file");
  python(
      "fits.PrimaryHDU().writeto('primary.fits')\n"
      "save_fits('columns.fits', table([('INDEX', 'J', [1, 2]), ('REAL', 'D', [0.0, 1.0])]))\n"
      "save_fits('empty.fits', table([('INDEX', 'J', np.zeros(0, np.int32)), ('REAL', 'D', np.zeros(0)),\n"
      "                               ('IMAG', 'D', np.zeros(0))]))\n"
      "save_fits('strings.fits', table([('INDEX', 'J', [1]), ('REAL', '8A', ['one']), ('IMAG', 'D', [0.0])]))\n");
  expect_error([&] { read_alm(path("primary.fits")); }, "primary.fits", "no table extension");
  expect_error([&] { read_alm_all(path("primary.fits")); }, "primary.fits", "no table extension");
  expect_error([&] { read_alm(path("columns.fits")); }, "columns.fits", "no column IMAG (columns present: INDEX, REAL");
  expect_error([&] { read_alm(path("empty.fits")); }, "empty.fits", "no rows");
  expect_error([&] { read_alm(path("strings.fits")); }, "strings.fits", "REAL is not a real numeric column");

  // A HEALPix map given where coefficients are expected (and the other way round).
  write_healpix_map(path("map.fits"), torch::randn({12 * 16 * 16}, torch::kDouble));
  expect_error([&] { read_alm(path("map.fits")); }, "map.fits", "holds a HEALPix map, not spherical harmonic");
  expect_error([&] { read_alm_all(path("map.fits")); }, "map.fits", "holds a HEALPix map");
  write_alm(path("alm.fits"), random_alm(4));
  EXPECT_NE(error_of([&] { read_healpix_map(path("alm.fits")); }).find(path("alm.fits")), std::string::npos);

  // Extensions numbered as in healpy: 1 is the first.
  expect_error([&] { read_alm(path("alm.fits"), 2); }, "alm.fits", "no extension 2 (the file has 1 extension(s)");
  expect_error([&] { read_alm(path("alm.fits"), 0); }, "alm.fits", "primary HDU");
  expect_error([&] { read_alm(path("alm.fits"), -1); }, "alm.fits", "no extension -1");
}

TEST_F(AlmFitsTest, BadIndicesAreErrorsNamingTheFile) {
  python(
      "def alm_file(name, index, fmt='J', keys=()):\n"
      "    n = len(index)\n"
      "    save_fits(name, table([('INDEX', fmt, index), ('REAL', 'D', np.arange(n, dtype=float)),\n"
      "                           ('IMAG', 'D', np.zeros(n))], keys))\n"
      "alm_file('zero.fits', [1, 3, 0])\n"
      "alm_file('negative.fits', [1, -3])\n"
      "alm_file('fraction.fits', [1.0, 2.5], 'D')\n"
      "alm_file('nan.fits', [1.0, np.nan], 'D')\n"
      "alm_file('m_below_0.fits', [1, 2])             # 2 = l*l+l+m+1 for l = 1, m = -1\n"
      "alm_file('m_above_l.fits', [1, 3, 4, 5])       # 5 = l*l+l+m+1 for l = 1, m = 2\n"
      "alm_file('duplicate.fits', [1, 3, 4, 3])\n"
      "alm_file('huge.fits', [1, 2 ** 40], 'K')\n"
      "alm_file('liar.fits', [1, 3, 4, 7], keys=[('MAX-LPOL', 1), ('MAX-MPOL', 1)])\n"
      "alm_file('liar_m.fits', [1, 3, 4], keys=[('MAX-MPOL', 0)])\n"
      "alm_file('good.fits', [1, 3, 4])\n"
      "a = np.zeros(hp.Alm.getsize(3), complex)\n"
      "b = np.zeros(hp.Alm.getsize(4), complex)\n"
      "hp.write_alm('a3.fits', a); hp.write_alm('b4.fits', b)\n"
      "with fits.open('a3.fits') as fa, fits.open('b4.fits') as fb:\n"
      "    fits.HDUList([fits.PrimaryHDU(), fa[1].copy(), fb[1].copy()]).writeto('mixed.fits')\n");
  expect_error([&] { read_alm(path("zero.fits")); }, "zero.fits", "row 3: INDEX = 0 is out of range");
  expect_error([&] { read_alm(path("negative.fits")); }, "negative.fits", "row 2: INDEX = -3 is out of range");
  expect_error([&] { read_alm(path("fraction.fits")); }, "fraction.fits", "row 2: INDEX = 2.5 is not a whole number");
  expect_error([&] { read_alm(path("nan.fits")); }, "nan.fits", "is not a whole number");
  expect_error([&] { read_alm(path("m_above_l.fits")); }, "m_above_l.fits",
               "row 4: INDEX = 5 is l² + l + m + 1 of no (l, m) with 0 <= m <= l: it decodes to l = 2, m = -2 "
               "(negative m), or to l = 1, m = 2 (m > l)");
  expect_error([&] { read_alm(path("m_below_0.fits")); }, "m_below_0.fits",
               "row 2: INDEX = 2 is l² + l + m + 1 of no (l, m) with 0 <= m <= l: it decodes to l = 1, m = -1");
  expect_error([&] { read_alm(path("duplicate.fits")); }, "duplicate.fits",
               "INDEX = 3 (l = 1, m = 0) appears twice, in rows 2 and 4");
  expect_error([&] { read_alm(path("huge.fits")); }, "huge.fits", "the largest lmax read");
  expect_error([&] { read_alm(path("liar.fits")); }, "liar.fits", "MAX-LPOL = 1 but the rows reach l = 2");
  expect_error([&] { read_alm(path("liar_m.fits")); }, "liar_m.fits", "MAX-MPOL = 0 but the rows reach m = 1");

  // The control file of the same shape reads: (l, m) = (0, 0), (1, 0), (1, 1) with REAL = 0, 1, 2.
  const auto good = read_alm(path("good.fits"));
  EXPECT_EQ(good.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(torch::equal(torch::real(good), torch::tensor({{0.0, 0.0}, {1.0, 2.0}}, torch::kDouble))) << good;

  // Components of different lmax: healpy refuses to stack them, and so do we; each reads on its own.
  expect_error([&] { read_alm_all(path("mixed.fits")); }, "mixed.fits",
               "extension 2 has lmax 4, mmax 4 but extension 1 has lmax 3, mmax 3");
  EXPECT_EQ(read_alm(path("mixed.fits"), 2).size(0), 5);
}

TEST_F(AlmFitsTest, WriteRejectsBadCoefficientsAndLeavesExistingFilesAlone) {
  const auto good = random_alm(4);
  write_alm(path("keep.fits"), good);
  const auto real = torch::zeros({5, 5}, torch::kDouble);
  expect_error([&] { write_alm(path("keep.fits"), real); }, "keep.fits", "complex64 or complex128");
  expect_error([&] { write_alm(path("keep.fits"), random_alm(4).narrow(1, 0, 4)); }, "keep.fits",
               "[lmax + 1, lmax + 1] or [C, lmax + 1, lmax + 1]");
  expect_error([&] { write_alm(path("keep.fits"), random_alm(2, {2, 2})); }, "keep.fits", "[C, lmax + 1, lmax + 1]");
  auto upper = random_alm(4, {2});
  upper[1][2][3] = c10::complex<double>(0.5, 0.0);
  expect_error([&] { write_alm(path("keep.fits"), upper); }, "keep.fits",
               "coefficient of component 1 at l = 2, m = 3 is non-zero");
  EXPECT_TRUE(torch::equal(read_alm(path("keep.fits")), good));

  // Replacing a file and creating missing directories.
  write_alm(path("keep.fits"), good * 2);
  EXPECT_TRUE(torch::equal(read_alm(path("keep.fits")), good * 2));
  write_alm(path("a/b/deep.fits"), good);
  EXPECT_TRUE(torch::equal(read_alm(path("a/b/deep.fits")), good));
  // Names with cfitsio syntax are taken literally.
  write_alm(path("odd[1].fits"), good);
  EXPECT_TRUE(torch::equal(read_alm(path("odd[1].fits")), good));
}

}  // namespace
