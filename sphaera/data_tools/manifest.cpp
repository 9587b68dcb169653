#include "sphaera/data_tools/manifest.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"

namespace fs = std::filesystem;

namespace sphaera::data_tools {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

std::string trimmed(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

// One CSV record (which may span lines inside quotes). Returns false at end of file.
// `line` is the number of the record's first line; it advances past the record.
bool next_record(std::istream& in, const std::string& path, int& line, int& first_line,
                 std::vector<std::string>& fields) {
  fields.clear();
  std::string text;
  while (true) {
    if (!std::getline(in, text)) return false;
    ++line;
    if (line == 1 && text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (!trimmed(text).empty()) break;  // skip blank lines
  }
  first_line = line;
  std::string field;
  bool quoted = false, was_quoted = false;
  size_t i = 0;
  while (true) {
    if (i == text.size()) {
      if (!quoted) break;
      // A quoted field running over a line end.
      std::string more;
      SPHAERA_CHECK(static_cast<bool>(std::getline(in, more)), path, ":", first_line,
                    ": unclosed quote (the file ends inside a quoted field)");
      ++line;
      if (!more.empty() && more.back() == '\r') more.pop_back();
      field += '\n';
      text = more;
      i = 0;
      continue;
    }
    const char c = text[i++];
    if (quoted) {
      if (c == '"') {
        if (i < text.size() && text[i] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"' && trimmed(field).empty()) {
      quoted = true;
      was_quoted = true;
      field.clear();
    } else if (c == ',') {
      fields.push_back(was_quoted ? field : trimmed(field));
      field.clear();
      was_quoted = false;
    } else {
      SPHAERA_CHECK(!was_quoted || c == ' ' || c == '\t', path, ":", first_line,
                    ": text after a closing quote in field ", fields.size() + 1);
      if (!was_quoted) field += c;
    }
  }
  fields.push_back(was_quoted ? field : trimmed(field));
  return true;
}

// `p` in normal form. A leading "//" (which std::filesystem keeps, POSIX leaving its meaning to the system)
// becomes "/", the same directory on Linux, so that a path reads back as it was written.
std::string normal(const fs::path& p) {
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s[0] == '/' && s[1] == '/') s.erase(0, 1);
  return s;
}

std::string resolve(const fs::path& base, const std::string& value) {
  const fs::path p(value);
  return normal(p.is_absolute() ? p : base / p);
}

std::string quote_if_needed(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos && trimmed(s) == s) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The path as the manifest stores it: relative to the manifest's directory (absolute if that fails).
std::string relative_to(const fs::path& base_dir, const std::string& path) {
  std::error_code ec;
  const fs::path absolute_base = fs::absolute(base_dir.empty() ? fs::path(".") : base_dir, ec).lexically_normal();
  const fs::path absolute_path = fs::absolute(fs::path(path), ec).lexically_normal();
  const fs::path rel = absolute_path.lexically_relative(absolute_base);
  return rel.empty() ? absolute_path.string() : rel.generic_string();
}

}  // namespace

bool is_label_map_path(const std::string& value) {
  for (const char* ext : {".fits", ".fit", ".fits.gz", ".fz", ".nc", ".npy"}) {
    if (ends_with(value, ext)) return true;
  }
  return false;
}

std::vector<ManifestEntry> read_manifest(const std::string& path) {
  std::error_code ec;
  SPHAERA_CHECK(fs::is_regular_file(path, ec), path, ": no such manifest file");
  std::ifstream in(path, std::ios::binary);
  SPHAERA_CHECK(in.good(), path, ": cannot read the manifest");
  const fs::path base = fs::path(path).parent_path();

  int line = 0, record_line = 0;
  std::vector<std::string> fields;
  SPHAERA_CHECK(next_record(in, path, line, record_line, fields), path,
                ": empty manifest (expected a header row such as 'input,label')");
  std::map<std::string, size_t> column;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::string name = fields[i];
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    SPHAERA_CHECK(!column.count(name) || name.empty(), path, ":", record_line, ": column '", name,
                  "' appears twice in the header");
    column[name] = i;
  }
  const size_t header_size = fields.size();
  for (const char* required : {"input", "label"}) {
    SPHAERA_CHECK(
        column.count(required), path, ":", record_line, ": the header has no '", required, "' column (header: '",
        [&] {
          std::string h;
          for (size_t i = 0; i < fields.size(); ++i) h += (i ? "," : "") + fields[i];
          return h;
        }(),
        "'; expected input,label[,variable,time])");
  }
  auto optional_column = [&](const char* name) -> std::optional<size_t> {
    auto it = column.find(name);
    return it == column.end() ? std::nullopt : std::optional<size_t>(it->second);
  };
  const size_t input_col = column["input"], label_col = column["label"];
  const auto variable_col = optional_column("variable"), time_col = optional_column("time");

  std::vector<ManifestEntry> entries;
  while (next_record(in, path, line, record_line, fields)) {
    SPHAERA_CHECK(fields.size() == header_size, path, ":", record_line, ": ", fields.size(),
                  " field(s), the header has ", header_size);
    ManifestEntry e;
    e.line = record_line;
    const std::string& input = fields[input_col];
    const std::string& label = fields[label_col];
    SPHAERA_CHECK(!input.empty(), path, ":", record_line, ": empty 'input'");
    SPHAERA_CHECK(!label.empty(), path, ":", record_line, ": empty 'label'");
    // A line break or other control character inside a quoted field is a broken row, not part of a path
    // (the reader normalises line breaks, so it would not even read back as written).
    for (size_t i = 0; i < fields.size(); ++i) {
      const auto bad = std::find_if(fields[i].begin(), fields[i].end(),
                                    [](unsigned char c) { return c < 0x20 || c == 0x7F; });
      if (bad == fields[i].end()) continue;
      char code[8];
      std::snprintf(code, sizeof code, "0x%02X", static_cast<unsigned char>(*bad));
      SPHAERA_CHECK(false, path, ":", record_line, ": field ", i + 1, " holds a control character (", code,
                    "): a line break inside quotes?");
    }
    e.input = resolve(base, input);
    if (is_label_map_path(label)) {
      e.label_map = resolve(base, label);
    } else {
      size_t used = 0;
      long long value = -1;
      try {
        value = std::stoll(label, &used, 10);
      } catch (const std::exception&) {
        used = 0;
      }
      SPHAERA_CHECK(used == label.size() && value >= 0, path, ":", record_line, ": label '", label,
                    "' is not a class (an integer ≥ 0) nor a label map path (.fits, .nc, .npy)");
      e.label = value;
    }
    if (variable_col) e.variable = fields[*variable_col];
    if (time_col) e.time = fields[*time_col];
    entries.push_back(std::move(e));
  }
  SPHAERA_CHECK(!entries.empty(), path, ": the manifest lists no samples (only a header row)");
  return entries;
}

void write_manifest(const std::string& path, const std::vector<ManifestEntry>& entries) {
  const fs::path base = fs::path(path).parent_path();
  bool with_variable = false, with_time = false;
  for (const auto& e : entries) {
    with_variable = with_variable || !e.variable.empty();
    with_time = with_time || !e.time.empty();
  }
  std::ostringstream out;
  out << "input,label" << (with_variable ? ",variable" : "") << (with_time ? ",time" : "") << "\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    SPHAERA_CHECK(!e.input.empty(), path, ": entry ", i, " has an empty input");
    SPHAERA_CHECK(e.label >= 0 || !e.label_map.empty(), path, ": entry ", i, " (", e.input,
                  ") has neither a class label ≥ 0 nor a label map");
    SPHAERA_CHECK(e.label_map.empty() || is_label_map_path(e.label_map), path, ": entry ", i, ": label map '",
                  e.label_map, "' must end in .fits, .fit, .fits.gz, .fz, .nc or .npy");
    out << quote_if_needed(relative_to(base, e.input)) << ","
        << (e.label_map.empty() ? std::to_string(e.label) : quote_if_needed(relative_to(base, e.label_map)));
    if (with_variable) out << "," << quote_if_needed(e.variable);
    if (with_time) out << "," << quote_if_needed(e.time);
    out << "\n";
  }
  write_text_atomic(path, out.str());
}

}  // namespace sphaera::data_tools
