#pragma once
/// A test fixture with an empty scratch directory of its own (removed after the test) and a runner for Python
/// scripts with the system interpreter (/usr/bin/python3 has healpy, numpy and astropy; the pyenv python3 on
/// PATH does not), used to compare with healpy.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/process.h"

namespace sphaera::testing {

class ScratchDirTest : public ::testing::Test {
 protected:
  /// Creates <tmp>/sphaera_<suite>_<pid>_<test>, empty.
  void SetUp() override;
  void TearDown() override;
  /// A file in the scratch directory.
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  /// Runs `import numpy as np, healpy as hp, os`, a chdir to the scratch directory, `prelude`, then `script`;
  /// returns the exit code and the combined output (in `out`).
  CommandResult run_python(const std::string& script, const std::string& prelude = "") const;

  std::filesystem::path dir_;
};

}  // namespace sphaera::testing
