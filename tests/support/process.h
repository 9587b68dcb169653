#pragma once
/// Runs a shell command (the built `sphaera` CLI in tests) and captures its exit code and output.
#include <string>

namespace sphaera::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  ///< standard output
  std::string err;  ///< standard error
};

CommandResult run_command(const std::string& command);

/// Number of lines (newline characters) of a command's output: "one clear error" is one line.
inline int lines_in(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

/// Path of the built `sphaera` executable.
std::string cli_path();

}  // namespace sphaera::testing
