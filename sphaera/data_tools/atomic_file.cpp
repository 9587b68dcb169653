#include "sphaera/data_tools/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <atomic>
#include <filesystem>
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

int remove_stale_temporaries(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // unique_sibling(path, ".tmp") names: "." + name + ".tmp-" + pid + "-" + n
    if (name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos) {
      std::error_code ignored;
      if (std::filesystem::remove(it->path(), ignored)) ++removed;
    }
  }
  return removed;
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

namespace {
// fsync of a file or directory: its data (a directory: its entries) reach the disk before we go on.
void sync_to_disk(const std::string& path, bool directory, const std::string& target) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  SPHAERA_CHECK(fd >= 0, target, ": cannot open ", path, " to flush it to disk (", std::strerror(errno), ")");
  const int status = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  SPHAERA_CHECK(status == 0, target, ": flushing ", path, " to disk failed (", std::strerror(error), ")");
}
}  // namespace

// Crash safety: the temporary's data are on disk before the rename makes it the target, and the rename is on
// disk (the directory synced) before commit() returns. A kill or power loss at any point leaves either the old
// file or the complete new one, never a partial file under the target's name.
void AtomicFile::commit() {
  SPHAERA_CHECK(!committed_, path_, ": already written");
  std::error_code ec;
  SPHAERA_CHECK(fs::exists(temporary_, ec), path_, ": nothing was written to its temporary file ", temporary_);
  sync_to_disk(temporary_, false, path_);
  fs::rename(temporary_, path_, ec);
  SPHAERA_CHECK(!ec, path_, ": cannot move the finished file into place (", ec.message(), ")");
  committed_ = true;
  const fs::path parent = fs::path(path_).parent_path();
  sync_to_disk(parent.empty() ? "." : parent.string(), true, path_);
}

void write_bytes_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile out(path);
  const int fd = ::open(out.temporary().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SPHAERA_CHECK(fd >= 0, path, ": cannot open for writing (", std::strerror(errno), ")");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      ::close(fd);
      SPHAERA_CHECK(false, path, ": write failed after ", done, " of ", bytes.size(), " bytes (", std::strerror(error),
                    "); the previous file, if any, is unchanged");
    }
    done += static_cast<size_t>(n);
  }
  SPHAERA_CHECK(::close(fd) == 0, path, ": write failed (", std::strerror(errno), ")");
  out.commit();
}

void write_text_atomic(const std::string& path, const std::string& text) { write_bytes_atomic(path, text); }

}  // namespace sphaera::data_tools
