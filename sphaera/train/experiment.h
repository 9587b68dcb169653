#pragma once
/// The typed experiment: what a config file means once validated. Sections (ARCHITECTURE.md):
/// `data`, `model`, `solver`, `output`, plus `seed`, `device`, `threads`. See configs/quickstart.yaml for a
/// documented example of every key.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sphaera/train/config.h"

namespace sphaera::train {

struct DataConfig {
  /// "synth-cosmo": generated (seeded) into `dir` on first use, then reused; "manifest": CSV files.
  std::string source;
  std::string dir;                           ///< synth-cosmo: where the data set lives
  std::string train, val, test;              ///< manifest CSV paths (synth-cosmo: inside dir)
  nlohmann::json synth;                      ///< synth-cosmo generator options (validated)
  int64_t nside = 0;                         ///< every map must have this nside
  int64_t channels = 1;                      ///< channels per map (FITS columns)
  int64_t order = 0;                         ///< partial sky: 12·order² NEST patches per map; 0 = full sky
  std::vector<std::string> classes;          ///< class names, index = label
  bool mask_invalid = false;                 ///< NaN/UNSEEN pixels: error (false) or masked to 0 (true)
  bool normalize = true;                     ///< subtract the training mean, divide by its std
  double augment_noise = 0;                  ///< std of Gaussian noise added to training inputs (normalised units)
  int64_t batch_size = 16;
};

struct SolverConfig {
  std::string optimizer = "adam";            ///< adam | sgd
  double lr = 1e-3;
  double weight_decay = 0;
  double momentum = 0.9;                     ///< sgd only
  std::string schedule = "constant";         ///< constant | step | cosine | plateau
  int64_t warmup_epochs = 0;                 ///< epoch e < warmup_epochs runs at lr·(e+1)/(warmup_epochs+1)
  int64_t step_size = 10;                    ///< step: epochs between decays
  double gamma = 0.1;                        ///< step / plateau decay factor
  int64_t plateau_patience = 3;              ///< plateau: epochs without improvement before a decay
  double min_lr = 0;                         ///< cosine / plateau floor
  int64_t epochs = 10;
  int64_t checkpoint_every = 0;              ///< also keep checkpoints/epoch_N.pt every N epochs (0: never)
  int64_t early_stopping_patience = 0;       ///< stop after N epochs without improvement (0: never)
  std::string monitor = "val.accuracy";      ///< val.accuracy (higher is better) | val.loss (lower)
  std::string amp = "none";                  ///< none | bf16 | fp16: mixed precision (train/amp.h)
  /// A NaN or Inf loss or gradient: stop (naming epoch, step and the first layer where it appeared; the last
  /// checkpoint stays the last good one) or skip the step and go on (counted; fp16 steps the loss scaler
  /// skips are its own and not counted).
  std::string on_non_finite = "stop";        ///< stop | skip
};

struct ExperimentConfig {
  Config config;                             ///< the resolved tree (defaults filled in) and its sources
  int64_t seed = 0;
  std::string device = "cpu";
  int64_t threads = 0;                       ///< 0: all cores
  DataConfig data;
  nlohmann::json model;                      ///< validated by models::build_network
  SolverConfig solver;
  std::string output_dir;
};

/// Validates every section except `model` (checked when the network is built) and fills in defaults.
ExperimentConfig parse_experiment(Config config);

}  // namespace sphaera::train
