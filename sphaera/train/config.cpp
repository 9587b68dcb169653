#include "sphaera/train/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

bool all_of_chars(const std::string& s, size_t from, const char* chars) {
  return from < s.size() && s.find_first_not_of(chars, from) == std::string::npos;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?: a float of the YAML 1.2 core schema (an integer too).
bool is_decimal_number(const std::string& s) {
  size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    return all_of_chars(s, i, "0123456789");
  }
  return i == s.size();
}

// Scalars: the YAML 1.2 core schema (true/false, null, integers: decimal, 0o octal, 0x hex; floats: decimal,
// [-+].inf, .nan), else strings. Strings that only C's strtod would read as numbers (hex floats, "nan(1)",
// "infinity") stay strings; so do integers beyond int64 written in octal or hex and floats beyond ±1.8e308
// (decimal integers beyond int64 read as floats).
json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  {
    const size_t sign = s[0] == '-' || s[0] == '+' ? 1 : 0;
    const std::string rest = s.substr(sign);
    if (rest == ".inf" || rest == ".Inf" || rest == ".INF") {
      return s[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    }
  }
  const bool octal = s.size() > 2 && s.compare(0, 2, "0o") == 0 && all_of_chars(s, 2, "01234567");
  const bool hex = s.size() > 2 && s.compare(0, 2, "0x") == 0 && all_of_chars(s, 2, "0123456789abcdefABCDEF");
  if (octal || hex) {
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str() + 2, nullptr, octal ? 8 : 16);
    if (errno == 0 && v <= static_cast<unsigned long long>(INT64_MAX)) return static_cast<int64_t>(v);
    return s;
  }
  if (!is_decimal_number(s)) return s;
  if (s.find_first_of(".eE") == std::string::npos) {
    errno = 0;
    const long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) return static_cast<int64_t>(v);
  }
  errno = 0;
  const double v = std::strtod(s.c_str(), nullptr);
  if (std::isinf(v)) return s;  // overflow
  return v;                     // underflow gives the nearest subnormal or zero
}

// Where a text stops being what YAML allows: the first byte that is not UTF-8 (a stray, overlong or
// surrogate sequence), or that starts a control character other than tab, LF and CR (C0, DEL, C1 with NEL,
// and U+2028/U+2029, which YAML 1.1 reads as line breaks). yaml-cpp would take such characters into keys
// and values that could not be written back (and nlohmann::json's dump throws on bytes that are not UTF-8).
struct BadText {
  size_t at = std::string::npos;  ///< npos: the text is fine
  bool control = false;           ///< a control character (else: not UTF-8)
};

BadText first_bad_text(const std::string& text) {
  const auto* b = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = b[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return {i, true};
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return {i, false};
    }
    if (i + len > n) return {i, false};
    for (size_t k = 1; k < len; ++k) {
      if ((b[i + k] & 0xC0) != 0x80) return {i, false};
      cp = (cp << 6) | (b[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {i, false};
    if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) return {i, true};
    i += len;
  }
  return {};
}

// "byte 0xE8 at line 3, column 7 is not UTF-8 text", for a text first_bad_text refused.
std::string bad_text_message(const std::string& text, const BadText& bad) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < bad.at; ++i) {
    if (text[i] == '\n') {
      ++line, column = 1;
    } else {
      ++column;
    }
  }
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad.at]));
  return std::string("byte ") + hex + " at line " + std::to_string(line) + ", column " + std::to_string(column) +
         (bad.control ? " is a control character (YAML allows only tab, LF and CR)" : " is not UTF-8 text");
}

// YAML line breaks are LF, CRLF or a lone CR; yaml-cpp takes a lone CR into the scalar before it (a file
// ending "source: manifest\r" would read "manifest\r"). All become LF, as the YAML 1.2 spec normalises them.
std::string normalised_line_breaks(const std::string& text) {
  if (text.find('\r') == std::string::npos) return text;
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out += text[i];
    } else {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    }
  }
  return out;
}

// A key or value as yaml-cpp decoded it: escapes of double-quoted scalars ("\0", "\N", "\ud800") can make
// the characters first_bad_text refuses in the file itself.
void check_decoded(const std::string& s, const std::string& where) {
  const BadText bad = first_bad_text(s);
  if (bad.at == std::string::npos) return;
  throw_at(where, std::string(bad.control ? "holds a control character" : "holds bytes that are not UTF-8") +
                      " (from an escape such as \\0 or \\N?); YAML allows only tab, LF and CR");
}

json to_json(const YAML::Node& node, const std::string& path, const std::string& source,
             std::map<std::string, int>& lines) {
  lines[path] = node.Mark().line + 1;
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      check_decoded(node.Scalar(), source + ":" + std::to_string(node.Mark().line + 1) + ": " +
                                       (path.empty() ? "the value" : path));
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
        check_decoded(key, source + ":" + std::to_string(kv.first.Mark().line + 1) + ": the key of " +
                               (path.empty() ? "the top level" : path));
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

// The parts of a --set key path, name(.name|[index])*: "a.b[2].c" gives {"a", "b", "[2]", "c"}. Names are
// letters, digits, '_' and '-', as every key the trainer reads.
std::vector<std::string> override_path(const std::string& key) {
  const auto fail = [&](const std::string& why) {
    throw core::InvalidArgument("--set " + key + ": " + why +
                                " (a key path is names joined by '.', with [N] for list items: model.layers[0].K)");
  };
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < key.size()) {
    if (key[i] == '[') {
      const size_t close = key.find(']', i);
      if (close == std::string::npos) fail("'[' without ']'");
      const std::string digits = key.substr(i + 1, close - i - 1);
      if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
        fail("'[" + digits + "]' is not a list index");
      }
      parts.push_back("[" + digits + "]");
      i = close + 1;
    } else {
      if (!parts.empty()) {
        if (key[i] != '.') fail("expected '.' or '[' after '" + parts.back() + "'");
        ++i;
      }
      size_t end = i;
      while (end < key.size() && (std::isalnum(static_cast<unsigned char>(key[end])) || key[end] == '_' ||
                                  key[end] == '-')) {
        ++end;
      }
      if (end == i) fail(i < key.size() ? "'" + std::string(1, key[i]) + "' cannot start a name" : "a name is missing at the end");
      parts.push_back(key.substr(i, end - i));
      i = end;
    }
  }
  if (parts.empty() || parts.front().front() == '[') fail("the path must start with a name");
  return parts;
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
  } else if (j.is_number_float() && !std::isfinite(j.get<double>())) {
    const double v = j.get<double>();
    out << (std::isnan(v) ? ".nan" : v > 0 ? ".inf" : "-.inf");  // as scalar_to_json reads them back
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
  if (j.is_number_float() && !std::isfinite(j.get<double>())) {  // json's dump() would say null
    const double v = j.get<double>();
    return std::isnan(v) ? ".nan" : v > 0 ? ".inf" : "-.inf";
  }
  std::string s = j.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

Config Config::parse(const std::string& raw_text, const std::string& source) {
  const std::string yaml_text = normalised_line_breaks(raw_text);
  Config config;
  config.source_ = source;
  if (const BadText bad = first_bad_text(yaml_text); bad.at != std::string::npos) {
    throw_at(source, bad_text_message(yaml_text, bad));
  }
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
    if (const BadText bad = first_bad_text(item); bad.at != std::string::npos) {
      throw core::InvalidArgument("--set: " + bad_text_message(item, bad));
    }
    const std::string key = item.substr(0, eq);
    const auto parts = override_path(key);
    json value;
    try {
      YAML::Node node = YAML::Load(normalised_line_breaks(item.substr(eq + 1)));
      std::map<std::string, int> ignored;
      value = node.IsNull() && item.substr(eq + 1).empty() ? json("") : to_json(node, key, "--set", ignored);
    } catch (const YAML::Exception& e) {
      throw core::InvalidArgument("--set " + item + ": invalid value: " + e.msg);
    }
    json* node = &config.tree_;
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
    if (part.front() == '[') {  // a list item ("layers[2]"): it must exist
      const size_t index = std::stoul(part.substr(1, part.size() - 2));
      if (!node->is_array() || index >= node->size()) throw_at(config_->where(path_), "no such list item");
      node = &(*node)[index];
      continue;
    }
    if (!node->is_object()) throw_at(config_->where(path_), "expected a mapping, got " + type_name(*node));
    if (!node->contains(part) || (*node)[part].is_null()) {
      if (required) {
        throw_at(config_->where(path_), "this section is required");
      }
      (*node)[part] = json::object();
    }
    node = &(*node)[part];
  }
  if (!node->is_object()) throw_at(config_->where(path_), "expected a mapping, got " + type_name(*node));
}

namespace {

// The node at a path of names and list items ("bench.layers[2]"), which the Section constructor checked exists.
template <typename Json>
Json* descend(Json* node, const std::string& path) {
  for (const auto& part : split_path(path)) {
    node = part.front() == '[' ? &(*node)[std::stoul(part.substr(1, part.size() - 2))] : &(*node)[part];
  }
  return node;
}

}  // namespace

json& Section::node() { return *descend(&config_->mutable_tree(), path_); }

const json* Section::find(const std::string& key) const {
  const json* node = descend(&config_->tree(), path_);
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
  const json* node = descend(&config_->tree(), path_);
  for (auto it = node->begin(); it != node->end(); ++it) {
    if (std::find(known_.begin(), known_.end(), it.key()) == known_.end()) {
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      fail(it.key(), "unknown key" + std::string(path_.empty() ? "" : " in " + path_) + " (known: " + list + ")");
    }
  }
}

}  // namespace sphaera::train
