// Fuzz target: the YAML experiment config (sphaera/train/config.h) as the trainer reads it.
//
// The input is a config file. Lines starting with "#--set " (YAML comments, so the file still parses the
// same) are also passed as `--set key.path=value` overrides, through Config::load, as `sphaera train` does.
// A config that parses is then
//   - validated by parse_experiment (every Section read of the trainer, defaults filled in),
//   - read through the other Section accessors on the trainer's section and key names,
//   - written back with to_yaml (the resolved config.yaml of a run directory), which must parse back to the
//     same tree.
// Every error must be core::InvalidArgument; any other exception escaping, a crash, a sanitizer report or a
// round-trip mismatch is a finding.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/train/config.h"
#include "sphaera/train/experiment.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/support/same_tree.h"

using sphaera::core::InvalidArgument;
using sphaera::train::Config;
using sphaera::train::Section;
using nlohmann::json;
using sphaera::testing::same_tree;

namespace {

// The resolved config written into a run directory reads back as the same tree.
void check_round_trip(const Config& config) {
  const std::string yaml = config.to_yaml();
  std::optional<Config> back;
  try {
    back = Config::parse(yaml, "resolved.yaml");
  } catch (const InvalidArgument& e) {
    FUZZ_ASSERT(false, "to_yaml wrote a config that does not parse back: %s\n--- yaml:\n%s", e.what(), yaml.c_str());
  }
  FUZZ_ASSERT(same_tree(config.tree(), back->tree()), "to_yaml changed the tree:\n%s\n--- yaml:\n%s",
              config.tree().dump(-1, ' ', false, json::error_handler_t::replace).c_str(), yaml.c_str());
}

// Runs one accessor; errors are InvalidArgument, whose message the trainer passes through locate_message.
template <typename F>
void expect_invalid_argument_only(const Config& config, F&& read) {
  try {
    read();
  } catch (const InvalidArgument& e) {
    (void)config.locate_message(e.what());
  }
}

// Every accessor, chosen per key by `pick`, on keys the trainer uses (and a few it does not).
void read_sections(Config& config, unsigned pick) {
  static const char* const kSections[] = {"data", "data.synth", "solver", "solver.optimizer", "solver.schedule",
                                          "solver.early_stopping", "output", "model"};
  static const char* const kKeys[] = {"nside", "order",  "channels", "classes", "lr",      "type",   "dir",
                                      "seed",  "epochs", "layers",   "K",       "normalize", "noise", "missing"};
  Section top(config, "");
  expect_invalid_argument_only(config, [&] { top.integer("seed", 0, 0); });
  expect_invalid_argument_only(config, [&] { top.text("device", "cpu"); });
  for (const char* path : kSections) {
    std::optional<Section> section;
    expect_invalid_argument_only(config, [&] { section.emplace(config, path, (pick & 1) != 0); });
    if (!section) continue;
    unsigned k = pick;
    for (const char* key : kKeys) {
      k = k * 1103515245u + 12345u;
      Section& s = *section;
      switch ((k >> 16) % 10) {
        case 0: expect_invalid_argument_only(config, [&] { s.integer(key, std::nullopt, 1, 8192); }); break;
        case 1: expect_invalid_argument_only(config, [&] { s.integer(key, 3); }); break;
        case 2: expect_invalid_argument_only(config, [&] { s.number(key, std::nullopt, 0.0, 1.0); }); break;
        case 3: expect_invalid_argument_only(config, [&] { s.text(key, std::nullopt, {"a", "adam"}); }); break;
        case 4: expect_invalid_argument_only(config, [&] { s.boolean(key, std::nullopt); }); break;
        case 5: expect_invalid_argument_only(config, [&] { s.integers(key, std::nullopt); }); break;
        case 6: expect_invalid_argument_only(config, [&] { s.texts(key, std::vector<std::string>{"x"}); }); break;
        case 7: expect_invalid_argument_only(config, [&] { (void)s.raw(key).dump(); }); break;
        case 8: expect_invalid_argument_only(config, [&] { (void)s.has(key); }); break;
        default: (void)config.where(s.key_path(key)); break;
      }
    }
    expect_invalid_argument_only(config, [&] { section->finish(); });
  }
  expect_invalid_argument_only(config, [&] { top.raw("model"); top.finish(); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.compare(start, 7, "#--set ") == 0) overrides.push_back(text.substr(start + 7, end - start - 7));
    start = end + 1;
  }

  std::optional<Config> config;
  try {
    if (overrides.empty()) {
      config = Config::parse(text, "fuzz.yaml");
    } else {
      const std::string path = sphaera::fuzz::scratch_path("config.yaml");
      sphaera::fuzz::write_file(path, data, size);
      config = Config::load(path, overrides);
    }
  } catch (const InvalidArgument&) {
    return 0;
  }
  check_round_trip(*config);

  try {
    auto experiment = sphaera::train::parse_experiment(*config);
    check_round_trip(experiment.config);  // what the trainer writes as config.yaml
  } catch (const InvalidArgument& e) {
    (void)config->locate_message(e.what());
  }

  read_sections(*config, size == 0 ? 0u : data[size / 2]);
  return 0;
}
