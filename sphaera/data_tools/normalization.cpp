#include "sphaera/data_tools/normalization.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/manifest.h"

namespace sphaera::data_tools {

nlohmann::json NormalizationStats::to_json() const {
  return {{"channels", channels()},
          {"maps", maps},
          {"count", count},
          {"mean", mean},
          {"std", std},
          {"min", min},
          {"max", max}};
}

NormalizationStats NormalizationStats::from_json(const nlohmann::json& j) {
  SPHAERA_CHECK(j.is_object(), "normalisation statistics: expected a JSON object, got ", j.type_name());
  auto numbers = [&](const char* key, bool required) {
    std::vector<double> v;
    if (!j.contains(key)) {
      SPHAERA_CHECK(!required, "normalisation statistics: missing \"", key, "\"");
      return v;
    }
    const auto& a = j.at(key);
    SPHAERA_CHECK(a.is_array(), "normalisation statistics: \"", key, "\" must be an array of numbers");
    for (const auto& x : a) {
      SPHAERA_CHECK(x.is_number(), "normalisation statistics: \"", key, "\" must be an array of numbers");
      v.push_back(x.get<double>());
    }
    return v;
  };
  NormalizationStats s;
  s.mean = numbers("mean", true);
  s.std = numbers("std", true);
  s.min = numbers("min", false);
  s.max = numbers("max", false);
  for (double c : numbers("count", false)) s.count.push_back(static_cast<int64_t>(c));
  if (j.contains("maps")) {
    SPHAERA_CHECK(j.at("maps").is_number_integer(), "normalisation statistics: \"maps\" must be an integer");
    s.maps = j.at("maps").get<int64_t>();
  }
  const size_t c = s.mean.size();
  SPHAERA_CHECK(c > 0 && s.std.size() == c, "normalisation statistics: \"mean\" has ", c, " value(s), \"std\" ",
                s.std.size(), " (need the same number, at least 1)");
  SPHAERA_CHECK((s.min.empty() || s.min.size() == c) && (s.max.empty() || s.max.size() == c) &&
                    (s.count.empty() || s.count.size() == c),
                "normalisation statistics: \"min\", \"max\" and \"count\" need one value per channel (", c, ")");
  for (size_t i = 0; i < c; ++i) {
    SPHAERA_CHECK(std::isfinite(s.mean[i]) && std::isfinite(s.std[i]) && s.std[i] >= 0,
                  "normalisation statistics: channel ", i, " has mean ", s.mean[i], " and std ", s.std[i],
                  " (need finite values, std ≥ 0)");
  }
  return s;
}

void NormalizationAccumulator::add(const at::Tensor& map) { add(map, at::Tensor()); }

void NormalizationAccumulator::add(const at::Tensor& map, const at::Tensor& valid_mask) {
  SPHAERA_CHECK(map.defined() && map.dim() >= 1 && map.dim() <= 3,
                "normalisation: a map must be [npix], [C, npix] or [B, C, npix], got ",
                map.defined() ? map.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(
      !valid_mask.defined() || (valid_mask.sizes() == map.sizes() && valid_mask.scalar_type() == torch::kBool),
      "normalisation: the validity mask must be bool with the map's shape ", map.sizes(), ", got ", valid_mask.sizes(),
      " ", valid_mask.scalar_type());
  // [C, npix] views of the values and of the mask: a batch [B, C, npix] becomes [C, B·npix].
  auto as_channels = [](at::Tensor t) {
    if (t.dim() == 1) return t.unsqueeze(0);
    if (t.dim() == 3) return t.transpose(0, 1).reshape({t.size(1), -1});
    return t;
  };
  const auto x = as_channels(map.detach().to(torch::kCPU, torch::kDouble));
  const int64_t channels = x.size(0);
  if (n_.empty()) {
    n_.assign(channels, 0);
    mean_.assign(channels, 0.0);
    m2_.assign(channels, 0.0);
    min_.assign(channels, std::numeric_limits<double>::infinity());
    max_.assign(channels, -std::numeric_limits<double>::infinity());
  }
  SPHAERA_CHECK(static_cast<int64_t>(n_.size()) == channels, "normalisation: map ", maps_, " has ", channels,
                " channel(s), the maps before it ", n_.size());
  auto valid = invalid_pixel_mask(x).logical_not();
  if (valid_mask.defined()) valid = valid.logical_and(as_channels(valid_mask.to(torch::kCPU)));
  for (int64_t c = 0; c < channels; ++c) {
    const auto v = x[c].masked_select(valid[c]);
    const int64_t nb = v.numel();
    if (nb == 0) continue;
    const double mean_b = v.mean().item<double>();
    const double m2_b = (v - mean_b).square().sum().item<double>();
    const int64_t na = n_[c];
    const double n = static_cast<double>(na + nb);
    const double delta = mean_b - mean_[c];
    mean_[c] += delta * static_cast<double>(nb) / n;
    m2_[c] += m2_b + delta * delta * static_cast<double>(na) * static_cast<double>(nb) / n;
    n_[c] = na + nb;
    min_[c] = std::min(min_[c], v.min().item<double>());
    max_[c] = std::max(max_[c], v.max().item<double>());
  }
  maps_ += map.dim() == 3 ? map.size(0) : 1;
}

NormalizationStats NormalizationAccumulator::stats() const {
  SPHAERA_CHECK(maps_ > 0, "normalisation: no maps were given");
  NormalizationStats s;
  s.maps = maps_;
  for (size_t c = 0; c < n_.size(); ++c) {
    SPHAERA_CHECK(n_[c] > 0, "normalisation: channel ", c, " has no valid pixel in any of the ", maps_, " map(s)");
    s.mean.push_back(mean_[c]);
    s.std.push_back(std::sqrt(m2_[c] / static_cast<double>(n_[c])));
    s.min.push_back(min_[c]);
    s.max.push_back(max_[c]);
    s.count.push_back(n_[c]);
  }
  return s;
}

NormalizationStats compute_normalization(const std::vector<at::Tensor>& maps) {
  NormalizationAccumulator acc;
  for (const auto& m : maps) acc.add(m);
  return acc.stats();
}

NormalizationStats manifest_normalization(const std::string& manifest, std::optional<int64_t> nside,
                                          const std::function<void(int64_t, int64_t)>& progress) {
  const auto entries = read_manifest(manifest);
  NormalizationAccumulator acc;
  const int64_t total = static_cast<int64_t>(entries.size());
  for (int64_t i = 0; i < total; ++i) {
    const auto map = read_healpix_map(entries[i].input, nside);
    try {
      acc.add(map);
    } catch (const core::InvalidArgument& e) {
      throw core::InvalidArgument(manifest + ": " + entries[i].input + ": " + e.what());
    }
    if (progress) progress(i + 1, total);
  }
  try {
    return acc.stats();
  } catch (const core::InvalidArgument& e) {
    throw core::InvalidArgument(manifest + ": " + e.what());
  }
}

at::Tensor normalize(const at::Tensor& maps, const NormalizationStats& stats) {
  SPHAERA_CHECK(maps.defined() && maps.dim() >= 1, "normalize: undefined or 0-d tensor");
  const int64_t channels = maps.dim() == 1 ? 1 : maps.size(-2);
  SPHAERA_CHECK(channels == stats.channels(), "normalize: maps have ", channels, " channel(s), the statistics ",
                stats.channels());
  std::vector<double> scale(channels);
  for (int64_t c = 0; c < channels; ++c) scale[c] = stats.std[c] > 0 ? 1.0 / stats.std[c] : 1.0;
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto mean = torch::tensor(stats.mean, opts).to(maps.device(), maps.scalar_type());
  auto inv = torch::tensor(scale, opts).to(maps.device(), maps.scalar_type());
  if (maps.dim() > 1) {
    mean = mean.unsqueeze(-1);
    inv = inv.unsqueeze(-1);
  }
  auto out = (maps - mean) * inv;
  return out.masked_fill(invalid_pixel_mask(maps), std::numeric_limits<double>::quiet_NaN());
}

}  // namespace sphaera::data_tools
