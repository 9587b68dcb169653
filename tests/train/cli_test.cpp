// The `sphaera` command line as users meet it: help, exit codes, one-line errors.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace fs = std::filesystem;
using sphaera::testing::cli_path;
using sphaera::testing::run_command;

namespace {

int lines_in(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

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
  EXPECT_EQ(lines_in(r.err.substr(r.err.find("sphaera train: error"))), 1) << r.err;
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
