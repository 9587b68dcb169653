// Manifests: CSV parsing, path resolution, errors that name file:line, atomic round trips.
#include "sphaera/data_tools/manifest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sphaera/core/check.h"

namespace fs = std::filesystem;
using sphaera::core::InvalidArgument;
using namespace sphaera::data_tools;

namespace {

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sphaera_manifest_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "sub");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::string in_dir(const std::string& relative) const { return (dir_ / relative).lexically_normal().string(); }
  static std::string error_of(const std::string& path) {
    try {
      read_manifest(path);
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(ManifestTest, ResolvesInputsAgainstTheManifestDirectory) {
  const auto path = write("sub/m.csv",
                          "\xEF\xBB\xBFinput,label\r\n"
                          "a.fits,0\r\n"
                          "\r\n"
                          "../maps/b.fits, 3 \r\n"
                          "/abs/c.fits,1\r\n"
                          "\"with,comma \"\"q\"\".fits\",2\r\n");
  const auto entries = read_manifest(path);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].input, in_dir("sub/a.fits"));
  EXPECT_EQ(entries[0].label, 0);
  EXPECT_EQ(entries[1].input, in_dir("maps/b.fits"));
  EXPECT_EQ(entries[1].label, 3);
  EXPECT_EQ(entries[2].input, "/abs/c.fits");
  EXPECT_EQ(entries[3].input, in_dir("sub/with,comma \"q\".fits"));
  EXPECT_EQ(entries[3].label, 2);
  for (const auto& e : entries) {
    EXPECT_TRUE(e.label_map.empty());
    EXPECT_TRUE(e.variable.empty() && e.time.empty());
  }
}

TEST_F(ManifestTest, LabelMapsOptionalColumnsAnyColumnOrder) {
  const auto path = write("m.csv",
                          "time,label,notes,input,variable\n"
                          "2020-01-01T00:00,masks/a.fits,first,era5.nc,t2m\n"
                          "2020-01-02T00:00,7,\"second, with comma\",era5.nc,msl\n");
  const auto entries = read_manifest(path);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].label, -1);
  EXPECT_EQ(entries[0].label_map, in_dir("masks/a.fits"));
  EXPECT_EQ(entries[0].input, in_dir("era5.nc"));
  EXPECT_EQ(entries[0].variable, "t2m");
  EXPECT_EQ(entries[0].time, "2020-01-01T00:00");
  EXPECT_EQ(entries[1].label, 7);
  EXPECT_TRUE(entries[1].label_map.empty());
  EXPECT_EQ(entries[1].variable, "msl");
  EXPECT_TRUE(is_label_map_path("x.FITS") && is_label_map_path("x.nc") && is_label_map_path("y.fits.gz"));
  EXPECT_FALSE(is_label_map_path("12") || is_label_map_path("fits"));
}

TEST_F(ManifestTest, ErrorsNameFileAndLine) {
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {"", "m.csv: empty manifest"},
      {"\n\n", "m.csv: empty manifest"},
      {"input,label\n", "m.csv: the manifest lists no samples"},
      {"input,class\na.fits,0\n", "m.csv:1: the header has no 'label' column"},
      {"path,label\na.fits,0\n", "m.csv:1: the header has no 'input' column"},
      {"input,label\na.fits,0\nb.fits,1.5\n", "m.csv:3: label '1.5' is not a class"},
      {"input,label\na.fits,-1\n", "m.csv:2: label '-1' is not a class"},
      {"input,label\na.fits,cat\n", "m.csv:2: label 'cat' is not a class"},
      {"input,label\na.fits,0,extra\n", "m.csv:2: 3 field(s), the header has 2"},
      {"input,label\n\n,1\n", "m.csv:3: empty 'input'"},
      {"input,label\na.fits,\n", "m.csv:2: empty 'label'"},
      {"input,label\n\"a.fits,0\n", "m.csv:2: unclosed quote"},
      {"input,label,input\na,0,b\n", "m.csv:1: column 'input' appears twice"},
  };
  for (const auto& c : cases) {
    const auto path = write("m.csv", c.text);
    const std::string message = error_of(path);
    EXPECT_NE(message.find(c.expected), std::string::npos) << "text:\n" << c.text << "\nmessage: " << message;
    EXPECT_EQ(message.rfind(path, 0), 0u) << message;  // starts with the full path
  }
  EXPECT_NE(error_of((dir_ / "absent.csv").string()).find("absent.csv: no such manifest file"), std::string::npos);
}

TEST_F(ManifestTest, WriteThenReadGivesTheSameEntries) {
  std::vector<ManifestEntry> entries(3);
  entries[0].input = in_dir("sub/maps/a.fits");
  entries[0].label = 0;
  entries[1].input = in_dir("sub/maps/with, comma.fits");
  entries[1].label = 12;
  entries[1].variable = "t2m";
  entries[2].input = in_dir("elsewhere/c.nc");
  entries[2].label_map = in_dir("sub/masks/c.fits");
  entries[2].time = "2020-01-01";
  const std::string path = (dir_ / "sub" / "out.csv").string();
  write_manifest(path, entries);
  const auto back = read_manifest(path);
  ASSERT_EQ(back.size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(back[i].input, entries[i].input);
    EXPECT_EQ(back[i].label, entries[i].label >= 0 ? entries[i].label : -1);
    EXPECT_EQ(back[i].label_map, entries[i].label_map);
    EXPECT_EQ(back[i].variable, entries[i].variable);
    EXPECT_EQ(back[i].time, entries[i].time);
  }
  // Paths are stored relative to the manifest, so the data set can move as a whole.
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(),
            "input,label,variable,time\n"
            "maps/a.fits,0,,\n"
            "\"maps/with, comma.fits\",12,t2m,\n"
            "../elsewhere/c.nc,masks/c.fits,,2020-01-01\n");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "sub")) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporary left behind
}

TEST_F(ManifestTest, WriteRejectsEntriesWithoutLabelOrInput) {
  std::vector<ManifestEntry> entries(1);
  entries[0].input = "a.fits";
  const std::string path = (dir_ / "bad.csv").string();
  EXPECT_THROW(write_manifest(path, entries), InvalidArgument);
  entries[0].input.clear();
  entries[0].label = 1;
  EXPECT_THROW(write_manifest(path, entries), InvalidArgument);
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
