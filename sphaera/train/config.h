#pragma once
/// Experiment configuration: YAML in, a validated JSON tree out, every key traced to its file and line.
///
///   auto config = Config::load("configs/quickstart.yaml", {"solver.epochs=3"});
///   Section data(config, "data");
///   int64_t nside = data.integer("nside", 64, 1);       // default written into the resolved tree
///   data.finish();                                       // unknown keys -> error naming them
///
/// Errors are core::InvalidArgument: "configs/quickstart.yaml:12: data.nside: expected ..., got ...".
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sphaera::train {

class Config {
 public:
  /// Reads a YAML file, then applies `overrides` ("key.path=value", value parsed as YAML; list items as
  /// key.list[2].x). Only mappings, sequences and scalars are accepted; duplicate keys are errors.
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  /// Parses YAML text (source names it in messages).
  static Config parse(const std::string& yaml_text, const std::string& source);
  /// Wraps a tree read back from a checkpoint (no line information).
  static Config from_json(nlohmann::json tree, std::string source);

  /// The whole tree; defaults filled in by `Section` reads show up here (the resolved config).
  const nlohmann::json& tree() const { return tree_; }
  nlohmann::json& mutable_tree() { return tree_; }
  const std::string& source() const { return source_; }

  /// "file:line: key.path" (or "file: key.path" when the key has no line, e.g. a default or override).
  std::string where(const std::string& key_path) const;
  /// Prefixes a message from a deeper layer that starts with a key path ("model.layers[2].K: ...") with the
  /// file and line of the longest known path it starts with.
  std::string locate_message(const std::string& message) const;

  /// The tree as YAML text (the resolved config written into run directories).
  std::string to_yaml() const;

 private:
  nlohmann::json tree_;
  std::string source_;
  std::map<std::string, int> lines_;  // key path -> 1-based line
  std::map<std::string, std::string> origins_;  // key path -> "--set" for overrides
};

/// Typed, strict reading of one mapping of a Config. Every accessor records the key as known; `finish()`
/// throws if the mapping holds keys nobody asked for (typos), listing the known ones.
class Section {
 public:
  /// `path` is a dotted key path ("solver.optimizer"); "" is the top level. A missing section is created
  /// empty (so defaults apply) unless `required`.
  Section(Config& config, std::string path, bool required = false);

  bool has(const std::string& key) const;
  int64_t integer(const std::string& key, std::optional<int64_t> fallback, int64_t min = INT64_MIN,
                  int64_t max = INT64_MAX);
  double number(const std::string& key, std::optional<double> fallback, double min = -1e300, double max = 1e300);
  std::string text(const std::string& key, std::optional<std::string> fallback,
                   const std::vector<std::string>& choices = {});
  bool boolean(const std::string& key, std::optional<bool> fallback);
  std::vector<int64_t> integers(const std::string& key, std::optional<std::vector<int64_t>> fallback);
  std::vector<std::string> texts(const std::string& key, std::optional<std::vector<std::string>> fallback);
  /// A nested mapping (created empty if absent).
  Section section(const std::string& key);
  /// The raw subtree, marked known (for sections validated elsewhere, such as `model`).
  const nlohmann::json& raw(const std::string& key);
  /// Throws on keys that no accessor asked for.
  void finish() const;

  const std::string& path() const { return path_; }
  std::string key_path(const std::string& key) const;
  /// Throws core::InvalidArgument "file:line: key.path: message".
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  nlohmann::json& node();
  const nlohmann::json* find(const std::string& key) const;
  Config* config_;
  std::string path_;
  std::vector<std::string> known_;
};

}  // namespace sphaera::train
