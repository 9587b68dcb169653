// Fuzz target: the manifest reader (sphaera/data_tools/manifest.h).
//
// The input is written as <scratch>/manifest.csv and read with read_manifest. Errors must be
// core::InvalidArgument. A manifest that reads is written back with write_manifest (paths relative to the
// manifest's directory) and must read back to the same entries.
#include <cstdint>
#include <string>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/manifest.h"
#include "tests/fuzz/fuzz_common.h"

using sphaera::core::InvalidArgument;
namespace dt = sphaera::data_tools;

namespace {

bool same(const dt::ManifestEntry& a, const dt::ManifestEntry& b) {
  return a.input == b.input && a.label == b.label && a.label_map == b.label_map && a.variable == b.variable &&
         a.time == b.time;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = sphaera::fuzz::scratch_path("manifest.csv");
  static const std::string copy = sphaera::fuzz::scratch_path("written.csv");
  sphaera::fuzz::write_file(path, data, size);

  std::vector<dt::ManifestEntry> entries;
  try {
    entries = dt::read_manifest(path);
  } catch (const InvalidArgument&) {
    return 0;
  }
  FUZZ_ASSERT(!entries.empty(), "read_manifest returned no entries");
  for (const auto& e : entries) {
    FUZZ_ASSERT(!e.input.empty() && ((e.label >= 0) != !e.label_map.empty()),
                "entry with input '%s', label %lld, label map '%s'", e.input.c_str(), static_cast<long long>(e.label),
                e.label_map.c_str());
  }
  std::vector<dt::ManifestEntry> back;
  try {
    dt::write_manifest(copy, entries);
    back = dt::read_manifest(copy);
  } catch (const InvalidArgument& e) {
    FUZZ_ASSERT(false, "a manifest that reads does not write and read back: %s", e.what());
  }
  FUZZ_ASSERT(back.size() == entries.size(), "%zu entries read back as %zu", entries.size(), back.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    FUZZ_ASSERT(same(entries[i], back[i]),
                "entry %zu: input '%s' label %lld map '%s' variable '%s' time '%s' read back as input '%s' label "
                "%lld map '%s' variable '%s' time '%s'",
                i, entries[i].input.c_str(), static_cast<long long>(entries[i].label), entries[i].label_map.c_str(),
                entries[i].variable.c_str(), entries[i].time.c_str(), back[i].input.c_str(),
                static_cast<long long>(back[i].label), back[i].label_map.c_str(), back[i].variable.c_str(),
                back[i].time.c_str());
  }
  return 0;
}
