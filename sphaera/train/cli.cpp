#include "sphaera/train/cli.h"

#include <iostream>

#include <c10/util/Exception.h>
#include <CLI/CLI.hpp>

#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"

namespace sphaera::train {

int apply_threads(int threads) {
  const int used = core::set_num_threads(threads);
  set_threads_in_use(used);
  return used;
}

int run_cli(int argc, char** argv) {
  core::keep_freed_memory();
  CLI::App app;
  describe_app(app);

  // The verbs, in the order --help lists them.
  add_train_verb(app);
  add_eval_verb(app);
  add_data_verb(app);
  add_graph_verb(app);
  add_plot_verb(app);
  add_bench_verb(app);
  add_sht_verbs(app);

  return run_app(app, argc, argv, [](const std::exception& e) -> std::string {
    // LibTorch's own checks: their message without the C++ backtrace.
    if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e)) return torch_error->what_without_backtrace();
    return e.what();
  });
}

}  // namespace sphaera::train

extern "C" int sphaera_run_cli(int argc, char** argv) { return sphaera::train::run_cli(argc, argv); }
