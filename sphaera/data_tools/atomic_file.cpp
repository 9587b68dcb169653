#include "sphaera/data_tools/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "sphaera/core/check.h"

namespace fs = std::filesystem;

namespace sphaera::data_tools {

std::string unique_sibling(const std::string& path, const std::string& tag) {
  static std::atomic<uint64_t> counter{0};
  const fs::path target(path);
  const std::string name = "." + target.filename().string() + tag + "-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter.fetch_add(1));
  return (target.parent_path() / name).string();
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  SPHAERA_CHECK(!path_.empty(), "cannot write a file with an empty path");
  SPHAERA_CHECK(fs::path(path_).has_filename(), path_, ": not a file path (ends with a separator)");
  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    SPHAERA_CHECK(!ec, path_, ": cannot create the directory ", parent.string(), " (", ec.message(), ")");
  }
  temporary_ = unique_sibling(path_, ".tmp");
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temporary_, ec);  // best effort: it may never have been created
  }
}

void AtomicFile::commit() {
  SPHAERA_CHECK(!committed_, path_, ": already written");
  std::error_code ec;
  SPHAERA_CHECK(fs::exists(temporary_, ec), path_, ": nothing was written to its temporary file ", temporary_);
  fs::rename(temporary_, path_, ec);
  SPHAERA_CHECK(!ec, path_, ": cannot move the finished file into place (", ec.message(), ")");
  committed_ = true;
}

void write_text_atomic(const std::string& path, const std::string& text) {
  AtomicFile out(path);
  {
    std::ofstream stream(out.temporary(), std::ios::binary);
    SPHAERA_CHECK(stream.good(), path, ": cannot open for writing");
    stream << text;
    stream.flush();
    SPHAERA_CHECK(stream.good(), path, ": write failed (disk full?)");
  }
  out.commit();
}

}  // namespace sphaera::data_tools
