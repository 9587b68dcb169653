#pragma once
/// The torch-free part of the `sphaera` command line: what every verb shares (the --threads option, the
/// handling of errors and exit codes, one timed summary line per step) and the verbs that need no LibTorch
/// (map2alm, alm2map: verb_transforms.cpp; graph: verb_graph.cpp). The `sphaera` executable runs those verbs
/// itself and loads the full command line (cli.h, in libsphaera_train) for every other.
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace sphaera::train {

/// The `sphaera` application: its description, --version and the rule of one verb per call.
void describe_app(CLI::App& app);

/// Parses argv and runs the verb. Returns the process exit code: 0 on success, 1 on bad input or a failed
/// run (one line "sphaera <verb>: error: <describe(e)>" on stderr), 2 on a command-line usage error.
int run_app(CLI::App& app, int argc, char** argv, const std::function<std::string(const std::exception&)>& describe);

/// Adds `--threads N` to a verb and returns the variable it fills (0 = all cores).
int& add_threads_option(CLI::App& verb);
/// OpenMP threads only (0 = all cores), for verbs that do not use LibTorch. Returns the count, which
/// threads_in_use() then reports. Prints nothing: a verb whose input is bad says only what is wrong.
int apply_omp_threads(int threads);
/// The thread count the verb applied (apply_omp_threads or apply_threads), 0 before either.
int threads_in_use();
/// Records the count applied by apply_threads (cli.cpp, which sets LibTorch's threads too).
void set_threads_in_use(int threads);

/// Seconds since construction.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// One summary line on stderr: "<step>: <what> (<seconds> s, <threads> threads)" (no thread count before
/// the verb applied one).
void report_step(const std::string& step, const std::string& what, double seconds);
/// "1 map", "3 maps".
std::string plural(int64_t n, const std::string& one, const std::string& many);

/// The group --help lists the transform verbs under.
inline const char* kTransformVerbGroup = "Spherical harmonic transforms (healpy-compatible FITS files)";
/// map2alm and alm2map (verb_transforms.cpp).
void add_transform_verbs(CLI::App& app);
/// graph (verb_graph.cpp).
void add_graph_verb(CLI::App& app);
/// Whether `verb` needs no LibTorch (map2alm, alm2map, graph): the executable runs those itself.
bool is_base_verb(const std::string& verb);
/// The command line of the torch-free verbs alone, as run_cli would run them.
int run_base_cli(int argc, char** argv);

}  // namespace sphaera::train
