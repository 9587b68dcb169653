#include "sphaera/train/dataset.h"

#include <cmath>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/manifest.h"
#include "sphaera/train/progress.h"

namespace sphaera::train {

Split load_split(const std::string& manifest, const DataConfig& data, int64_t channels, const std::string& what) {
  const auto entries = data_tools::read_manifest(manifest);
  const int64_t npix = 12 * data.nside * data.nside;
  const int64_t patches = data.order > 0 ? 12 * data.order * data.order : 1;
  const int64_t patch_pixels = npix / patches;
  const int64_t n = static_cast<int64_t>(entries.size());
  Split split;
  split.inputs = torch::empty({n * patches, channels, patch_pixels}, torch::kFloat);
  split.valid = torch::ones({n * patches, channels, patch_pixels}, torch::kBool);
  split.labels = torch::empty({n * patches}, torch::kLong);
  const int64_t classes = static_cast<int64_t>(data.classes.size());
  Progress progress(what + ": reading maps", n);
  for (int64_t i = 0; i < n; ++i) {
    const auto& entry = entries[i];
    const std::string row = manifest + ":" + std::to_string(entry.line);
    SPHAERA_CHECK(entry.label_map.empty(), row, ": the label is a map (", entry.label_map,
                  "): the classification trainer takes one integer class per map");
    SPHAERA_CHECK(entry.label >= 0 && entry.label < classes, row, ": ", entry.input, ": label ", entry.label,
                  " is outside [0, ", classes, ") (data.classes has ", classes, " names)");
    at::Tensor map;
    try {
      map = data_tools::read_healpix_map(entry.input, data.nside);
    } catch (const core::InvalidArgument& e) {
      throw core::InvalidArgument(row + ": " + e.what());
    }
    if (map.dim() == 1) map = map.unsqueeze(0);
    SPHAERA_CHECK(map.size(0) == channels, row, ": ", entry.input, ": has ", map.size(0), " channel(s), expected ", channels,
                  " (data.channels)");
    const auto invalid = data_tools::invalid_pixel_mask(map);
    const int64_t bad = invalid.sum().item<int64_t>();
    SPHAERA_CHECK(bad == 0 || data.mask_invalid, row, ": ", entry.input, ": ", bad,
                  " pixel(s) are NaN or UNSEEN; set data.mask_invalid: true to mask them");
    // NEST patches of order o are consecutive runs of patch_pixels pixels.
    auto patched = map.view({channels, patches, patch_pixels}).permute({1, 0, 2});
    split.inputs.slice(0, i * patches, (i + 1) * patches).copy_(patched);
    split.valid.slice(0, i * patches, (i + 1) * patches).copy_(invalid.logical_not().view({channels, patches, patch_pixels}).permute({1, 0, 2}));
    split.labels.slice(0, i * patches, (i + 1) * patches).fill_(entry.label);
    for (int64_t p = 0; p < patches; ++p) split.sources.push_back(entry.input);
    progress.update(i + 1);
  }
  progress.finish();
  return split;
}

data_tools::NormalizationStats split_statistics(const Split& split) {
  data_tools::NormalizationAccumulator acc;
  acc.add(split.inputs, split.valid);
  return acc.stats();
}

void finalize_split(Split& split, const data_tools::NormalizationStats& stats, bool normalize) {
  SPHAERA_CHECK(stats.channels() == split.inputs.size(1), "normalisation statistics have ", stats.channels(),
                " channel(s), the data ", split.inputs.size(1));
  if (normalize) split.inputs = data_tools::normalize(split.inputs, stats);
  split.inputs.masked_fill_(split.valid.logical_not(), 0.0f);
}

}  // namespace sphaera::train
