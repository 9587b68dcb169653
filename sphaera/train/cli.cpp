#include "sphaera/train/cli.h"

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"

namespace sphaera::train {

namespace {
// Storage for each verb's --threads value (verbs are added once per process).
std::vector<std::unique_ptr<int>>& thread_slots() {
  static std::vector<std::unique_ptr<int>> slots;
  return slots;
}
}  // namespace

int& add_threads_option(CLI::App& verb) {
  thread_slots().push_back(std::make_unique<int>(0));
  int& slot = *thread_slots().back();
  verb.add_option("--threads", slot, "Threads to use (default: all cores)")->check(CLI::NonNegativeNumber);
  return slot;
}

int apply_threads(int threads) {
  const int used = core::set_num_threads(threads);
  std::cerr << "threads: " << used << "\n";
  return used;
}

int run_cli(int argc, char** argv) {
  CLI::App app{
      "Sphaera: deep learning on spherical maps (DeepSphere graph CNNs and spectral CNNs on HEALPix and other samplings).\n"
      "Run `sphaera <verb> --help` for the options of each verb.",
      "sphaera"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sphaera 0.1.0");

  // The verbs, in the order --help lists them.
  add_train_verb(app);
  add_eval_verb(app);
  add_data_verb(app);
  add_graph_verb(app);
  add_plot_verb(app);
  add_sht_verbs(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors: one line, and where to find help.
    std::string verb = app.get_subcommands().empty() ? "" : " " + app.get_subcommands().front()->get_name();
    std::cerr << "sphaera" << verb << ": error: " << e.what() << " (see sphaera" << verb << " --help)\n";
    return 2;
  } catch (const c10::Error& e) {
    // LibTorch's own checks: their message without the C++ backtrace.
    std::string verb = app.get_subcommands().empty() ? "" : " " + app.get_subcommands().front()->get_name();
    std::cerr << "sphaera" << verb << ": error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    // Errors raised by a verb's callback (bad config, file, value...): one line, non-zero exit.
    std::string verb = app.get_subcommands().empty() ? "" : " " + app.get_subcommands().front()->get_name();
    std::cerr << "sphaera" << verb << ": error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace sphaera::train
