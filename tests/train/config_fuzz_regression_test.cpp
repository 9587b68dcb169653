// What fuzz_config (tests/fuzz) found in the config loader, one test per finding, plus the scalar catalogue
// the YAML 1.2 core-schema reader was checked against. Each failed before its fix.
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "sphaera/train/config.h"
#include "tests/support/errors.h"
#include "tests/support/same_tree.h"
#include "tests/support/scratch.h"

using sphaera::train::Config;
using sphaera::testing::error_of;
using nlohmann::json;
using sphaera::testing::same_tree;

namespace {

// The scalars of a hand-written catalogue: what the YAML 1.2 core schema makes of each, and what only C's
// strtod would call a number.
TEST(ConfigFuzzRegressionTest, ScalarsFollowTheYaml12CoreSchemaAndRoundTrip) {
  const char* text = R"(a: ~
b: null
c: True
d: FALSE
e: -0
f: 0x1A
g: 1e400
h: .inf
i: -.inf
j: .nan
k: "007"
l: '1.5'
n: 12345678901234567890
o: -9223372036854775808
p: 4.9e-324
q: 0o17
r: 0x
s: 1_000
t: nan
u: infinity
v: 0x1p3
w: .5
x: 5.
y: +12
z: 1e5
)";
  const Config config = Config::parse(text, "catalogue.yaml");
  const json& t = config.tree();
  EXPECT_TRUE(t["a"].is_null());
  EXPECT_TRUE(t["b"].is_null());
  EXPECT_EQ(t["c"], true);
  EXPECT_EQ(t["d"], false);
  EXPECT_TRUE(t["e"].is_number_integer());
  EXPECT_EQ(t["e"].get<int64_t>(), 0);
  EXPECT_EQ(t["f"].get<int64_t>(), 26);
  EXPECT_EQ(t["g"], "1e400");  // beyond double: a string, not inf (the old reader wrote it back as "inf")
  EXPECT_EQ(t["h"].get<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(t["i"].get<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(t["j"].get<double>()));
  EXPECT_EQ(t["k"], "007");
  EXPECT_EQ(t["l"], "1.5");
  EXPECT_TRUE(t["n"].is_number_float());  // a decimal integer beyond int64 reads as a float
  EXPECT_EQ(t["n"].get<double>(), 12345678901234567890.0);
  EXPECT_EQ(t["o"].get<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(t["p"].get<double>(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(t["q"].get<int64_t>(), 15);
  for (const char* key : {"r", "s", "t", "u", "v"}) EXPECT_TRUE(t[key].is_string()) << key;
  EXPECT_EQ(t["w"].get<double>(), 0.5);
  EXPECT_EQ(t["x"].get<double>(), 5.0);
  EXPECT_EQ(t["y"].get<int64_t>(), 12);
  EXPECT_TRUE(t["z"].is_number_float());

  const Config back = Config::parse(config.to_yaml(), "resolved.yaml");
  EXPECT_TRUE(same_tree(config.tree(), back.tree())) << config.to_yaml();
}

// Finding: a file ending in a lone CR ("source: manifest\r") read the CR into the value, and to_yaml wrote a
// config that read back as "manifest". CR and CRLF are YAML line breaks.
TEST(ConfigFuzzRegressionTest, LoneCarriageReturnsAreLineBreaks) {
  const Config lone = Config::parse("data:\n  source: manifest\r", "cr.yaml");
  EXPECT_EQ(lone.tree()["data"]["source"], "manifest");
  const Config old_mac = Config::parse("data:\r  source: manifest\r  nside: 8\r", "cr.yaml");
  EXPECT_EQ(old_mac.tree()["data"]["nside"], 8);
  EXPECT_EQ(old_mac.where("data.nside"), "cr.yaml:3: data.nside");  // a CR counts as a line
  const Config windows = Config::parse("data:\r\n  source: manifest\r\n", "crlf.yaml");
  EXPECT_EQ(windows.tree()["data"]["source"], "manifest");
}

// Finding: bytes that are not UTF-8 (or are control characters) went into keys and values; to_yaml then
// wrote a file that did not read back, and json's dump threw a type_error no caller expected.
TEST(ConfigFuzzRegressionTest, TextThatIsNotUtf8IsOneErrorWithLineAndColumn) {
  EXPECT_EQ(error_of([] { Config::parse("data:\n  dir: caf\xe9\n", "latin1.yaml"); }),
            "latin1.yaml: byte 0xE9 at line 2, column 11 is not UTF-8 text");
  EXPECT_EQ(error_of([] { Config::parse(std::string("seed: 1\x00\n", 9), "nul.yaml"); }),
            "nul.yaml: byte 0x00 at line 1, column 8 is a control character (YAML allows only tab, LF and CR)");
  EXPECT_NE(error_of([] { Config::parse("a: \xed\xa0\x80\n", "surrogate.yaml"); }), "");  // U+D800
  EXPECT_NE(error_of([] { Config::parse("a: \xc0\xaf\n", "overlong.yaml"); }), "");       // overlong '/'
  EXPECT_NE(error_of([] { Config::parse("a: \xe2\x82\n", "cut.yaml"); }), "");            // cut short
  // Escapes of double-quoted scalars decode to what the file may not hold: the value is refused, by key.
  EXPECT_EQ(error_of([] { Config::parse("data:\n  dir: \"a\\0b\"\n", "escape.yaml"); }),
            "escape.yaml:2: data.dir: holds a control character (from an escape such as \\0 or \\N?); YAML "
            "allows only tab, LF and CR");
  EXPECT_NE(error_of([] { Config::parse("dir: \"x\\Ny\"\n", "nel.yaml"); }), "");  // NEL, U+0085
  EXPECT_NE(error_of([] { Config::parse("\"k\\0\": 1\n", "key.yaml"); }), "");
  EXPECT_EQ(Config::parse("dir: \"tab\\there\"\n", "tab.yaml").tree()["dir"], "tab\there");
  const Config ok = Config::parse("dir: café ☉ 𝄞\n", "utf8.yaml");
  EXPECT_EQ(ok.tree()["dir"], "café ☉ 𝄞");
}

class ConfigOverrideRegressionTest : public sphaera::testing::ScratchDirTest {};

// Finding: `--set` took any key, a NUL or a stray byte in it included ("d\0\0\0\xe8nside=32"); "a[x]=1" threw
// std::invalid_argument from std::stoul, which no caller catches.
TEST_F(ConfigOverrideRegressionTest, KeyPathsAreCheckedBeforeUse) {
  const std::string file = path("c.yaml");
  {
    std::ofstream out(file);
    out << "data:\n  nside: 16\nmodel:\n  layers:\n    - {type: cheb_conv, out: 4}\n";
  }
  const auto set = [&](const std::string& item) { return error_of([&] { Config::load(file, {item}); }); };
  const std::string grammar = " (a key path is names joined by '.', with [N] for list items: model.layers[0].K)";
  EXPECT_EQ(set(std::string("d\0nside=32", 10)),
            "--set: byte 0x00 at line 1, column 2 is a control character (YAML allows only tab, LF and CR)");
  EXPECT_EQ(set("d\xe8nside=32"), "--set: byte 0xE8 at line 1, column 2 is not UTF-8 text");
  EXPECT_EQ(set("model.layers[x].K=4"), "--set model.layers[x].K: '[x]' is not a list index" + grammar);
  EXPECT_EQ(set("model.layers[0.K=4"), "--set model.layers[0.K: '[' without ']'" + grammar);
  EXPECT_EQ(set("data..nside=4"), "--set data..nside: '.' cannot start a name" + grammar);
  EXPECT_EQ(set("[0]=4"), "--set [0]: the path must start with a name" + grammar);
  EXPECT_EQ(set("data.=4"), "--set data.: a name is missing at the end" + grammar);
  EXPECT_EQ(set("data nside=4"), "--set data nside: expected '.' or '[' after 'data'" + grammar);
  EXPECT_EQ(set("model.layers[99999999999].K=4"),
            "--set model.layers[99999999999].K: '[99999999999]' is not a list index" + grammar);
  // What is valid still works.
  const Config config = Config::load(file, {"model.layers[0].K=4", "data.nside=32", "solver.lr_min=1e-5"});
  EXPECT_EQ(config.tree()["model"]["layers"][0]["K"], 4);
  EXPECT_EQ(config.tree()["data"]["nside"], 32);
  EXPECT_EQ(config.tree()["solver"]["lr_min"].get<double>(), 1e-5);
}

}  // namespace
