// `sphaera train CONFIG` and `sphaera eval CHECKPOINT [MANIFEST]`.
#include <iostream>

#include <CLI/CLI.hpp>

#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/train/cli.h"
#include "sphaera/train/config.h"
#include "sphaera/train/trainer.h"

namespace sphaera::train {

void add_train_verb(CLI::App& app) {
  auto* verb = app.add_subcommand("train", "Train a model from a YAML config (results in the config's output.dir)");
  verb->footer(
      "The run directory gets config.yaml (resolved), metrics.jsonl, summary.json and checkpoints/.\n"
      "A directory that already holds a run is never overwritten silently: the new run goes to a numbered\n"
      "sibling (printed) unless --resume or --overwrite.\n"
      "Example: sphaera train configs/quickstart.yaml --set solver.epochs=2");
  auto request = std::make_shared<TrainRequest>();
  auto threads = std::make_shared<int>(0);
  verb->add_option("config", request->config_path, "YAML experiment config")->required();
  verb->add_option("--set", request->overrides, "Override a config value: key.path=value (repeatable)");
  verb->add_option("--out", request->out, "Run directory (instead of the config's output.dir)");
  verb->add_flag("--resume", request->resume, "Continue the run in the run directory from checkpoints/last.pt");
  verb->add_flag("--overwrite", request->overwrite, "Replace a run already in the run directory");
  verb->add_option("--threads", *threads, "Threads to use (default: the config's `threads`, 0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  verb->callback([request, threads, verb] {
    if (request->resume && request->overwrite) throw CLI::ValidationError("--resume and --overwrite exclude each other");
    if (verb->count("--threads") > 0) request->threads = *threads;
    run_training(*request);
  });
}

void add_eval_verb(CLI::App& app) {
  auto* verb = app.add_subcommand("eval", "Evaluate a checkpoint on its test split or on a manifest");
  verb->footer("Example: sphaera eval runs/quickstart/checkpoints/best.pt");
  auto request = std::make_shared<EvalRequest>();
  auto out = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  verb->add_option("checkpoint", request->checkpoint, "Checkpoint file (.pt) written by sphaera train")->required();
  verb->add_option("manifest", request->manifest, "CSV manifest (input,label); default: the checkpoint's test split");
  verb->add_option("--out", *out, "Write the metrics as JSON to this file");
  verb->add_option("--threads", *threads, "Threads to use (default: all cores)")->check(CLI::NonNegativeNumber);
  verb->callback([request, out, threads, verb] {
    if (verb->count("--threads") > 0) request->threads = *threads;
    const auto metrics = run_evaluation(*request);
    if (!out->empty()) data_tools::write_text_atomic(*out, metrics.dump(2) + "\n");
    std::cout << metrics.dump(2) << "\n";
  });
}

}  // namespace sphaera::train
