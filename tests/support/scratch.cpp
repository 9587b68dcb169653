#include "tests/support/scratch.h"

#include <unistd.h>

#include <fstream>

namespace sphaera::testing {

void ScratchDirTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  dir_ = std::filesystem::temp_directory_path() /
         ("sphaera_" + std::string(info->test_suite_name()) + "_" + std::to_string(::getpid()) + "_" + info->name());
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

void ScratchDirTest::TearDown() { std::filesystem::remove_all(dir_); }

CommandResult ScratchDirTest::run_python(const std::string& script, const std::string& prelude) const {
  const std::string file = path("script.py");
  std::ofstream(file) << "import numpy as np, healpy as hp, os\nos.chdir(" << '"' << dir_.string() << '"' << ")\n"
                      << prelude << script;
  CommandResult r = run_command("/usr/bin/python3 " + file + " 2>&1");
  return r;
}

}  // namespace sphaera::testing
