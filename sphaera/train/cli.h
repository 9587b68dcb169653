#pragma once
/// The `sphaera` command line. Each verb lives in its own file (verb_<name>.cpp) and is added by one
/// function declared here; run_cli lists them all in one place.
#include <string>

#include "sphaera/train/cli_base.h"

namespace sphaera::train {

/// Parses argv and runs the verb. Returns the process exit code: 0 on success, 1 on bad input or a failed
/// run (one line "sphaera <verb>: error: ..." on stderr), 2 on a command-line usage error.
int run_cli(int argc, char** argv);

/// Applies the thread count (0 = all cores) to LibTorch and OpenMP; returns it (threads_in_use() reports it
/// too). Prints nothing.
int apply_threads(int threads);

// One function per verb (verb_<name>.cpp).
void add_data_verb(CLI::App& app);
void add_plot_verb(CLI::App& app);
void add_bench_verb(CLI::App& app);
/// map2alm, alm2map (verb_transforms.cpp), rotate (verb_sht.cpp).
void add_sht_verbs(CLI::App& app);
void add_train_verb(CLI::App& app);
void add_eval_verb(CLI::App& app);

}  // namespace sphaera::train

/// run_cli for the `sphaera` executable, which loads this library with dlopen and looks this name up.
extern "C" int sphaera_run_cli(int argc, char** argv);
