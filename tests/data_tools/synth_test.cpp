// synth-cosmo: same spectrum, different skewness, seeded, and a data set that appears whole or not at all.
#include "sphaera/data_tools/synth.h"
#include "tests/support/errors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/manifest.h"
#include "sphaera/transforms/healpix_grid.h"

namespace fs = std::filesystem;
using sphaera::core::InvalidArgument;
using namespace sphaera::data_tools;

namespace {

constexpr double kPi = 3.14159265358979323846;

double skewness(const at::Tensor& m) {
  const auto x = m - m.mean();
  return (x.pow(3).mean() / x.pow(2).mean().pow(1.5)).item<double>();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using sphaera::testing::error_of;

class SynthDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sphaera_synth_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    options_.nside = 8;
    options_.train = 2;
    options_.val = 1;
    options_.test = 1;
    options_.seed = 5;
    options_.out_dir = (root_ / "data").string();
  }
  void TearDown() override { fs::remove_all(root_); }
  std::vector<std::string> names_in(const fs::path& dir) const {
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(fs::relative(e.path(), dir).string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path root_;
  SynthCosmoOptions options_;
};

TEST(SynthSpectrumTest, CambSpectrumComesFromHealpyData) {
  const auto cl = synth_spectrum("camb", 10);
  ASSERT_EQ(cl.size(0), 11);
  EXPECT_EQ(cl[0].item<double>(), 0.0);
  EXPECT_EQ(cl[1].item<double>(), 0.0);
  // totcls.dat: l = 2 has D_l = 0.17261E+04 uK², l = 10 has D_l = 0.82456E+03.
  EXPECT_NEAR(cl[2].item<double>(), 2 * kPi * 1726.1 / 6.0, 1e-9);
  std::ifstream in("/usr/share/healpy/data/totcls.dat");
  std::string line;
  double l = 0, dl = 0;
  for (int i = 0; i <= 10; ++i) std::getline(in, line);
  std::istringstream(line) >> l >> dl;
  ASSERT_EQ(l, 10);
  EXPECT_NEAR(cl[10].item<double>(), 2 * kPi * dl / 110.0, 1e-12 * dl);
}

TEST(SynthSpectrumTest, PowerLawHasItsSlopeAndUnitVariance) {
  const auto cl = synth_spectrum("powerlaw:2.5", 40);
  EXPECT_NEAR(cl[7].item<double>() / cl[3].item<double>(), std::pow(8.0 / 4.0, -2.5), 1e-12);
  double variance = 0;
  for (int l = 0; l <= 40; ++l) variance += (2 * l + 1) * cl[l].item<double>() / (4 * kPi);
  EXPECT_NEAR(variance, 1.0, 1e-12);
  EXPECT_EQ(cl[1].item<double>(), 0.0);
  for (const char* bad : {"powerlaw:", "powerlaw:abc", "powerlaw:2x", "gauss", "camb:/nonexistent/cls.dat"}) {
    EXPECT_THROW(synth_spectrum(bad, 10), InvalidArgument) << bad;
  }
}

TEST(SynthMeasureTest, PowerSpectrumOfADipoleIsExact) {
  // z = cos θ = √(4π/3) Y_10: C_1 = 4π/3 / 3, every other C_l = 0.
  const auto z = sphaera::transforms::HealpixGrid(16).directions().select(1, 2).contiguous();
  const auto cl = measure_power_spectrum(z, 8);
  EXPECT_NEAR(cl[1].item<double>(), 4 * kPi / 9, 1e-9);
  EXPECT_LT(cl.narrow(0, 2, 7).abs().max().item<double>(), 1e-12);
  EXPECT_LT(std::abs(cl[0].item<double>()), 1e-12);
}

TEST(SynthCosmoTest, ClassesShareTheSpectrumButNotTheSkewness) {
  SynthCosmoOptions o;
  o.nside = 32;
  o.noise = 0.0;
  o.skewness = 1.0;
  const SynthCosmo synth(o);
  const int64_t L = synth.lmax();
  ASSERT_EQ(L, 95);
  const int n = 24;
  // Band powers in bins of l, per map, for each class.
  const std::vector<int64_t> edges = {2, 8, 16, 32, 48, 64, 96};
  const int64_t bins = static_cast<int64_t>(edges.size()) - 1;
  at::Tensor band[2] = {torch::zeros({n, bins}, torch::kDouble), torch::zeros({n, bins}, torch::kDouble)};
  double skew[2][24];
  for (int label = 0; label < 2; ++label) {
    for (int i = 0; i < n; ++i) {
      const auto map = synth.map(label, SynthCosmo::map_seed(7, 0, label, i));
      const auto cl = measure_power_spectrum(map, L);
      for (int64_t b = 0; b < bins; ++b) {
        const auto ells = torch::arange(edges[b], edges[b + 1], torch::kDouble);
        band[label][i][b] = ((2 * ells + 1) * cl.slice(0, edges[b], edges[b + 1])).sum();
      }
      skew[label][i] = skewness(map);
    }
  }
  const auto target = synth.target_cl();
  for (int64_t b = 0; b < bins; ++b) {
    const auto ells = torch::arange(edges[b], edges[b + 1], torch::kDouble);
    const double expected = ((2 * ells + 1) * target.slice(0, edges[b], edges[b + 1])).sum().item<double>();
    const auto m0 = band[0].select(1, b), m1 = band[1].select(1, b);
    // Standard errors of the class means from the maps' own scatter (cosmic variance, plus the lognormal
    // field's extra variance): the two means must agree within 4 of them.
    const double se0 = (m0.std() / std::sqrt(n)).item<double>(), se1 = (m1.std() / std::sqrt(n)).item<double>();
    const double mean0 = m0.mean().item<double>(), mean1 = m1.mean().item<double>();
    EXPECT_LT(std::abs(mean1 - mean0), 4 * std::hypot(se0, se1))
        << "bin [" << edges[b] << ", " << edges[b + 1] << "): " << mean0 << " vs " << mean1;
    // The Gaussian class against the target, within 4 standard errors, where map2alm is accurate (l ≤ 2 nside).
    if (edges[b + 1] <= 64) {
      EXPECT_LT(std::abs(mean0 - expected), 4 * se0) << "bin " << b;
      EXPECT_LT(std::abs(mean1 - expected), 4 * se1) << "bin " << b;
    }
  }
  double mean_skew[2] = {0, 0}, var_skew[2] = {0, 0};
  for (int label = 0; label < 2; ++label) {
    for (int i = 0; i < n; ++i) mean_skew[label] += skew[label][i] / n;
    for (int i = 0; i < n; ++i) var_skew[label] += std::pow(skew[label][i] - mean_skew[label], 2) / (n - 1);
  }
  EXPECT_LT(std::abs(mean_skew[0]), 0.1);
  EXPECT_GT(mean_skew[1], 0.7);  // asked for 1; the part of the field above lmax is cut
  EXPECT_LT(mean_skew[1], 1.1);
  EXPECT_GT(mean_skew[1] - mean_skew[0], 10 * std::sqrt((var_skew[0] + var_skew[1]) / n));
  // Both classes have the same pixel scale: the expected standard deviation of the target spectrum.
  EXPECT_NEAR(synth.signal_std(),
              std::sqrt(((2 * torch::arange(L + 1, torch::kDouble) + 1) * target).sum().item<double>() / (4 * kPi)),
              1e-9);
}

TEST(SynthCosmoTest, SkewnessOptionControlsTheLognormalClass) {
  SynthCosmoOptions o;
  o.nside = 16;
  o.noise = 0.0;
  double mean[2] = {0, 0};
  const double asked[2] = {0.5, 2.0};
  for (int k = 0; k < 2; ++k) {
    o.skewness = asked[k];
    const SynthCosmo synth(o);
    for (int i = 0; i < 16; ++i) mean[k] += skewness(synth.map(1, 100 + i)) / 16;
  }
  EXPECT_GT(mean[0], 0.25);
  EXPECT_LT(mean[0], 0.6);
  EXPECT_GT(mean[1], 1.2);
}

TEST(SynthCosmoTest, NoiseIsAFractionOfTheSignalStd) {
  SynthCosmoOptions o;
  o.nside = 16;
  o.noise = 0.0;
  const SynthCosmo clean(o);
  o.noise = 0.5;
  const SynthCosmo noisy(o);
  for (int label = 0; label < 2; ++label) {
    const auto diff = noisy.map(label, 9) - clean.map(label, 9);
    EXPECT_NEAR(diff.std().item<double>() / clean.signal_std(), 0.5, 0.02) << label;
    EXPECT_NEAR(diff.mean().item<double>() / clean.signal_std(), 0.0, 0.02) << label;
  }
}

TEST(SynthCosmoTest, SeedsDetermineMaps) {
  SynthCosmoOptions o;
  o.nside = 8;
  const SynthCosmo synth(o);
  EXPECT_TRUE(torch::equal(synth.map(1, 42), synth.map(1, 42)));
  EXPECT_FALSE(torch::equal(synth.map(1, 42), synth.map(1, 43)));
  EXPECT_FALSE(torch::equal(synth.map(0, 42), synth.map(1, 42)));
  std::set<uint64_t> seeds;
  for (int split = 0; split < 3; ++split) {
    for (int label = 0; label < 2; ++label) {
      for (int i = 0; i < 50; ++i) seeds.insert(SynthCosmo::map_seed(1, split, label, i));
    }
  }
  EXPECT_EQ(seeds.size(), 300u);
  EXPECT_NE(SynthCosmo::map_seed(1, 0, 0, 0), SynthCosmo::map_seed(2, 0, 0, 0));
}

TEST(SynthCosmoTest, InvalidOptionsNameTheOption) {
  auto message_for = [](auto change) {
    SynthCosmoOptions o;
    change(o);
    return error_of([&] { check_synth_cosmo_options(o); });
  };
  EXPECT_NE(message_for([](auto& o) { o.nside = 12; }).find("nside"), std::string::npos);
  EXPECT_NE(message_for([](auto& o) { o.lmax = 1000; }).find("lmax"), std::string::npos);
  EXPECT_NE(message_for([](auto& o) { o.val = 0; }).find("val"), std::string::npos);
  EXPECT_NE(message_for([](auto& o) { o.noise = -1; }).find("noise"), std::string::npos);
  EXPECT_NE(message_for([](auto& o) { o.skewness = 0; }).find("skewness"), std::string::npos);
  EXPECT_NE(message_for([](auto& o) { o.spectrum = "flat"; }).find("spectrum 'flat'"), std::string::npos);
  EXPECT_EQ(message_for([](auto&) {}), "");
}

TEST_F(SynthDirTest, WritesTheDataSetAndReusesIt) {
  ASSERT_TRUE(ensure_synth_cosmo(options_));
  const fs::path dir = options_.out_dir;
  for (const char* f : {"train.csv", "val.csv", "test.csv", "synth.json", "train/gaussian_0001.fits",
                        "train/lognormal_0001.fits", "val/lognormal_0000.fits", "test/gaussian_0000.fits"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  EXPECT_EQ(names_in(dir).size(), 4u + 3u + 2 * 4u);  // 4 files, 3 folders, 8 maps
  // Manifests list both classes with their labels, and the maps are the generator's (stored as float32).
  const auto train = read_manifest((dir / "train.csv").string());
  ASSERT_EQ(train.size(), 4u);
  const SynthCosmo synth(options_);
  for (const auto& e : train) {
    const bool lognormal = e.input.find("lognormal") != std::string::npos;
    EXPECT_EQ(e.label, lognormal ? 1 : 0);
    const int64_t index = std::stoll(e.input.substr(e.input.size() - 9, 4));
    const auto expected = synth.map(e.label, SynthCosmo::map_seed(5, 0, e.label, index));
    EXPECT_TRUE(torch::equal(read_healpix_map(e.input, 8), expected.to(torch::kFloat).to(torch::kDouble))) << e.input;
  }
  EXPECT_EQ(read_manifest((dir / "test.csv").string()).size(), 2u);
  const auto meta = nlohmann::json::parse(slurp(dir / "synth.json"));
  EXPECT_EQ(meta["options"]["nside"], 8);
  EXPECT_EQ(meta["options"]["lmax"], 23);
  EXPECT_EQ(meta["options"]["seed"], 5);
  EXPECT_EQ(meta["classes"][1], "lognormal");

  // Second call: nothing to do, nothing touched.
  const auto stamp = fs::last_write_time(dir / "train/gaussian_0000.fits");
  const auto json_text = slurp(dir / "synth.json");
  EXPECT_FALSE(ensure_synth_cosmo(options_));
  EXPECT_EQ(fs::last_write_time(dir / "train/gaussian_0000.fits"), stamp);
  EXPECT_EQ(slurp(dir / "synth.json"), json_text);
  // Other options on the same directory: an error naming what differs, data left alone.
  options_.noise = 0.3;
  const std::string message = error_of([&] { ensure_synth_cosmo(options_); });
  EXPECT_NE(message.find("noise 0.1 -> 0.3"), std::string::npos) << message;
  EXPECT_EQ(slurp(dir / "synth.json"), json_text);
}

TEST_F(SynthDirTest, SameOptionsGiveByteIdenticalFiles) {
  ASSERT_TRUE(ensure_synth_cosmo(options_));
  SynthCosmoOptions again = options_;
  again.out_dir = (root_ / "again").string();
  ASSERT_TRUE(ensure_synth_cosmo(again));
  const auto names = names_in(options_.out_dir);
  ASSERT_EQ(names, names_in(again.out_dir));
  for (const auto& name : names) {
    if (fs::is_regular_file(fs::path(options_.out_dir) / name)) {
      EXPECT_EQ(slurp(fs::path(options_.out_dir) / name), slurp(fs::path(again.out_dir) / name)) << name;
    }
  }
  SynthCosmoOptions other = options_;
  other.seed = 6;
  other.out_dir = (root_ / "other").string();
  ASSERT_TRUE(ensure_synth_cosmo(other));
  EXPECT_NE(slurp(fs::path(options_.out_dir) / "train/lognormal_0000.fits"),
            slurp(fs::path(other.out_dir) / "train/lognormal_0000.fits"));
}

TEST_F(SynthDirTest, InterruptedRunLeavesNothingBehind) {
  int64_t calls = 0;
  options_.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 8);
    ++calls;
    if (done >= 2) throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(ensure_synth_cosmo(options_), std::runtime_error);
  EXPECT_GE(calls, 1);
  EXPECT_FALSE(fs::exists(options_.out_dir));
  EXPECT_TRUE(fs::is_empty(root_)) << names_in(root_).front();  // no partial directory either
  // A later run completes normally.
  options_.progress = nullptr;
  EXPECT_TRUE(ensure_synth_cosmo(options_));
  EXPECT_TRUE(fs::exists(fs::path(options_.out_dir) / "synth.json"));
}

TEST_F(SynthDirTest, EmptyDirectoryIsFilledForeignOneRefused) {
  fs::create_directories(options_.out_dir);
  EXPECT_TRUE(ensure_synth_cosmo(options_));
  EXPECT_TRUE(fs::exists(fs::path(options_.out_dir) / "train.csv"));
  SynthCosmoOptions foreign = options_;
  foreign.out_dir = (root_ / "mine").string();
  fs::create_directories(foreign.out_dir);
  std::ofstream(fs::path(foreign.out_dir) / "notes.txt") << "precious\n";
  const std::string message = error_of([&] { ensure_synth_cosmo(foreign); });
  EXPECT_NE(message.find("not a synth-cosmo data set"), std::string::npos) << message;
  EXPECT_TRUE(fs::exists(fs::path(foreign.out_dir) / "notes.txt"));
}

}  // namespace
