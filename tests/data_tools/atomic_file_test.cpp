// AtomicFile's leftovers: what a killed process leaves (a temporary never committed) is found by name and
// removed, and nothing else in the directory is touched.
#include "sphaera/data_tools/atomic_file.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/scratch.h"

namespace fs = std::filesystem;
namespace dt = sphaera::data_tools;

namespace {

class AtomicFileTest : public sphaera::testing::ScratchDirTest {};

TEST_F(AtomicFileTest, StaleTemporariesAreRemovedAndNothingElse) {
  const std::string target = path("last.pt");
  const std::string stale = dt::unique_sibling(target, ".tmp");  // what a killed AtomicFile leaves
  for (const std::string& name : {stale, target, path(".hidden"), path("notes.tmp-1-2"), path(".a.partial-1-2")}) {
    std::ofstream(name) << "x";
  }
  fs::create_directories(path("sub"));
  const std::string nested = dt::unique_sibling(path("sub/m.fits"), ".tmp");
  std::ofstream(nested) << "x";

  EXPECT_EQ(dt::remove_stale_temporaries(dir_.string()), 1);
  EXPECT_FALSE(fs::exists(stale));
  for (const char* kept : {"last.pt", ".hidden", "notes.tmp-1-2", ".a.partial-1-2"}) EXPECT_TRUE(fs::exists(path(kept))) << kept;
  EXPECT_TRUE(fs::exists(nested));  // subdirectories are the caller's to name
  EXPECT_EQ(dt::remove_stale_temporaries(path("missing")), 0);
}

}  // namespace
