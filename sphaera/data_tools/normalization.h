#pragma once
/// Normalisation statistics: per-channel mean and standard deviation over a set of maps, ignoring missing
/// (NaN / UNSEEN) pixels, accumulated in float64 with Chan et al.'s pairwise update (stable for many
/// large maps).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sphaera::data_tools {

/// Per-channel statistics of valid pixels. `std` is the population standard deviation (divisor n, as
/// numpy's default); it is 0 for a constant channel (callers dividing by it must guard).
struct NormalizationStats {
  std::vector<double> mean;
  std::vector<double> std;
  std::vector<double> min;
  std::vector<double> max;
  std::vector<int64_t> count;  ///< valid pixels per channel
  int64_t maps = 0;            ///< maps accumulated

  int64_t channels() const { return static_cast<int64_t>(mean.size()); }
  /// {"channels": C, "maps": M, "count": [...], "mean": [...], "std": [...], "min": [...], "max": [...]}.
  nlohmann::json to_json() const;
  /// Inverse of to_json. Needs "mean" and "std" (equal lengths, std ≥ 0); the others are optional.
  /// Throws core::InvalidArgument on a malformed object.
  static NormalizationStats from_json(const nlohmann::json& j);
};

/// Accumulates maps one by one (constant memory: suits data sets larger than memory).
class NormalizationAccumulator {
 public:
  /// Adds a map [npix] (one channel), [C, npix] or a batch [B, C, npix]; NaN and UNSEEN pixels are skipped.
  /// The channel count must stay the same from map to map.
  void add(const at::Tensor& map);
  /// Same, counting only pixels where `valid` (bool, same shape as `map`) is true (and the value is neither
  /// NaN nor UNSEEN): for maps whose missing pixels were already filled in.
  void add(const at::Tensor& map, const at::Tensor& valid);
  /// The statistics so far. Throws core::InvalidArgument when a channel has no valid pixel.
  NormalizationStats stats() const;

 private:
  std::vector<int64_t> n_;
  std::vector<double> mean_, m2_, min_, max_;
  int64_t maps_ = 0;
};

/// Statistics of the given maps (see NormalizationAccumulator::add for the shapes).
NormalizationStats compute_normalization(const std::vector<at::Tensor>& maps);

/// Statistics of every input map of a manifest (read with read_healpix_map, nside checked when given).
/// `progress(done, total)` is called after each map when set.
NormalizationStats manifest_normalization(const std::string& manifest, std::optional<int64_t> nside = std::nullopt,
                                          const std::function<void(int64_t, int64_t)>& progress = {});

/// (x − mean) / std per channel (the channel dimension is −2 for [.., C, npix], or a single channel for
/// [npix]); channels whose std is 0 are only centred. NaN and UNSEEN pixels become NaN. Same dtype and device as
/// `maps`.
at::Tensor normalize(const at::Tensor& maps, const NormalizationStats& stats);

}  // namespace sphaera::data_tools
