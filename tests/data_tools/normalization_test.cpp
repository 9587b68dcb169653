// Normalisation statistics: exact against a direct computation, NaN/UNSEEN ignored, JSON round trip.
#include "sphaera/data_tools/normalization.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/manifest.h"

namespace fs = std::filesystem;
using sphaera::core::InvalidArgument;
using namespace sphaera::data_tools;

namespace {

class NormalizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(5);
    // Channel 0 around 3 with scale 2, channel 1 around -1e4 with scale 0.5 (stresses cancellation).
    for (int i = 0; i < 4; ++i) {
      auto m = torch::randn({2, 12 * 4 * 4}, torch::kDouble);
      m[0] = m[0] * 2 + 3 + i;
      m[1] = m[1] * 0.5 - 1e4;
      m[0][i] = std::nan("");
      m[1][2 * i + 1] = kUnseen;
      maps_.push_back(m);
    }
  }
  // Direct two-pass statistics of channel c over the valid pixels of all maps.
  std::pair<double, double> direct(int64_t c) const {
    std::vector<at::Tensor> parts;
    for (const auto& m : maps_) parts.push_back(m[c].masked_select(invalid_pixel_mask(m[c]).logical_not()));
    const auto all = torch::cat(parts);
    return {all.mean().item<double>(), all.std(/*unbiased=*/false).item<double>()};
  }
  std::vector<at::Tensor> maps_;
};

TEST_F(NormalizationTest, MatchesDirectComputationIgnoringMissingPixels) {
  const auto s = compute_normalization(maps_);
  ASSERT_EQ(s.channels(), 2);
  EXPECT_EQ(s.maps, 4);
  for (int64_t c = 0; c < 2; ++c) {
    const auto [mean, std] = direct(c);
    EXPECT_NEAR(s.mean[c], mean, 1e-12 * std::abs(mean)) << c;
    EXPECT_NEAR(s.std[c], std, 1e-10 * std) << c;
    EXPECT_EQ(s.count[c], 4 * (12 * 16 - 1));
    EXPECT_FALSE(std::isnan(s.min[c]) || std::isnan(s.max[c]));
  }
  EXPECT_GT(s.min[1], -1e5);  // UNSEEN was skipped
}

TEST_F(NormalizationTest, BatchAndMaskedAccumulationAgree) {
  NormalizationAccumulator one_by_one, batch;
  for (const auto& m : maps_) one_by_one.add(m);
  batch.add(torch::stack(maps_));
  const auto a = one_by_one.stats(), b = batch.stats();
  EXPECT_EQ(b.maps, 4);
  for (int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(a.mean[c], b.mean[c], 1e-12 * std::abs(a.mean[c]));
    EXPECT_NEAR(a.std[c], b.std[c], 1e-10 * a.std[c]);
  }
  // Missing pixels filled with 0 but flagged by a mask count as missing.
  NormalizationAccumulator masked;
  for (const auto& m : maps_) {
    const auto invalid = invalid_pixel_mask(m);
    masked.add(m.masked_fill(invalid, 0.0), invalid.logical_not());
  }
  EXPECT_NEAR(masked.stats().mean[1], a.mean[1], 1e-12 * std::abs(a.mean[1]));
  EXPECT_EQ(masked.stats().count, a.count);
}

TEST_F(NormalizationTest, JsonRoundTripAndMalformedJson) {
  const auto s = compute_normalization(maps_);
  const auto back = NormalizationStats::from_json(nlohmann::json::parse(s.to_json().dump()));
  EXPECT_EQ(back.mean, s.mean);
  EXPECT_EQ(back.std, s.std);
  EXPECT_EQ(back.min, s.min);
  EXPECT_EQ(back.max, s.max);
  EXPECT_EQ(back.count, s.count);
  EXPECT_EQ(back.maps, s.maps);
  EXPECT_THROW(NormalizationStats::from_json(nlohmann::json::parse(R"({"mean": [1.0]})")), InvalidArgument);
  EXPECT_THROW(NormalizationStats::from_json(nlohmann::json::parse(R"({"mean": [1.0], "std": [1, 2]})")),
               InvalidArgument);
  EXPECT_THROW(NormalizationStats::from_json(nlohmann::json::parse(R"({"mean": [1.0], "std": [-1]})")),
               InvalidArgument);
  EXPECT_THROW(NormalizationStats::from_json(nlohmann::json::parse(R"({"mean": ["a"], "std": [1]})")), InvalidArgument);
  EXPECT_THROW(NormalizationStats::from_json(nlohmann::json::parse("[1, 2]")), InvalidArgument);
}

TEST_F(NormalizationTest, BadInputsAreErrors) {
  NormalizationAccumulator acc;
  acc.add(maps_[0]);
  EXPECT_THROW(acc.add(torch::zeros({3, 192}, torch::kDouble)), InvalidArgument);  // channel count changed
  NormalizationAccumulator empty;
  EXPECT_THROW(empty.stats(), InvalidArgument);
  NormalizationAccumulator all_missing;
  all_missing.add(torch::full({192}, std::nan(""), torch::kDouble));
  EXPECT_THROW(all_missing.stats(), InvalidArgument);
}

TEST_F(NormalizationTest, NormalizeGivesZeroMeanUnitStd) {
  const auto s = compute_normalization(maps_);
  NormalizationAccumulator acc;
  for (const auto& m : maps_) acc.add(normalize(m, s));
  const auto t = acc.stats();
  for (int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(t.mean[c], 0.0, 1e-9);
    EXPECT_NEAR(t.std[c], 1.0, 1e-9);
  }
  const auto out = normalize(maps_[0].to(torch::kFloat), s);
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  EXPECT_THROW(normalize(torch::zeros({3, 192}), s), InvalidArgument);
}

TEST_F(NormalizationTest, StatisticsOfAManifest) {
  const fs::path dir = fs::temp_directory_path() / ("sphaera_norm_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::vector<ManifestEntry> entries;
  for (size_t i = 0; i < maps_.size(); ++i) {
    ManifestEntry e;
    e.input = (dir / ("m" + std::to_string(i) + ".fits")).string();
    e.label = static_cast<int64_t>(i % 2);
    write_healpix_map(e.input, maps_[i]);
    entries.push_back(e);
  }
  write_manifest((dir / "train.csv").string(), entries);
  int64_t calls = 0;
  const auto s = manifest_normalization((dir / "train.csv").string(), 4, [&](int64_t done, int64_t total) {
    EXPECT_EQ(done, ++calls);
    EXPECT_EQ(total, 4);
  });
  EXPECT_EQ(calls, 4);
  const auto expected = compute_normalization(maps_);
  EXPECT_EQ(s.mean, expected.mean);
  EXPECT_EQ(s.std, expected.std);
  EXPECT_THROW(manifest_normalization((dir / "train.csv").string(), 8), InvalidArgument);  // nside mismatch
  fs::remove_all(dir);
}

}  // namespace
