#pragma once
/// In-memory data splits for the trainer: HEALPix maps from a manifest, cut into DeepSphere's partial-sky
/// patches, with labels, validity masks and normalisation.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "sphaera/data_tools/normalization.h"
#include "sphaera/train/experiment.h"

namespace sphaera::train {

/// One split: samples are (map, patch) pairs; with order o each map gives 12·o² samples (all of them).
struct Split {
  at::Tensor inputs;                 ///< [N, C, V] float32, NEST order within each patch (NaN where masked
                                     ///< until finalize_split)
  at::Tensor labels;                 ///< [N] int64
  at::Tensor valid;                  ///< [N, C, V] bool: false where the map had NaN / UNSEEN (masked)
  std::vector<std::string> sources;  ///< the map file of each sample
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// Reads the maps a manifest lists. Checks: nside equal to data.nside, channels equal to `channels`, labels
/// in [0, classes), NaN / UNSEEN pixels only when data.mask_invalid (else an error naming the file).
/// `what` names the split in messages ("data.train").
Split load_split(const std::string& manifest, const DataConfig& data, int64_t channels, const std::string& what);

/// Normalisation statistics of a split's valid pixels (per channel).
data_tools::NormalizationStats split_statistics(const Split& split);

/// (x − mean) / std per channel when `normalize`, then masked pixels set to 0. Done once per split.
void finalize_split(Split& split, const data_tools::NormalizationStats& stats, bool normalize);

}  // namespace sphaera::train
