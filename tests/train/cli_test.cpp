// The `sphaera` command line as users meet it: help, exit codes, one-line errors.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sphaera/data_tools/alm_fits_arrays.h"
#include "tests/support/process.h"

namespace fs = std::filesystem;
using sphaera::testing::cli_path;
using sphaera::testing::lines_in;
using sphaera::testing::run_command;

namespace {

TEST(CliTest, HelpListsTheVerbs) {
  const auto r = run_command(cli_path() + " --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* verb : {"train", "eval", "data", "graph", "plot"}) {
    EXPECT_NE(r.out.find(verb), std::string::npos) << verb;
  }
  EXPECT_EQ(run_command(cli_path() + " train --help").exit_code, 0);
}

TEST(CliTest, UsageErrorsExitWithTwoAndOneLine) {
  auto r = run_command(cli_path() + " train");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
  r = run_command(cli_path() + " frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
  // The misspelt verb is named, with the known ones.
  EXPECT_EQ(r.err.rfind("sphaera: error: unknown verb 'frobnicate' (known: train, eval, data, graph, plot, bench,", 0),
            0u)
      << r.err;
  EXPECT_NE(r.err.find("map2alm"), std::string::npos) << r.err;
}

// The verbs as the command line itself lists them (its unknown-verb message), and their sub-verbs.
std::vector<std::string> every_verb() {
  const std::string err = run_command(cli_path() + " no-such-verb").err;
  const size_t from = err.find("(known: ") + 8;
  std::vector<std::string> verbs;
  std::stringstream list(err.substr(from, err.find(';', from) - from));
  for (std::string verb; std::getline(list, verb, ',');) {
    verbs.push_back(verb.substr(verb.find_first_not_of(' ')));
  }
  for (const char* sub : {"data synth-cosmo", "data stats"}) verbs.push_back(sub);
  return verbs;
}

TEST(CliTest, EveryVerbHasHelp) {
  const auto verbs = every_verb();
  ASSERT_GE(verbs.size(), 11u);
  for (const auto& verb : verbs) {
    const auto r = run_command(cli_path() + " " + verb + " --help");
    EXPECT_EQ(r.exit_code, 0) << verb << ": " << r.err;
    EXPECT_EQ(r.err, "") << verb;
    EXPECT_NE(r.out.find("Usage: sphaera " + verb), std::string::npos) << verb << ":\n" << r.out;
    EXPECT_NE(r.out.find("-h,--help"), std::string::npos) << verb;
    // A description line above the usage: what the verb does.
    EXPECT_GT(r.out.find("Usage:"), 10u) << verb << ":\n" << r.out;
  }
}

// A verb given a missing input says so in one line and exits 1, whatever it is.
TEST(CliTest, EveryFileVerbReportsAMissingInputInOneLine) {
  const std::vector<std::string> commands = {
      "train /nonexistent.yaml",         "eval /nonexistent.pt",
      "plot /nonexistent.fits --out x.png", "map2alm /nonexistent.fits --out x.fits",
      "alm2map /nonexistent.fits --nside 4 --out x.fits", "rotate /nonexistent.fits --euler 0 0 0 --out x.fits",
      "data stats /nonexistent.csv"};
  for (const auto& command : commands) {
    const auto r = run_command(cli_path() + " " + command + " --threads 1");
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.err;
    EXPECT_EQ(lines_in(r.err), 1) << command << ":\n" << r.err;
    EXPECT_NE(r.err.find("/nonexistent."), std::string::npos) << command << ": " << r.err;
  }
}

TEST(CliTest, PlotOfAnAlmFileSaysItHoldsAlm) {
  const auto path = fs::temp_directory_path() / "sphaera_cli_plot_alm.fits";
  std::vector<std::complex<double>> alm(3 * 3);  // lmax 2, [l][m], zero above m = l
  for (int l = 0; l <= 2; ++l)
    for (int m = 0; m <= l; ++m) alm[l * 3 + m] = {1.0, m == 0 ? 0.0 : 0.5};
  sphaera::data_tools::write_alm_array(path.string(), alm.data(), 1, 2, sphaera::data_tools::AlmPrecision::kFloat64);
  const auto r = run_command(cli_path() + " plot " + path.string() + " --out /tmp/sphaera_cli_plot_alm.png");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("sphaera plot: error: " + path.string() +
                            ": holds spherical harmonic coefficients (alm), not a HEALPix map; plot draws maps",
                        0),
            0u)
      << r.err;
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists("/tmp/sphaera_cli_plot_alm.png"));
  fs::remove(path);
}

TEST(CliTest, MissingConfigIsOneClearError) {
  const auto r = run_command(cli_path() + " train /nonexistent/exp.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sphaera train: error: /nonexistent/exp.yaml: cannot read the config file (missing or unreadable)\n");
}

TEST(CliTest, ConfigErrorsNameFileLineAndKey) {
  const auto path = fs::temp_directory_path() / "sphaera_cli_test.yaml";
  std::ofstream(path) << "data:\n  source: synth-cosmo\n  dir: d\n  nside: 8\n  nsdie: 4\nmodel: {layers: []}\n";
  const auto r = run_command(cli_path() + " train " + path.string() + " --threads 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sphaera train: error: " + path.string() + ":5: data.nsdie: unknown key in data"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(lines_in(r.err), 1) << r.err;  // nothing before the error (no "threads" line)
  fs::remove(path);
}

TEST(CliTest, EvalOfAMissingOrForeignCheckpointFails) {
  auto r = run_command(cli_path() + " eval /nonexistent.pt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such checkpoint file"), std::string::npos) << r.err;
  const auto path = fs::temp_directory_path() / "sphaera_not_a_checkpoint.pt";
  std::ofstream(path) << "garbage";
  r = run_command(cli_path() + " eval " + path.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a Sphaera checkpoint"), std::string::npos) << r.err;
  fs::remove(path);
}

}  // namespace
