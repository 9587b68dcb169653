// HEALPix FITS maps: round trips, healpy interoperability both ways, and clear errors on bad files.
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/transforms/healpix_grid.h"
#include "tests/support/errors.h"
#include "tests/support/scratch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sphaera/core/check.h"
#include "tests/support/npy.h"

namespace fs = std::filesystem;
using sphaera::core::InvalidArgument;
using namespace sphaera::data_tools;

using sphaera::testing::error_of;

namespace {

class HealpixFitsTest : public sphaera::testing::ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    torch::manual_seed(11);
  }

  // Runs a Python script (healpy, numpy) in the test directory; fails the test with its output on error.
  void python(const std::string& script) {
    const auto r = run_python(script);
    ASSERT_EQ(r.exit_code, 0) << "python failed:\n" << script << "\n" << r.out;
  }
};

// A minimal FITS file written by hand: a HEALPix-like binary table of one float64 column with the given
// extra header cards, so that headers healpy would never write can be tested.
std::string card(const std::string& key, const std::string& value) {
  std::string c = key;
  c.resize(8, ' ');
  c += "= " + value;
  c.resize(80, ' ');
  return c;
}
std::string number(long long v) {
  std::string s = std::to_string(v);
  return std::string(20 - s.size(), ' ') + s;
}
std::string text(const std::string& v) {
  std::string s = v;
  if (s.size() < 8) s.resize(8, ' ');
  return "'" + s + "'";
}
void pad(std::string& block, char fill) {
  while (block.size() % 2880 != 0) block += fill;
}
void write_raw_fits(const std::string& path, const std::vector<double>& pixels, const std::vector<std::string>& extra) {
  std::string out;
  out += card("SIMPLE", std::string(19, ' ') + "T") + card("BITPIX", number(8)) + card("NAXIS", number(0)) +
         card("EXTEND", std::string(19, ' ') + "T");
  out += std::string("END").append(77, ' ');
  pad(out, ' ');
  out += card("XTENSION", text("BINTABLE")) + card("BITPIX", number(8)) + card("NAXIS", number(2)) +
         card("NAXIS1", number(8)) + card("NAXIS2", number(static_cast<long long>(pixels.size()))) +
         card("PCOUNT", number(0)) + card("GCOUNT", number(1)) + card("TFIELDS", number(1)) +
         card("TTYPE1", text("SIGNAL")) + card("TFORM1", text("D"));
  for (const auto& c : extra) out += c;
  out += std::string("END").append(77, ' ');
  pad(out, ' ');
  for (double v : pixels) {
    unsigned char bytes[8];
    std::memcpy(bytes, &v, 8);
    for (int i = 7; i >= 0; --i) out += static_cast<char>(bytes[i]);  // big-endian
  }
  pad(out, '\0');
  std::ofstream(path, std::ios::binary) << out;
}

std::vector<double> ramp(int64_t npix) {
  std::vector<double> v(npix);
  for (int64_t i = 0; i < npix; ++i) v[i] = 0.5 * static_cast<double>(i);
  return v;
}

TEST_F(HealpixFitsTest, RoundTripIsExactInBothOrderings) {
  const auto map = torch::randn({12 * 16 * 16}, torch::kDouble);
  write_healpix_map(path("nest.fits"), map);
  write_healpix_map(path("ring.fits"), map, /*write_nest_order=*/false);
  const auto nest = read_healpix_map(path("nest.fits"), 16);
  const auto ring = read_healpix_map(path("ring.fits"), 16);
  EXPECT_EQ(nest.scalar_type(), torch::kDouble);
  EXPECT_EQ(nest.sizes(), map.sizes());
  EXPECT_TRUE(torch::equal(nest, map));
  EXPECT_TRUE(torch::equal(ring, map));
  EXPECT_TRUE(read_healpix_map_info(path("nest.fits")).nest);
  EXPECT_FALSE(read_healpix_map_info(path("ring.fits")).nest);
  // Nothing but the two maps is left in the directory (no temporaries).
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 2);
}

TEST_F(HealpixFitsTest, AsStoredKeepsTheFileOrderingAndWritesEitherBack) {
  const auto map = torch::randn({2, 12 * 8 * 8}, torch::kDouble);  // NEST
  write_healpix_map(path("ring.fits"), map, /*write_nest_order=*/false);
  bool nest = true;
  const auto ring = read_healpix_map_as_stored(path("ring.fits"), nest);
  EXPECT_FALSE(nest);
  ASSERT_EQ(ring.sizes(), map.sizes());
  // RING pixel r holds NEST pixel ring2nest(r).
  const auto ring2nest = sphaera::transforms::HealpixGrid(8).ring_to_nest();
  EXPECT_TRUE(torch::equal(ring, map.index_select(1, ring2nest)));
  // Written back as RING, it reads (in NEST) as the original.
  write_healpix_map_as_ordered(path("again.fits"), ring, /*nest=*/false);
  EXPECT_TRUE(torch::equal(read_healpix_map(path("again.fits")), map));
  write_healpix_map(path("nest.fits"), map[0]);
  const auto one = read_healpix_map_as_stored(path("nest.fits"), nest);
  EXPECT_TRUE(nest);
  EXPECT_TRUE(torch::equal(one, map.narrow(0, 0, 1)));
}

TEST_F(HealpixFitsTest, MultiColumnMapsAndColumnSelection) {
  const auto maps = torch::randn({3, 12 * 4 * 4}, torch::kDouble);
  write_healpix_map(path("iqu.fits"), maps, false);
  const auto all = read_healpix_map(path("iqu.fits"));
  EXPECT_EQ(all.sizes(), maps.sizes());
  EXPECT_TRUE(torch::equal(all, maps));
  EXPECT_TRUE(torch::equal(read_healpix_map(path("iqu.fits"), 4, 2), maps[2]));
  EXPECT_EQ(read_healpix_map_info(path("iqu.fits")).columns, 3);
  EXPECT_NE(error_of([&] { read_healpix_map(path("iqu.fits"), 4, 3); }).find("column 3 does not exist"),
            std::string::npos);
}

TEST_F(HealpixFitsTest, Float32ColumnsKeepFloat32Precision) {
  const auto map = torch::randn({12 * 8 * 8}, torch::kDouble);
  write_healpix_map(path("f32.fits"), map, true, MapPrecision::kFloat32);
  const auto back = read_healpix_map(path("f32.fits"));
  EXPECT_TRUE(torch::equal(back, map.to(torch::kFloat).to(torch::kDouble)));
  EXPECT_FALSE(torch::equal(back, map));
  // kAuto follows the tensor: float32 in, float32 column out (half the pixel bytes of float64).
  write_healpix_map(path("auto32.fits"), map.to(torch::kFloat));
  write_healpix_map(path("auto64.fits"), map);
  EXPECT_LT(fs::file_size(path("auto32.fits")), fs::file_size(path("auto64.fits")));
}

TEST_F(HealpixFitsTest, MissingPixelsBecomeUnseenOnDiskAndNanInMemory) {
  auto map = torch::randn({12 * 4 * 4}, torch::kDouble);
  map[5] = std::nan("");
  map[7] = kUnseen;
  write_healpix_map(path("bad.fits"), map, false);
  const auto back = read_healpix_map(path("bad.fits"));
  EXPECT_TRUE(std::isnan(back[5].item<double>()));
  EXPECT_TRUE(std::isnan(back[7].item<double>()));
  EXPECT_EQ(invalid_pixel_mask(back).sum().item<int64_t>(), 2);
  EXPECT_TRUE(torch::equal(back.narrow(0, 8, 100), map.narrow(0, 8, 100)));
  // healpy sees UNSEEN at both pixels (its missing-pixel value).
  python(
      "m = hp.read_map('bad.fits', nest=True, dtype=np.float64)\n"
      "assert m[5] == hp.UNSEEN and m[7] == hp.UNSEEN, (m[5], m[7])\n"
      "assert (m != hp.UNSEEN).sum() == m.size - 2\n");
}

TEST_F(HealpixFitsTest, InvalidPixelMaskFindsNanAndUnseen) {
  const auto x = torch::tensor(
      {1.0, std::nan(""), kUnseen, static_cast<double>(static_cast<float>(kUnseen)), -1.6e30, 0.0}, torch::kDouble);
  const auto expected = torch::tensor({false, true, true, true, false, false});
  EXPECT_TRUE(torch::equal(invalid_pixel_mask(x), expected));
  EXPECT_TRUE(torch::equal(invalid_pixel_mask(x.to(torch::kFloat)), expected));
  EXPECT_FALSE(invalid_pixel_mask(torch::arange(4)).any().item<bool>());
}

TEST_F(HealpixFitsTest, ReadsHealpyRingNestAndMultiColumnFilesAsNest) {
  python(
      "nside = 16\n"
      "rng = np.random.default_rng(3)\n"
      "m = rng.standard_normal(12 * nside**2)\n"
      "hp.write_map('healpy_ring.fits', m, nest=False, dtype=np.float64)\n"
      "np.save('ring_as_nest.npy', hp.reorder(m, r2n=True))\n"
      "hp.write_map('healpy_nest.fits', m, nest=True, dtype=np.float32)\n"
      "np.save('nest32.npy', m.astype(np.float32).astype(np.float64))\n"
      "iqu = rng.standard_normal((3, 12 * 4**2))\n"
      "hp.write_map('healpy_iqu.fits', iqu, nest=False, dtype=np.float64)\n"
      "np.save('iqu_as_nest.npy', np.stack([hp.reorder(x, r2n=True) for x in iqu]))\n"
      "u = m.copy(); u[10] = hp.UNSEEN\n"
      "hp.write_map('healpy_unseen.fits', u, nest=False, dtype=np.float32)\n"
      "np.save('unseen_pixel.npy', np.array([hp.ring2nest(nside, 10)]))\n");
  using sphaera::testing::load_npy;
  EXPECT_TRUE(torch::equal(read_healpix_map(path("healpy_ring.fits"), 16), load_npy(path("ring_as_nest.npy"))));
  EXPECT_TRUE(torch::equal(read_healpix_map(path("healpy_nest.fits"), 16), load_npy(path("nest32.npy"))));
  EXPECT_TRUE(torch::equal(read_healpix_map(path("healpy_iqu.fits"), 4), load_npy(path("iqu_as_nest.npy"))));
  const auto unseen = read_healpix_map(path("healpy_unseen.fits"));
  const int64_t bad = load_npy(path("unseen_pixel.npy"))[0].item<int64_t>();
  EXPECT_TRUE(std::isnan(unseen[bad].item<double>()));
  EXPECT_EQ(invalid_pixel_mask(unseen).sum().item<int64_t>(), 1);
}

TEST_F(HealpixFitsTest, HealpyReadsWhatWeWrite) {
  const auto map = torch::randn({12 * 16 * 16}, torch::kDouble);
  const auto iqu = torch::randn({3, 12 * 2 * 2}, torch::kDouble);
  write_healpix_map(path("ours_nest.fits"), map);
  write_healpix_map(path("ours_ring.fits"), map, false);
  write_healpix_map(path("ours_iqu.fits"), iqu);
  python(
      "for name in ['ours_nest', 'ours_ring']:\n"
      "    h = hp.read_map(name + '.fits', nest=True, dtype=np.float64)\n"
      "    np.save(name + '_as_nest.npy', h)\n"
      "    _, header = hp.read_map(name + '.fits', h=True, nest=None)\n"
      "    d = dict(header)\n"
      "    assert d['NSIDE'] == 16 and d['ORDERING'] == ('NESTED' if 'nest' in name else 'RING'), d\n"
      "r = hp.read_map('ours_ring.fits', nest=None, dtype=np.float64)\n"
      "np.save('ours_ring_raw.npy', r)\n"
      "np.save('ours_iqu_as_nest.npy', np.array(hp.read_map('ours_iqu.fits', field=(0, 1, 2), nest=True)))\n");
  using sphaera::testing::load_npy;
  EXPECT_TRUE(torch::equal(load_npy(path("ours_nest_as_nest.npy")), map));
  EXPECT_TRUE(torch::equal(load_npy(path("ours_ring_as_nest.npy")), map));
  EXPECT_FALSE(torch::equal(load_npy(path("ours_ring_raw.npy")), map));  // really RING on disk
  EXPECT_TRUE(torch::equal(load_npy(path("ours_iqu_as_nest.npy")), iqu));
}

TEST_F(HealpixFitsTest, HandWrittenFileReadsWithEitherOrdering) {
  // Guards the hand-written files of the error tests below: with a valid header they read fine.
  write_raw_fits(path("nest.fits"), ramp(48), {card("ORDERING", text("NESTED")), card("NSIDE", number(2))});
  EXPECT_TRUE(torch::equal(read_healpix_map(path("nest.fits"), 2), torch::tensor(ramp(48), torch::kDouble)));
  write_raw_fits(path("ring.fits"), ramp(48), {card("ORDERING", text("RING"))});
  const auto ring = read_healpix_map(path("ring.fits"), 2);
  EXPECT_FALSE(torch::equal(ring, torch::tensor(ramp(48), torch::kDouble)));
  EXPECT_TRUE(torch::equal(std::get<0>(ring.sort()), torch::tensor(ramp(48), torch::kDouble)));  // a permutation
}

TEST_F(HealpixFitsTest, MissingOrUnknownOrderingIsAnErrorNamingTheFile) {
  write_raw_fits(path("no_ordering.fits"), ramp(48), {card("NSIDE", number(2))});
  auto message = error_of([&] { read_healpix_map(path("no_ordering.fits")); });
  EXPECT_NE(message.find(path("no_ordering.fits")), std::string::npos) << message;
  EXPECT_NE(message.find("ORDERING"), std::string::npos) << message;
  write_raw_fits(path("spiral.fits"), ramp(48), {card("ORDERING", text("SPIRAL"))});
  message = error_of([&] { read_healpix_map(path("spiral.fits")); });
  EXPECT_NE(message.find("unknown ORDERING 'SPIRAL"), std::string::npos) << message;
}

TEST_F(HealpixFitsTest, NsideErrors) {
  write_healpix_map(path("n16.fits"), torch::zeros({12 * 16 * 16}, torch::kDouble));
  auto message = error_of([&] { read_healpix_map(path("n16.fits"), 32); });
  EXPECT_NE(message.find("nside 16"), std::string::npos) << message;
  EXPECT_NE(message.find("expected nside 32"), std::string::npos) << message;
  EXPECT_NE(message.find(path("n16.fits")), std::string::npos) << message;
  // 12·3² pixels: nside 3 is not a power of two.
  write_raw_fits(path("n3.fits"), ramp(108), {card("ORDERING", text("RING"))});
  message = error_of([&] { read_healpix_map(path("n3.fits")); });
  EXPECT_NE(message.find("power of two"), std::string::npos) << message;
  // 50 pixels is no HEALPix map at all.
  write_raw_fits(path("n50.fits"), ramp(50), {card("ORDERING", text("RING"))});
  EXPECT_NE(error_of([&] { read_healpix_map(path("n50.fits")); }).find("not a HEALPix map size"), std::string::npos);
  // NSIDE keyword contradicting the pixel count.
  write_raw_fits(path("liar.fits"), ramp(48), {card("ORDERING", text("RING")), card("NSIDE", number(4))});
  message = error_of([&] { read_healpix_map(path("liar.fits")); });
  EXPECT_NE(message.find("NSIDE = 4"), std::string::npos) << message;
}

TEST_F(HealpixFitsTest, MissingCorruptAndForeignFilesAreErrors) {
  auto message = error_of([&] { read_healpix_map(path("absent.fits")); });
  EXPECT_NE(message.find(path("absent.fits") + ": no such file"), std::string::npos) << message;
  std::ofstream(path("text.fits")) << "this is not a FITS file\n";
  message = error_of([&] { read_healpix_map(path("text.fits")); });
  EXPECT_NE(message.find(path("text.fits")), std::string::npos) << message;
  // A valid file cut in the middle of its pixels.
  write_healpix_map(path("whole.fits"), torch::randn({12 * 32 * 32}, torch::kDouble));
  fs::copy_file(path("whole.fits"), path("cut.fits"));
  fs::resize_file(path("cut.fits"), fs::file_size(path("whole.fits")) / 2);
  message = error_of([&] { read_healpix_map(path("cut.fits")); });
  EXPECT_NE(message.find(path("cut.fits")), std::string::npos) << message;
  // A FITS file with only a primary header: no table, no map.
  python("from astropy.io import fits\nfits.PrimaryHDU().writeto('primary.fits')\n");
  message = error_of([&] { read_healpix_map(path("primary.fits")); });
  EXPECT_NE(message.find("no table extension"), std::string::npos) << message;
  // Partial-sky (explicit index) maps are refused with a reason.
  write_raw_fits(path("explicit.fits"), ramp(48), {card("ORDERING", text("RING")), card("INDXSCHM", text("EXPLICIT"))});
  EXPECT_NE(error_of([&] { read_healpix_map(path("explicit.fits")); }).find("partial-sky"), std::string::npos);
}

TEST_F(HealpixFitsTest, WriteRejectsBadMapsAndLeavesExistingFilesAlone) {
  const auto good = torch::randn({48}, torch::kDouble);
  write_healpix_map(path("keep.fits"), good);
  EXPECT_NE(error_of([&] { write_healpix_map(path("keep.fits"), torch::zeros({100})); }).find("100 pixels"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              write_healpix_map(path("keep.fits"), torch::zeros({2, 2, 48}));
            }).find("[C, npix]"),
            std::string::npos);
  EXPECT_TRUE(torch::equal(read_healpix_map(path("keep.fits")), good));
  // Replacing a file and creating missing directories.
  write_healpix_map(path("keep.fits"), good * 2);
  EXPECT_TRUE(torch::equal(read_healpix_map(path("keep.fits")), good * 2));
  write_healpix_map(path("a/b/deep.fits"), good);
  EXPECT_TRUE(torch::equal(read_healpix_map(path("a/b/deep.fits")), good));
}

TEST_F(HealpixFitsTest, NamesWithCfitsioSyntaxAreTakenLiterally) {
  const auto map = torch::randn({48}, torch::kDouble);
  write_healpix_map(path("odd[1].fits"), map);
  EXPECT_TRUE(fs::exists(path("odd[1].fits")));
  EXPECT_TRUE(torch::equal(read_healpix_map(path("odd[1].fits")), map));
}

}  // namespace
