#include "sphaera/train/config.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "sphaera/core/check.h"
#include "sphaera/train/experiment.h"
#include "tests/support/errors.h"

using sphaera::core::InvalidArgument;
using sphaera::train::Config;
using sphaera::train::Section;
using sphaera::testing::error_of;

namespace {

const char* kValid = R"(seed: 3
data:
  source: synth-cosmo
  dir: data/test
  nside: 16
  order: 1
model:
  layers:
    - {type: cheb_conv, out: 4}
solver:
  epochs: 2
  optimizer: {type: sgd, lr: 0.01}
)";

TEST(ConfigTest, ReadsScalarsListsAndMappings) {
  auto config = Config::parse("a: 1\nb: 2.5\nc: text\nd: [1, 2]\ne: {f: true}\ng: '7'\n", "x.yaml");
  const auto& t = config.tree();
  EXPECT_EQ(t["a"], 1);
  EXPECT_DOUBLE_EQ(t["b"].get<double>(), 2.5);
  EXPECT_EQ(t["c"], "text");
  EXPECT_EQ(t["d"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(t["e"]["f"], true);
  EXPECT_EQ(t["g"], "7");  // quoted stays a string
}

TEST(ConfigTest, ErrorsNameFileLineAndKeyPath) {
  auto config = Config::parse(kValid, "exp.yaml");
  Section data(config, "data");
  const auto message = error_of([&] { data.text("nside", std::nullopt); });
  EXPECT_EQ(message, "exp.yaml:5: data.nside: expected a string, got an integer 16");
  EXPECT_EQ(config.where("model.layers[0].out"), "exp.yaml:9: model.layers[0].out");
  EXPECT_EQ(config.locate_message("model.layers[0].out: must be positive"),
            "exp.yaml:9: model.layers[0].out: must be positive");
}

TEST(ConfigTest, UnknownKeysAreListedWithTheKnownOnes) {
  auto config = Config::parse("solver:\n  epochs: 3\n  lerning_rate: 0.1\n", "exp.yaml");
  Section solver(config, "solver");
  solver.integer("epochs", 1);
  const auto message = error_of([&] { solver.finish(); });
  EXPECT_NE(message.find("exp.yaml:3: solver.lerning_rate: unknown key in solver (known: epochs)"),
            std::string::npos)
      << message;
}

TEST(ConfigTest, DefaultsAreWrittenIntoTheResolvedTree) {
  auto config = Config::parse("solver: {}\n", "exp.yaml");
  Section solver(config, "solver");
  EXPECT_EQ(solver.integer("epochs", 7), 7);
  EXPECT_EQ(config.tree()["solver"]["epochs"], 7);
}

TEST(ConfigTest, RangeAndChoiceChecks) {
  auto config = Config::parse("a: -3\nb: adamw\nc: .nan\n", "exp.yaml");
  Section top(config, "");
  EXPECT_EQ(error_of([&] { top.integer("a", std::nullopt, 1); }), "exp.yaml:1: a: expected an integer ≥ 1, got -3");
  EXPECT_EQ(error_of([&] { top.text("b", std::nullopt, {"adam", "sgd"}); }),
            "exp.yaml:2: b: 'adamw' is not one of: adam, sgd");
  EXPECT_NE(error_of([&] { top.number("c", std::nullopt); }), "");
}

TEST(ConfigTest, InvalidYamlAndDuplicateKeysAreErrorsWithLines) {
  EXPECT_EQ(error_of([] { Config::parse("a: 1\na: 2\n", "dup.yaml"); }), "dup.yaml:2: a: duplicate key");
  EXPECT_NE(error_of([] { Config::parse("a: [1, 2\n", "bad.yaml"); }).find("bad.yaml:"), std::string::npos);
  EXPECT_NE(error_of([] { Config::parse("- 1\n- 2\n", "list.yaml"); }).find("top level must be a mapping"),
            std::string::npos);
}

TEST(ConfigTest, OverridesReplaceValuesAndAreNamedInErrors) {
  const auto path = std::filesystem::temp_directory_path() / "sphaera_config_test.yaml";
  {
    std::ofstream out(path);
    out << kValid;
  }
  auto config = Config::load(path.string(), {"solver.epochs=5", "model.layers[0].out=8", "data.order=-1"});
  EXPECT_EQ(config.tree()["solver"]["epochs"], 5);
  EXPECT_EQ(config.tree()["model"]["layers"][0]["out"], 8);
  const auto message = error_of([&] { sphaera::train::parse_experiment(config); });
  EXPECT_EQ(message, "--set data.order: data.order: expected an integer in [0, 8192], got -1");
  EXPECT_NE(error_of([&] { Config::load(path.string(), {"noequals"}); }), "");
  EXPECT_NE(error_of([&] { Config::load(path.string(), {"model.layers[3].out=1"}); }), "");
  std::filesystem::remove(path);
  EXPECT_NE(error_of([&] { Config::load(path.string()); }).find("cannot read the config file"), std::string::npos);
}

TEST(ConfigTest, ResolvedYamlReadsBackToTheSameTree) {
  auto config = Config::parse(kValid, "exp.yaml");
  auto exp = sphaera::train::parse_experiment(config);
  const auto again = Config::parse(exp.config.to_yaml(), "resolved.yaml");
  EXPECT_EQ(again.tree(), exp.config.tree());
  EXPECT_EQ(exp.solver.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(exp.solver.lr, 0.01);
  EXPECT_EQ(exp.data.nside, 16);
  EXPECT_EQ(exp.seed, 3);
  EXPECT_EQ(exp.data.synth["seed"], 3);  // the synthetic data follow the experiment seed by default
}

TEST(ConfigTest, ExperimentRejectsBadValues) {
  auto with = [](const std::string& override_text) {
    auto config = Config::parse(kValid, "exp.yaml");
    const auto path = std::filesystem::temp_directory_path() / "sphaera_config_test2.yaml";
    std::ofstream(path) << kValid;
    auto loaded = Config::load(path.string(), {override_text});
    return error_of([&] { sphaera::train::parse_experiment(loaded); });
  };
  EXPECT_EQ(with("data.nside=24"), "--set data.nside: data.nside: must be a power of two, got 24");
  EXPECT_NE(with("data.order=32").find("power of two ≤ nside"), std::string::npos);
  EXPECT_NE(with("data.colour=1").find("unknown key in data"), std::string::npos);
  EXPECT_NE(with("solver.optimizer.type=adamw").find("'adamw' is not one of: adam, sgd"), std::string::npos);
  EXPECT_NE(with("data.source=ftp").find("data.source"), std::string::npos);
  EXPECT_NE(with("model=3").find("model"), std::string::npos);
}

}  // namespace
