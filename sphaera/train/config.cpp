#include "sphaera/train/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "sphaera/core/check.h"

namespace sphaera::train {

using nlohmann::json;

namespace {

[[noreturn]] void throw_at(const std::string& where, const std::string& message) {
  throw core::InvalidArgument(where + ": " + message);
}

// Scalars: YAML 1.2 core schema as users expect (true/false, integers, floats, null), else strings.
json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used, 10);
    if (used == s.size()) return static_cast<int64_t>(v);
  } catch (const std::exception&) {
  }
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size() && s.find_first_of("0123456789") != std::string::npos) return v;
  } catch (const std::exception&) {
  }
  if (s == ".inf" || s == ".Inf") return std::numeric_limits<double>::infinity();
  return s;
}

json to_json(const YAML::Node& node, const std::string& path, const std::string& source,
             std::map<std::string, int>& lines) {
  lines[path] = node.Mark().line + 1;
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      size_t i = 0;
      for (const auto& item : node) {
        out.push_back(to_json(item, path + "[" + std::to_string(i++) + "]", source, lines));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          throw_at(source + ":" + std::to_string(kv.first.Mark().line + 1), "keys must be plain names");
        }
        const std::string key = kv.first.Scalar();
        const std::string child = path.empty() ? key : path + "." + key;
        if (out.contains(key)) {
          throw_at(source + ":" + std::to_string(kv.first.Mark().line + 1) + ": " + child, "duplicate key");
        }
        out[key] = to_json(kv.second, child, source, lines);
        lines[child] = kv.first.Mark().line + 1;
      }
      return out;
    }
    default:
      throw_at(source + ":" + std::to_string(node.Mark().line + 1), "unsupported YAML node");
  }
}

// Splits "a.b[2].c" into {"a", "b", "[2]", "c"}.
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '.') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else if (c == '[') {
      if (!cur.empty()) parts.push_back(cur);
      cur = "[";
    } else if (c == ']') {
      cur += ']';
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

void yaml_emit(YAML::Emitter& out, const json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      yaml_emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    const bool flat = std::all_of(j.begin(), j.end(), [](const json& v) { return v.is_primitive(); });
    out << (flat ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
    for (const auto& v : j) yaml_emit(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    const std::string s = j.get<std::string>();
    // Quote strings that would read back as another type.
    const json back = scalar_to_json(YAML::Node(s));
    if (!back.is_string()) {
      out << YAML::DoubleQuoted << s;
    } else {
      out << s;
    }
  } else if (j.is_boolean()) {
    out << (j.get<bool>() ? "true" : "false");
  } else if (j.is_number_integer()) {
    out << j.get<int64_t>();
  } else if (j.is_number_float()) {
    std::ostringstream s;
    s.precision(17);
    s << j.get<double>();
    std::string text = s.str();
    if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
    out << text;
  } else {
    out << YAML::Null;
  }
}

std::string type_name(const json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer()) return "an integer";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "a list";
  return "a mapping";
}

std::string shown(const json& j) {
  std::string s = j.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

Config Config::parse(const std::string& yaml_text, const std::string& source) {
  Config config;
  config.source_ = source;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw_at(source + ":" + std::to_string(e.mark.line + 1), "invalid YAML: " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw_at(source, "the top level must be a mapping of sections (data, model, solver, ...)");
  config.tree_ = to_json(root, "", source, config.lines_);
  return config;
}

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  SPHAERA_CHECK(in.good(), path, ": cannot read the config file (missing or unreadable)");
  std::stringstream text;
  text << in.rdbuf();
  Config config = parse(text.str(), path);
  for (const auto& item : overrides) {
    const auto eq = item.find('=');
    SPHAERA_CHECK(eq != std::string::npos && eq > 0, "--set ", item, ": expected key.path=value");
    const std::string key = item.substr(0, eq);
    json value;
    try {
      YAML::Node node = YAML::Load(item.substr(eq + 1));
      std::map<std::string, int> ignored;
      value = node.IsNull() && item.substr(eq + 1).empty() ? json("") : to_json(node, key, "--set", ignored);
    } catch (const YAML::Exception& e) {
      throw core::InvalidArgument("--set " + item + ": invalid value: " + e.msg);
    }
    json* node = &config.tree_;
    const auto parts = split_path(key);
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& part = parts[i];
      const bool last = i + 1 == parts.size();
      if (part.front() == '[') {
        const size_t index = std::stoul(part.substr(1, part.size() - 2));
        SPHAERA_CHECK(node->is_array() && index < node->size(), "--set ", key, ": ", part,
                      " is not an item of an existing list");
        node = &(*node)[index];
      } else {
        if (node->is_null()) *node = json::object();
        SPHAERA_CHECK(node->is_object(), "--set ", key, ": cannot set '", part, "' inside ", type_name(*node));
        node = &(*node)[part];
      }
      if (last) *node = value;
    }
    config.origins_[key] = "--set " + key;
    config.lines_.erase(key);
  }
  return config;
}

Config Config::from_json(json tree, std::string source) {
  Config config;
  config.tree_ = std::move(tree);
  config.source_ = std::move(source);
  return config;
}

std::string Config::where(const std::string& key_path) const {
  // An override of this key or of a parent wins: it is where the value came from.
  for (const auto& [key, origin] : origins_) {
    if (key_path == key || key_path.rfind(key + ".", 0) == 0 || key_path.rfind(key + "[", 0) == 0) {
      return origin + ": " + key_path;
    }
  }
  auto it = lines_.find(key_path);
  if (it != lines_.end()) return source_ + ":" + std::to_string(it->second) + ": " + key_path;
  // A missing key: point at its closest ancestor that has a line.
  std::string parent = key_path;
  while (!parent.empty()) {
    const auto cut = parent.find_last_of(".[");
    parent = cut == std::string::npos ? "" : parent.substr(0, cut);
    auto p = lines_.find(parent);
    if (!parent.empty() && p != lines_.end()) {
      return source_ + ":" + std::to_string(p->second) + ": " + key_path;
    }
  }
  return source_ + ": " + key_path;
}

std::string Config::locate_message(const std::string& message) const {
  const auto colon = message.find(": ");
  if (colon == std::string::npos) return source_ + ": " + message;
  const std::string head = message.substr(0, colon);
  if (head.find(' ') != std::string::npos) return source_ + ": " + message;
  return where(head) + message.substr(colon);
}

std::string Config::to_yaml() const {
  YAML::Emitter out;
  out.SetIndent(2);
  yaml_emit(out, tree_);
  return std::string(out.c_str()) + "\n";
}

Section::Section(Config& config, std::string path, bool required) : config_(&config), path_(std::move(path)) {
  json& parent_or_self = config_->mutable_tree();
  if (path_.empty()) return;
  // Create missing sections so defaults get recorded.
  json* node = &parent_or_self;
  for (const auto& part : split_path(path_)) {
    if (!node->contains(part) || (*node)[part].is_null()) {
      if (required) {
        throw_at(config_->where(path_), "this section is required");
      }
      (*node)[part] = json::object();
    }
    node = &(*node)[part];
    if (!node->is_object()) throw_at(config_->where(path_), "expected a mapping, got " + type_name(*node));
  }
}

json& Section::node() {
  json* node = &config_->mutable_tree();
  for (const auto& part : split_path(path_)) node = &(*node)[part];
  return *node;
}

const json* Section::find(const std::string& key) const {
  const json* node = &config_->tree();
  for (const auto& part : split_path(path_)) node = &(*node)[part];
  auto it = node->find(key);
  if (it == node->end() || it->is_null()) return nullptr;
  return &*it;
}

std::string Section::key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void Section::fail(const std::string& key, const std::string& message) const {
  throw_at(config_->where(key_path(key)), message);
}

bool Section::has(const std::string& key) const { return find(key) != nullptr; }

int64_t Section::integer(const std::string& key, std::optional<int64_t> fallback, int64_t min, int64_t max) {
  known_.push_back(key);
  const json* v = find(key);
  if (v == nullptr) {
    if (!fallback) fail(key, "required integer is missing");
    node()[key] = *fallback;
    return *fallback;
  }
  if (!v->is_number_integer()) fail(key, "expected an integer, got " + type_name(*v) + " " + shown(*v));
  const int64_t x = v->get<int64_t>();
  if (x < min || x > max) {
    std::string range = max == INT64_MAX ? "≥ " + std::to_string(min) : "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    fail(key, "expected an integer " + range + ", got " + std::to_string(x));
  }
  return x;
}

double Section::number(const std::string& key, std::optional<double> fallback, double min, double max) {
  known_.push_back(key);
  const json* v = find(key);
  if (v == nullptr) {
    if (!fallback) fail(key, "required number is missing");
    node()[key] = *fallback;
    return *fallback;
  }
  if (!v->is_number()) fail(key, "expected a number, got " + type_name(*v) + " " + shown(*v));
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < min || x > max) {
    std::ostringstream range;
    range << "in [" << min << ", " << max << "]";
    fail(key, "expected a finite number " + range.str() + ", got " + shown(*v));
  }
  return x;
}

std::string Section::text(const std::string& key, std::optional<std::string> fallback,
                          const std::vector<std::string>& choices) {
  known_.push_back(key);
  const json* v = find(key);
  std::string value;
  if (v == nullptr) {
    if (!fallback) fail(key, "required value is missing");
    node()[key] = *fallback;
    value = *fallback;
  } else {
    if (!v->is_string()) fail(key, "expected a string, got " + type_name(*v) + " " + shown(*v));
    value = v->get<std::string>();
  }
  if (!choices.empty() && std::find(choices.begin(), choices.end(), value) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    fail(key, "'" + value + "' is not one of: " + list);
  }
  return value;
}

bool Section::boolean(const std::string& key, std::optional<bool> fallback) {
  known_.push_back(key);
  const json* v = find(key);
  if (v == nullptr) {
    if (!fallback) fail(key, "required boolean is missing");
    node()[key] = *fallback;
    return *fallback;
  }
  if (!v->is_boolean()) fail(key, "expected true or false, got " + type_name(*v) + " " + shown(*v));
  return v->get<bool>();
}

std::vector<int64_t> Section::integers(const std::string& key, std::optional<std::vector<int64_t>> fallback) {
  known_.push_back(key);
  const json* v = find(key);
  if (v == nullptr) {
    if (!fallback) fail(key, "required list of integers is missing");
    node()[key] = *fallback;
    return *fallback;
  }
  if (!v->is_array()) fail(key, "expected a list of integers, got " + type_name(*v));
  std::vector<int64_t> out;
  for (const auto& item : *v) {
    if (!item.is_number_integer()) fail(key, "expected a list of integers, found " + shown(item));
    out.push_back(item.get<int64_t>());
  }
  return out;
}

std::vector<std::string> Section::texts(const std::string& key, std::optional<std::vector<std::string>> fallback) {
  known_.push_back(key);
  const json* v = find(key);
  if (v == nullptr) {
    if (!fallback) fail(key, "required list of strings is missing");
    node()[key] = *fallback;
    return *fallback;
  }
  if (!v->is_array()) fail(key, "expected a list of strings, got " + type_name(*v));
  std::vector<std::string> out;
  for (const auto& item : *v) {
    if (!item.is_string()) fail(key, "expected a list of strings, found " + shown(item));
    out.push_back(item.get<std::string>());
  }
  return out;
}

Section Section::section(const std::string& key) {
  known_.push_back(key);
  const json* v = find(key);
  if (v != nullptr && !v->is_object()) fail(key, "expected a mapping, got " + type_name(*v));
  return Section(*config_, key_path(key));
}

const json& Section::raw(const std::string& key) {
  known_.push_back(key);
  static const json null_json;
  const json* v = find(key);
  return v == nullptr ? null_json : *v;
}

void Section::finish() const {
  const json* node = &config_->tree();
  for (const auto& part : split_path(path_)) node = &(*node)[part];
  for (auto it = node->begin(); it != node->end(); ++it) {
    if (std::find(known_.begin(), known_.end(), it.key()) == known_.end()) {
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      fail(it.key(), "unknown key" + std::string(path_.empty() ? "" : " in " + path_) + " (known: " + list + ")");
    }
  }
}

}  // namespace sphaera::train
