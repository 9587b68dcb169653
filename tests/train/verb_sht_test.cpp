// `sphaera map2alm`, `alm2map` and `rotate` as users run them, against healpy run on the same files
// (/usr/bin/python3 has healpy; the python3 on PATH may not).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/process.h"
#include "tests/support/scratch.h"

namespace fs = std::filesystem;
using sphaera::testing::cli_path;
using sphaera::testing::CommandResult;
using sphaera::testing::lines_in;
using sphaera::testing::run_command;

namespace {

constexpr double kTolerance = 1e-10;  // relative error ||a - b|| / ||b||

class VerbShtTest : public sphaera::testing::ScratchDirTest {
 protected:
  // Runs `sphaera ARGS` in the test directory.
  CommandResult sphaera(const std::string& args) {
    return run_command("cd " + dir_.string() + " && " + cli_path() + " " + args);
  }
  // Runs `sphaera ARGS`, expecting success; returns its stderr.
  std::string sphaera_ok(const std::string& args) {
    const auto r = sphaera(args);
    EXPECT_EQ(r.exit_code, 0) << "sphaera " << args << "\n" << r.err;
    return r.err;
  }

  // Runs a Python script (numpy, healpy, astropy) in the test directory. Lines "RESULT name value" it prints
  // are returned as {name: value}; a failing script fails the test with its output.
  std::map<std::string, double> python(const std::string& script) {
    const auto r = run_python(script,
                              "from astropy.io import fits\n"
                              "def rel(a, b):\n"
                              "    a, b = np.asarray(a), np.asarray(b)\n"
                              "    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))\n"
                              "def result(name, value):\n"
                              "    print('RESULT', name, repr(float(value)))\n");
    EXPECT_EQ(r.exit_code, 0) << "python failed:\n" << script << "\n" << r.out;
    std::stringstream out(r.out);
    std::map<std::string, double> results;
    std::istringstream lines(out.str());
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string tag, name;
      double value = 0;
      if (words >> tag >> name >> value && tag == "RESULT") results[name] = value;
    }
    return results;
  }

  // Every result named in `names` is present and below the tolerance.
  static void expect_small(const std::map<std::string, double>& results, const std::vector<std::string>& names,
                           double tolerance = kTolerance) {
    for (const auto& name : names) {
      const auto it = results.find(name);
      ASSERT_NE(it, results.end()) << "no result " << name;
      std::printf("  %-20s %.3g\n", name.c_str(), it->second);  // the measured errors, for the log
      EXPECT_LT(it->second, tolerance) << name;
    }
  }

  // A failed run: non-zero exit, nothing written to OUT, exactly one "sphaera VERB: error: ..." line that
  // contains every word of `expected`.
  void expect_error(const std::string& args, const std::vector<std::string>& expected, const std::string& out = "") {
    const auto r = sphaera(args);
    EXPECT_NE(r.exit_code, 0) << "sphaera " << args;
    const auto start = r.err.find(": error: ");
    ASSERT_NE(start, std::string::npos) << "sphaera " << args << "\n" << r.err;
    const auto line_start = r.err.rfind('\n', start);
    const std::string error = r.err.substr(line_start == std::string::npos ? 0 : line_start + 1);
    EXPECT_EQ(lines_in(error), 1) << "sphaera " << args << "\n" << r.err;
    for (const auto& word : expected) {
      EXPECT_NE(error.find(word), std::string::npos) << "sphaera " << args << ": '" << word << "' not in: " << error;
    }
    if (!out.empty()) {
      EXPECT_FALSE(fs::exists(path(out))) << out << " written by the failed sphaera " << args;
    }
  }

};

TEST_F(VerbShtTest, Map2AlmEqualsHealpyForIterationsWeightsModesAndColumns) {
  python(
      "rng = np.random.default_rng(5)\n"
      "m = rng.standard_normal(12 * 16**2)\n"
      "hp.write_map('ring.fits', m, nest=False, dtype=np.float64)\n"
      "hp.write_map('nest.fits', hp.reorder(m, r2n=True), nest=True, dtype=np.float64)\n"
      "two = rng.standard_normal((2, 12 * 32**2))\n"
      "hp.write_map('two.fits', two, nest=False, dtype=np.float64)\n"
      "u = m.copy(); u[[3, 100, 2000]] = hp.UNSEEN\n"
      "hp.write_map('unseen.fits', u, nest=False, dtype=np.float64)\n");

  // Defaults (lmax 3*nside - 1, iter 3); the same map stored in NEST order gives the same coefficients.
  std::string err = sphaera_ok("map2alm ring.fits --out default.fits --threads 2");
  EXPECT_NE(err.find("read: ring.fits: HEALPix map, nside 16, RING, 1 column"), std::string::npos) << err;
  // auto: a one-column map is transformed on the fly (faster than building tables for it).
  EXPECT_NE(err.find("map2alm: forward SHT of 1 map, lmax 47, iter 3, uniform weights, on_the_fly"), std::string::npos)
      << err;
  EXPECT_NE(err.find("wrote: default.fits: alm, lmax 47, 1 HDU, float64"), std::string::npos) << err;
  EXPECT_NE(err.find(" s, 2 threads)\n"), std::string::npos) << err;  // timings, with the threads used
  EXPECT_EQ(err.find("threads: "), std::string::npos) << err;        // no line of its own
  sphaera_ok("map2alm nest.fits --out nest_default.fits");
  sphaera_ok("map2alm ring.fits --out iter0.fits --iter 0 --lmax 40");
  sphaera_ok("map2alm ring.fits --out iter0_otf.fits --iter 0 --lmax 40 --mode on_the_fly");
  sphaera_ok("map2alm ring.fits --out iter3_pre.fits --iter 3 --lmax 40 --mode precompute");
  sphaera_ok("map2alm ring.fits --out weights0.fits --ring-weights --iter 0");
  err = sphaera_ok("map2alm nest.fits --out weights3.fits --ring-weights --lmax 30");
  EXPECT_NE(err.find("ring weights"), std::string::npos) << err;
  sphaera_ok("map2alm ring.fits --out high.fits --iter 1 --lmax 60");  // above 3*nside - 1, as healpy allows
  err = sphaera_ok("map2alm two.fits --out two_alm.fits --iter 2 --lmax 70");
  EXPECT_NE(err.find("2 columns"), std::string::npos) << err;
  EXPECT_NE(err.find("2 HDUs"), std::string::npos) << err;
  EXPECT_NE(err.find("iter 2, uniform weights, precompute"), std::string::npos) << err;  // auto, small tables
  err = sphaera_ok("map2alm unseen.fits --out unseen_alm.fits");
  EXPECT_NE(err.find("3 missing pixels set to 0"), std::string::npos) << err;

  const auto r = python(
      "m = hp.read_map('ring.fits', dtype=np.float64)\n"
      "def check(name, file, **kw):\n"
      "    ours = hp.read_alm(file)\n"
      "    result(name, rel(ours, hp.map2alm(m, **kw)))\n"
      "check('default', 'default.fits')\n"
      "check('nest_default', 'nest_default.fits')\n"
      "check('iter0', 'iter0.fits', lmax=40, iter=0)\n"
      "check('iter0_otf', 'iter0_otf.fits', lmax=40, iter=0)\n"
      "check('iter3_pre', 'iter3_pre.fits', lmax=40, iter=3)\n"
      "check('weights0', 'weights0.fits', iter=0, use_weights=True)\n"
      "check('weights3', 'weights3.fits', lmax=30, iter=3, use_weights=True)\n"
      "check('high', 'high.fits', lmax=60, iter=1)\n"
      "two = hp.read_map('two.fits', field=None, dtype=np.float64)\n"
      "ref = hp.map2alm(two, lmax=70, iter=2, pol=False)\n"
      "ours = hp.read_alm('two_alm.fits', hdu=(1, 2))\n"
      "result('two_columns', rel(ours, ref))\n"
      "u = hp.read_map('unseen.fits', dtype=np.float64)\n"
      "result('unseen', rel(hp.read_alm('unseen_alm.fits'), hp.map2alm(u)))\n"
      // Uniform and ring weights differ: the option does something.
      "result('weights_matter', 0 if rel(hp.read_alm('weights0.fits'), hp.map2alm(m, iter=0)) > 1e-6 else 1)\n"
      "h = fits.open('default.fits')[1].header\n"
      "result('float64_columns', 0 if (h['TFORM2'], h['TFORM3']) == ('D', 'D') else 1)\n");
  expect_small(r, {"default", "nest_default", "iter0", "iter0_otf", "iter3_pre", "weights0", "weights3", "high",
                   "two_columns", "unseen", "float64_columns", "weights_matter"});
}

TEST_F(VerbShtTest, Map2AlmFloat32WritesEColumns) {
  python("hp.write_map('m.fits', np.random.default_rng(2).standard_normal(12 * 16**2), dtype=np.float64)\n");
  const std::string err = sphaera_ok("map2alm m.fits --out a32.fits --float32 --iter 0");
  EXPECT_NE(err.find("float32"), std::string::npos) << err;
  sphaera_ok("map2alm m.fits --out a64.fits --iter 0");
  EXPECT_LT(fs::file_size(path("a32.fits")), fs::file_size(path("a64.fits")));
  const auto r = python(
      "h = fits.open('a32.fits')[1].header\n"
      "result('float32_columns', 0 if (h['TFORM2'], h['TFORM3']) == ('E', 'E') else 1)\n"
      "a64 = hp.read_alm('a64.fits')\n"
      "result('float32_values', rel(hp.read_alm('a32.fits'), a64.astype(np.complex64).astype(np.complex128)))\n");
  expect_small(r, {"float32_columns", "float32_values"});
}

TEST_F(VerbShtTest, Alm2MapEqualsHealpyInBothOrderingsWithLmaxAndComponents) {
  python(
      "rng = np.random.default_rng(7)\n"
      "cl = 1.0 / (np.arange(41) + 1.0)**2\n"
      "a = hp.synalm(cl, lmax=40)\n"
      "hp.write_alm('alm.fits', a, out_dtype=np.float64)\n"
      "tri = [hp.synalm(cl, lmax=40) for _ in range(3)]\n"
      "hp.write_alm('tri.fits', tri, out_dtype=np.float64)\n");
  std::string err = sphaera_ok("alm2map alm.fits --out ring.fits --nside 16 --threads 1");
  EXPECT_NE(err.find("read: alm.fits: alm, lmax 40, 1 HDU"), std::string::npos) << err;
  EXPECT_NE(err.find("alm2map: inverse SHT of 1 component, lmax 40, nside 16"), std::string::npos) << err;
  EXPECT_NE(err.find("wrote: ring.fits: HEALPix map, nside 16, RING, 1 column, float64"), std::string::npos) << err;
  sphaera_ok("alm2map alm.fits --out nest.fits --nside 32 --nest");
  sphaera_ok("alm2map alm.fits --out low.fits --nside 16 --lmax 20");
  sphaera_ok("alm2map alm.fits --out padded.fits --nside 16 --lmax 60");
  err = sphaera_ok("alm2map tri.fits --out tri_map.fits --nside 16");
  EXPECT_NE(err.find("3 columns"), std::string::npos) << err;
  err = sphaera_ok("alm2map alm.fits --out f32.fits --nside 16 --float32");

  const auto r = python(
      "a = hp.read_alm('alm.fits')\n"
      "ref16 = hp.alm2map(a, 16)\n"
      "result('ring', rel(hp.read_map('ring.fits', dtype=np.float64), ref16))\n"
      "result('ring_header', 0 if fits.open('ring.fits')[1].header['ORDERING'] == 'RING' else 1)\n"
      "nest = hp.read_map('nest.fits', nest=True, dtype=np.float64)\n"
      "result('nest', rel(nest, hp.reorder(hp.alm2map(a, 32), r2n=True)))\n"
      "result('nest_header', 0 if fits.open('nest.fits')[1].header['ORDERING'] == 'NESTED' else 1)\n"
      "low_alm = np.zeros(hp.Alm.getsize(20), complex)\n"  // healpy 1.16 has no resize_alm
      "for m in range(21):\n"
      "    for l in range(m, 21):\n"
      "        low_alm[hp.Alm.getidx(20, l, m)] = a[hp.Alm.getidx(40, l, m)]\n"
      "low = hp.alm2map(low_alm, 16)\n"
      "result('lmax_truncates', rel(hp.read_map('low.fits', dtype=np.float64), low))\n"
      "result('lmax_pads', rel(hp.read_map('padded.fits', dtype=np.float64), ref16))\n"
      "tri = hp.read_alm('tri.fits', hdu=(1, 2, 3))\n"
      "ref = np.array([hp.alm2map(t, 16) for t in tri])\n"
      "result('components', rel(hp.read_map('tri_map.fits', field=None, dtype=np.float64), ref))\n"
      "h = fits.open('f32.fits')[1].header\n"
      "result('float32_columns', 0 if h['TFORM1'].endswith('E') else 1)\n"
      "result('float32_values', rel(hp.read_map('f32.fits', dtype=np.float64), ref16.astype(np.float32)))\n"
      "result('float64_columns', 0 if fits.open('ring.fits')[1].header['TFORM1'].endswith('D') else 1)\n");
  expect_small(r, {"ring", "ring_header", "nest", "nest_header", "lmax_truncates", "lmax_pads", "components",
                   "float32_columns", "float32_values", "float64_columns"});
}

TEST_F(VerbShtTest, RotateAlmEqualsHealpyRotateAlmWithNegativeAnglesAndDegrees) {
  python(
      "cl = 1.0 / (np.arange(33) + 1.0)\n"
      "hp.write_alm('alm.fits', hp.synalm(cl, lmax=32), out_dtype=np.float64)\n"
      "hp.write_alm('tri.fits', [hp.synalm(cl, lmax=32) for _ in range(3)], out_dtype=np.float64)\n");
  std::string err = sphaera_ok("rotate alm.fits --euler 0.3 1.1 2.5 --out pos.fits");
  EXPECT_NE(err.find("rotate: alm, Euler angles"), std::string::npos) << err;
  EXPECT_NE(err.find("wrote: pos.fits: alm, lmax 32, 1 HDU, float64"), std::string::npos) << err;
  sphaera_ok("rotate alm.fits --euler -0.3 1.1 -2.5 --out neg.fits");
  sphaera_ok("rotate --euler -1e-1 -0.7 -3 alm.fits --out neg_first.fits");  // angles before the input
  sphaera_ok("rotate alm.fits --deg --euler 30 -45 100 --out deg.fits");
  sphaera_ok("rotate tri.fits --euler 0.5 -0.25 0.125 --out tri_rot.fits --float32");

  const auto r = python(
      "a = hp.read_alm('alm.fits')\n"
      "def rot(alm, psi, theta, phi):\n"
      "    b = alm.copy()\n"
      "    hp.rotate_alm(b, psi, theta, phi)\n"
      "    return b\n"
      "result('positive', rel(hp.read_alm('pos.fits'), rot(a, 0.3, 1.1, 2.5)))\n"
      "result('negative', rel(hp.read_alm('neg.fits'), rot(a, -0.3, 1.1, -2.5)))\n"
      "result('negative_first', rel(hp.read_alm('neg_first.fits'), rot(a, -0.1, -0.7, -3.0)))\n"
      "d = np.radians\n"
      "result('degrees', rel(hp.read_alm('deg.fits'), rot(a, d(30.0), d(-45.0), d(100.0))))\n"
      // The rotation moves power between m: the result is not the input.
      "result('rotates', 0 if rel(hp.read_alm('pos.fits'), a) > 0.1 else 1)\n"
      "tri = hp.read_alm('tri.fits', hdu=(1, 2, 3))\n"
      "ref = np.array([rot(t, 0.5, -0.25, 0.125) for t in tri])\n"
      "result('components_float32', rel(hp.read_alm('tri_rot.fits', hdu=(1, 2, 3)), ref))\n"
      "h = fits.open('tri_rot.fits')[3].header\n"
      "result('float32_columns', 0 if (h['TFORM2'], h['TFORM3']) == ('E', 'E') else 1)\n");
  expect_small(r, {"positive", "negative", "negative_first", "degrees", "rotates", "float32_columns"});
  expect_small(r, {"components_float32"}, 1e-6);
}

TEST_F(VerbShtTest, RotateMapEqualsHealpyTransformRotateSynthesise) {
  python(
      "rng = np.random.default_rng(9)\n"
      "m = rng.standard_normal(12 * 16**2)\n"
      "hp.write_map('ring.fits', m, nest=False, dtype=np.float64)\n"
      "hp.write_map('nest.fits', hp.reorder(m, r2n=True), nest=True, dtype=np.float64)\n"
      "hp.write_map('two.fits', rng.standard_normal((2, 12 * 32**2)), nest=False, dtype=np.float64)\n");
  const std::string err = sphaera_ok("rotate ring.fits --euler 0.4 -0.7 1.3 --out rot.fits");
  EXPECT_NE(err.find("map2alm: forward SHT of 1 map, lmax 47, iter 3"), std::string::npos) << err;
  EXPECT_NE(err.find("rotate: alm, Euler angles"), std::string::npos) << err;
  EXPECT_NE(err.find("alm2map: inverse SHT"), std::string::npos) << err;
  EXPECT_NE(err.find("wrote: rot.fits: HEALPix map, nside 16, RING"), std::string::npos) << err;
  sphaera_ok("rotate nest.fits --euler 0.4 -0.7 1.3 --out rot_nest.fits");
  sphaera_ok("rotate two.fits --deg --euler -20 35 -170 --out rot_two.fits");

  const auto r = python(
      "def rotate_map(m, psi, theta, phi):\n"
      "    nside = hp.get_nside(m)\n"
      "    a = hp.map2alm(m, iter=3)\n"
      "    hp.rotate_alm(a, psi, theta, phi)\n"
      "    return hp.alm2map(a, nside)\n"
      "m = hp.read_map('ring.fits', dtype=np.float64)\n"
      "ref = rotate_map(m, 0.4, -0.7, 1.3)\n"
      "result('ring', rel(hp.read_map('rot.fits', dtype=np.float64), ref))\n"
      "result('nest', rel(hp.read_map('rot_nest.fits', dtype=np.float64), ref))\n"
      "result('nest_kept', 0 if fits.open('rot_nest.fits')[1].header['ORDERING'] == 'NESTED' else 1)\n"
      "two = hp.read_map('two.fits', field=None, dtype=np.float64)\n"
      "ref2 = np.array([rotate_map(x, np.radians(-20.0), np.radians(35.0), np.radians(-170.0)) for x in two])\n"
      "result('two_columns', rel(hp.read_map('rot_two.fits', field=None, dtype=np.float64), ref2))\n");
  expect_small(r, {"ring", "nest", "nest_kept", "two_columns"});
}

TEST_F(VerbShtTest, BadInputGivesOneErrorLineAndNoOutput) {
  python(
      "hp.write_map('map.fits', np.ones(12 * 4**2), dtype=np.float64)\n"
      "hp.write_alm('alm.fits', hp.synalm(np.ones(9), lmax=8), out_dtype=np.float64)\n"
      "open('text.fits', 'w').write('not a FITS file\\n')\n");
  // Missing files.
  expect_error("map2alm nothing.fits --out out.fits", {"nothing.fits", "no such file"}, "out.fits");
  expect_error("alm2map nothing.fits --out out.fits --nside 4", {"nothing.fits", "no such file"}, "out.fits");
  expect_error("rotate nothing.fits --euler 0 0 0 --out out.fits", {"nothing.fits", "no such file"}, "out.fits");
  // The wrong kind of FITS file for the verb.
  expect_error("map2alm alm.fits --out out.fits", {"alm.fits", "spherical harmonic coefficients", "not a HEALPix map"},
               "out.fits");
  expect_error("alm2map map.fits --out out.fits --nside 4", {"map.fits", "holds a HEALPix map", "not spherical"},
               "out.fits");
  expect_error("map2alm text.fits --out out.fits", {"text.fits", "not a readable FITS file"}, "out.fits");
  expect_error("alm2map text.fits --out out.fits --nside 4", {"text.fits", "not a readable FITS file"}, "out.fits");
  expect_error("rotate text.fits --euler 0 0 0 --out out.fits", {"text.fits", "not a readable FITS file"}, "out.fits");
  // Bad numbers.
  expect_error("map2alm map.fits --out out.fits --lmax -1", {"--lmax", "must be >= 0", "-1"}, "out.fits");
  expect_error("alm2map alm.fits --out out.fits --nside 4 --lmax -3", {"--lmax", "must be >= 0"}, "out.fits");
  expect_error("map2alm map.fits --out out.fits --iter -2", {"--iter", "must be >= 0"}, "out.fits");
  expect_error("map2alm map.fits --out out.fits --mode fast", {"--mode", "fast", "auto, precompute, on_the_fly"}, "out.fits");
  expect_error("alm2map alm.fits --out out.fits --nside 12", {"--nside", "power of two", "12"}, "out.fits");
  expect_error("alm2map alm.fits --out out.fits --nside 0", {"--nside", "power of two"}, "out.fits");
  // Euler angles: too few (the next option is not taken for an angle), too many, not numbers, missing.
  expect_error("rotate alm.fits --euler 0.1 0.2 --out out.fits", {"--euler", "three angles", "got 2"}, "out.fits");
  expect_error("rotate alm.fits --euler 0.1 --out out.fits", {"--euler", "three angles", "got 1"}, "out.fits");
  expect_error("rotate alm.fits --euler 0.1 0.2 0.3 0.4 --out out.fits", {"0.4"}, "out.fits");
  expect_error("rotate alm.fits --euler 0.1 abc 0.3 --out out.fits", {"--euler", "'abc' is not an angle"}, "out.fits");
  expect_error("rotate alm.fits --euler 0.1 inf 0.3 --out out.fits", {"--euler", "'inf' is not an angle"},
               "out.fits");
  expect_error("rotate --euler 0.1 0.2 alm.fits --out out.fits", {"--euler", "'alm.fits' is not an angle"},
               "out.fits");
  expect_error("rotate alm.fits --out out.fits", {"--euler"}, "out.fits");
  expect_error("rotate --euler 0 0 0 --out out.fits", {"missing the input file"}, "out.fits");
  // Missing required options: usage errors.
  expect_error("map2alm map.fits", {"--out"});
  expect_error("alm2map alm.fits --out out.fits", {"--nside"}, "out.fits");
}

// map2alm and alm2map run without loading LibTorch (its start-up alone takes longer than a small transform);
// the dynamic loader's log of the libraries it loads tells. Other verbs load it, through the same executable.
TEST_F(VerbShtTest, TransformVerbsRunWithoutLoadingLibTorch) {
  python(
      "hp.write_map('m.fits', np.random.default_rng(3).standard_normal(12 * 8**2), dtype=np.float64)\n"
      "hp.write_alm('a.fits', hp.synalm(np.ones(17), lmax=16), out_dtype=np.float64)\n");
  auto loaded = [&](const std::string& args) {
    const auto r = run_command("cd " + dir_.string() + " && LD_DEBUG=libs " + cli_path() + " " + args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0);
    return r.err;
  };
  for (const char* args : {"map2alm m.fits --out a2.fits", "alm2map a.fits --out m2.fits --nside 8"}) {
    const std::string log = loaded(args);
    EXPECT_NE(log.find("libsphaera_transforms_base"), std::string::npos) << args;  // the log is there
    EXPECT_EQ(log.find("libtorch_cpu"), std::string::npos) << args << " loaded LibTorch";
  }
  EXPECT_NE(loaded("rotate a.fits --euler 0 0.1 0 --out r.fits").find("libtorch_cpu"), std::string::npos);
}

TEST_F(VerbShtTest, HelpExplainsEveryOption) {
  auto r = sphaera("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* verb : {"map2alm", "alm2map", "rotate"}) {
    EXPECT_NE(r.out.find(verb), std::string::npos) << r.out;
  }
  const std::map<std::string, std::vector<std::string>> options = {
      {"map2alm", {"--out", "--lmax", "--iter", "--ring-weights", "--mode", "--float32", "--threads", "healpy"}},
      {"alm2map", {"--out", "--nside", "--lmax", "--nest", "--float32", "--threads", "RING"}},
      {"rotate", {"--out", "--euler", "--deg", "--float32", "--threads", "radians", "ZYZ"}},
  };
  for (const auto& [verb, words] : options) {
    r = sphaera(verb + " --help");
    EXPECT_EQ(r.exit_code, 0) << verb;
    for (const auto& word : words) EXPECT_NE(r.out.find(word), std::string::npos) << verb << ": " << word << "\n" << r.out;
  }
}

}  // namespace
