// `sphaera data synth-cosmo`, `sphaera data stats` and `sphaera plot` as users run them.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/normalization.h"
#include "sphaera/data_tools/render.h"
#include "tests/support/process.h"

namespace fs = std::filesystem;
using sphaera::testing::cli_path;
using sphaera::testing::lines_in;
using sphaera::testing::run_command;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class VerbDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sphaera_verb_data_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string synth(const std::string& out, const std::string& extra = "") {
    return cli_path() + " data synth-cosmo --out " + path(out) +
           " --nside 8 --train 2 --val 1 --test 1 --seed 3 --noise 0.2 " + extra;
  }
  fs::path dir_;
};

TEST_F(VerbDataTest, SynthCosmoWritesDataSetThenDoesNothing) {
  auto r = run_command(synth("d", "--threads 1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("generated 8 maps"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("with 1 thread\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("synth-cosmo"), std::string::npos) << r.err;  // progress
  for (const char* f : {"train.csv", "val.csv", "test.csv", "synth.json", "train/lognormal_0001.fits"}) {
    EXPECT_TRUE(fs::exists(dir_ / "d" / f)) << f;
  }
  const auto meta = nlohmann::json::parse(slurp(dir_ / "d/synth.json"));
  EXPECT_EQ(meta["options"]["noise"], 0.2);
  EXPECT_EQ(meta["options"]["seed"], 3);
  EXPECT_EQ(meta["options"]["lmax"], 23);
  EXPECT_EQ(sphaera::data_tools::read_healpix_map_info(path("d/train/lognormal_0001.fits")).nside, 8);
  const auto stamp = fs::last_write_time(dir_ / "d/train/gaussian_0000.fits");
  r = run_command(synth("d"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("nothing to do"), std::string::npos) << r.out;
  EXPECT_EQ(fs::last_write_time(dir_ / "d/train/gaussian_0000.fits"), stamp);
}

TEST_F(VerbDataTest, SynthCosmoFilesDoNotDependOnThreads) {
  ASSERT_EQ(run_command(synth("one", "--threads 1")).exit_code, 0);
  ASSERT_EQ(run_command(synth("two", "--threads 2")).exit_code, 0);
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "one")) {
    if (!e.is_regular_file()) continue;
    const auto rel = fs::relative(e.path(), dir_ / "one");
    EXPECT_EQ(slurp(e.path()), slurp(dir_ / "two" / rel)) << rel;
  }
}

TEST_F(VerbDataTest, SynthCosmoBadOptionsAreOneLineErrors) {
  auto r = run_command(cli_path() + " data synth-cosmo --out " + path("d") + " --nside 12");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines_in(r.err.substr(r.err.find("sphaera data: error"))), 1) << r.err;
  EXPECT_NE(r.err.find("nside must be a power of two"), std::string::npos) << r.err;
  r = run_command(synth("d", "--spectrum flat"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("spectrum 'flat'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "d"));
  r = run_command(cli_path() + " data synth-cosmo --nside 8");  // no --out
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
  r = run_command(cli_path() + " data");  // no subcommand
  EXPECT_EQ(r.exit_code, 2);
  // Other options on an existing data set: refused, with what differs.
  ASSERT_EQ(run_command(synth("d")).exit_code, 0);
  r = run_command(synth("d", "--skewness 2"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("skewness 0.4 -> 2.0"), std::string::npos) << r.err;
}

TEST_F(VerbDataTest, StatsOfAManifest) {
  ASSERT_EQ(run_command(synth("d")).exit_code, 0);
  const auto r = run_command(cli_path() + " data stats " + path("d/train.csv") + " --out " + path("stats.json") +
                             " --nside 8 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto written = nlohmann::json::parse(slurp(dir_ / "stats.json"));
  EXPECT_EQ(nlohmann::json::parse(r.out), written);
  const auto stats = sphaera::data_tools::NormalizationStats::from_json(written);
  const auto expected = sphaera::data_tools::manifest_normalization(path("d/train.csv"));
  ASSERT_EQ(stats.channels(), 1);
  EXPECT_DOUBLE_EQ(stats.mean[0], expected.mean[0]);
  EXPECT_DOUBLE_EQ(stats.std[0], expected.std[0]);
  EXPECT_EQ(stats.count[0], 4 * 768);
  EXPECT_EQ(stats.maps, 4);
  EXPECT_GT(stats.std[0], 10.0);  // CAMB maps in μK: tens of μK at nside 8
  // Wrong nside: one line naming the map.
  const auto bad = run_command(cli_path() + " data stats " + path("d/train.csv") + " --nside 16");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("expected nside 16"), std::string::npos) << bad.err;
}

TEST_F(VerbDataTest, PlotWritesAPng) {
  auto map = torch::linspace(-1, 1, 12 * 16 * 16, torch::kDouble);
  sphaera::data_tools::write_healpix_map(path("m.fits"), map, false);
  auto r = run_command(cli_path() + " plot " + path("m.fits") + " --out " + path("pics/m.png") +
                       " --title ramp --min -1 --max 1 --width 300 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto image = sphaera::data_tools::read_png_rgb(path("pics/m.png"));
  const auto layout = sphaera::data_tools::mollweide_layout(300);
  EXPECT_EQ(image.size(0), layout.height);
  EXPECT_EQ(image.size(1), 300);
  EXPECT_TRUE(torch::equal(image, sphaera::data_tools::render_mollweide(map, {300, "ramp", -1.0, 1.0, 0})));
  // Defaults: width 800, title = file name, scale = the map's range.
  r = run_command(cli_path() + " plot " + path("m.fits") + " --out " + path("default.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(torch::equal(sphaera::data_tools::read_png_rgb(path("default.png")),
                           sphaera::data_tools::render_mollweide(map, {800, "m.fits", {}, {}, 0})));
  r = run_command(cli_path() + " plot " + path("absent.fits") + " --out " + path("x.png"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.substr(r.err.find("sphaera plot: error")),
            "sphaera plot: error: " + path("absent.fits") + ": no such file\n");
  EXPECT_FALSE(fs::exists(path("x.png")));
  r = run_command(cli_path() + " plot " + path("m.fits") + " --out " + path("x.png") + " --min 2 --max 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("min < max"), std::string::npos) << r.err;
}

}  // namespace
