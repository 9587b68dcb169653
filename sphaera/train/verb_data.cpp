// `sphaera data synth-cosmo` (synthetic two-class skies) and `sphaera data stats` (normalisation statistics).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/normalization.h"
#include "sphaera/data_tools/synth.h"
#include "sphaera/train/cli.h"
#include "sphaera/train/progress.h"

namespace sphaera::train {

namespace {

void add_synth_cosmo(CLI::App& data) {
  auto* verb = data.add_subcommand("synth-cosmo",
                                   "Generate full-sky Gaussian vs lognormal HEALPix maps with the same power spectrum");
  verb->footer(
      "Writes DIR/{train,val,test}.csv manifests (input,label: 0 gaussian, 1 lognormal), the maps as NEST FITS\n"
      "files, and DIR/synth.json. Re-running with the same options is a no-op; a DIR holding anything else is\n"
      "an error. The same options (seed included) give byte-identical files.\n"
      "Example: sphaera data synth-cosmo --out data/cosmo --nside 64 --train 24 --val 6 --test 12 --seed 1");
  auto o = std::make_shared<data_tools::SynthCosmoOptions>();
  verb->add_option("--out", o->out_dir, "Output directory")->required();
  verb->add_option("--nside", o->nside, "HEALPix nside (a power of two)")->capture_default_str();
  verb->add_option("--lmax", o->lmax, "Band limit (default: 3*nside - 1)");
  verb->add_option("--train", o->train, "Training maps per class")->capture_default_str();
  verb->add_option("--val", o->val, "Validation maps per class")->capture_default_str();
  verb->add_option("--test", o->test, "Test maps per class")->capture_default_str();
  verb->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  verb->add_option("--noise", o->noise,
                   "White-noise standard deviation per pixel, as a fraction of the signal's standard deviation")
      ->capture_default_str();
  verb->add_option("--skewness", o->skewness, "Pixel skewness of the lognormal class (0, 10]")->capture_default_str();
  verb->add_option("--spectrum", o->spectrum,
                   "camb (healpy-data's CAMB TT spectrum, maps in uK), camb:FILE, or powerlaw:INDEX "
                   "(C_l ~ (l+1)^-INDEX, unit variance)")
      ->capture_default_str();
  int* threads = &add_threads_option(*verb);
  verb->callback([o, threads] {
    const int used = apply_threads(*threads);
    data_tools::check_synth_cosmo_options(*o);
    const int64_t total = 2 * (o->train + o->val + o->test);
    auto progress = std::make_shared<Progress>("synth-cosmo", total);
    data_tools::SynthCosmoOptions options = *o;
    options.progress = [progress](int64_t done, int64_t) { progress->update(done); };
    if (data_tools::ensure_synth_cosmo(options)) {
      progress->finish();
      std::cout << o->out_dir << ": generated " << total << " maps (train.csv, val.csv, test.csv, synth.json) with "
                << plural(used, "thread", "threads") << "\n";
    } else {
      std::cout << o->out_dir << ": already holds this data set; nothing to do\n";
    }
  });
}

void add_stats(CLI::App& data) {
  auto* verb = data.add_subcommand("stats", "Per-channel normalisation statistics of the maps of a manifest");
  verb->footer(
      "Mean, standard deviation (population), min, max and count of the valid pixels of every channel, NaN and\n"
      "UNSEEN pixels ignored. Printed as JSON, and written to --out when given (the trainer's format).\n"
      "Example: sphaera data stats data/quickstart/train.csv --out stats.json");
  struct Args {
    std::string manifest, out;
    int64_t nside = 0;
  };
  auto args = std::make_shared<Args>();
  verb->add_option("manifest", args->manifest, "CSV manifest (input,label)")->required();
  verb->add_option("--out", args->out, "JSON file to write");
  verb->add_option("--nside", args->nside, "Require every map to have this nside");
  int* threads = &add_threads_option(*verb);
  verb->callback([args, threads] {
    apply_threads(*threads);
    std::shared_ptr<Progress> progress;
    const auto stats = data_tools::manifest_normalization(
        args->manifest, args->nside > 0 ? std::optional<int64_t>(args->nside) : std::nullopt,
        [&progress](int64_t done, int64_t total) {
          if (!progress) progress = std::make_shared<Progress>("stats", total);
          progress->update(done);
        });
    if (progress) progress->finish();
    const std::string text = stats.to_json().dump(2) + "\n";
    if (!args->out.empty()) data_tools::write_text_atomic(args->out, text);
    std::cout << text;
  });
}

}  // namespace

void add_data_verb(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Data sets: synthesise (synth-cosmo), statistics (stats)");
  data->require_subcommand(1);
  add_synth_cosmo(*data);
  add_stats(*data);
}

}  // namespace sphaera::train
