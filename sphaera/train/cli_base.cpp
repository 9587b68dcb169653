#include "sphaera/train/cli_base.h"

#include <omp.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

namespace sphaera::train {

namespace {
// Storage for each verb's --threads value (verbs are added once per process).
std::vector<std::unique_ptr<int>>& thread_slots() {
  static std::vector<std::unique_ptr<int>> slots;
  return slots;
}
}  // namespace

void describe_app(CLI::App& app) {
  app.description(
      "Sphaera: deep learning on spherical maps (DeepSphere graph CNNs and spectral CNNs on HEALPix and other "
      "samplings).\n"
      "Run `sphaera <verb> --help` for the options of each verb.");
  app.name("sphaera");
  app.require_subcommand(1);
  app.set_version_flag("--version", "sphaera 0.1.0");
}

int run_app(CLI::App& app, int argc, char** argv, const std::function<std::string(const std::exception&)>& describe) {
  auto verb = [&app] {
    return app.get_subcommands().empty() ? std::string() : " " + app.get_subcommands().front()->get_name();
  };
  // A misspelt verb: say which, and list the known ones (CLI11 alone says "A subcommand is required").
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found |= sub->get_name() == argv[1];
    }
    if (!found) {
      std::cerr << "sphaera: error: unknown verb '" << argv[1] << "' (known: " << known << "; see sphaera --help)\n";
      return 2;
    }
  }
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
    std::cerr << "sphaera" << verb() << ": error: " << e.what() << " (see sphaera" << verb() << " --help)\n";
    return 2;
  } catch (const std::exception& e) {
    // Errors raised by a verb's callback (bad config, file, value...): one line, non-zero exit.
    std::cerr << "sphaera" << verb() << ": error: " << describe(e) << "\n";
    return 1;
  }
  return 0;
}

int& add_threads_option(CLI::App& verb) {
  thread_slots().push_back(std::make_unique<int>(0));
  int& slot = *thread_slots().back();
  verb.add_option("--threads", slot, "Threads to use (default: all cores)")->check(CLI::NonNegativeNumber);
  return slot;
}

int apply_omp_threads(int threads) {
  const unsigned cores = std::thread::hardware_concurrency();
  const int n = threads > 0 ? threads : (cores == 0 ? 1 : static_cast<int>(cores));
  omp_set_num_threads(n);
  set_threads_in_use(n);
  return n;
}

namespace {
int g_threads_in_use = 0;
}  // namespace

int threads_in_use() { return g_threads_in_use; }
void set_threads_in_use(int threads) { g_threads_in_use = threads; }

void report_step(const std::string& step, const std::string& what, double seconds) {
  const int threads = threads_in_use();
  if (threads > 0) {
    std::fprintf(stderr, "%s: %s (%.3f s, %s)\n", step.c_str(), what.c_str(), seconds,
                 plural(threads, "thread", "threads").c_str());
  } else {
    std::fprintf(stderr, "%s: %s (%.3f s)\n", step.c_str(), what.c_str(), seconds);
  }
  std::fflush(stderr);
}

std::string plural(int64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

bool is_base_verb(const std::string& verb) { return verb == "map2alm" || verb == "alm2map" || verb == "graph"; }

int run_base_cli(int argc, char** argv) {
  CLI::App app;
  describe_app(app);
  add_graph_verb(app);
  add_transform_verbs(app);
  return run_app(app, argc, argv, [](const std::exception& e) { return std::string(e.what()); });
}

}  // namespace sphaera::train
