#pragma once
/// Writing files so that readers never see a half-written one: write to a temporary file in the same
/// directory, then rename it over the target (rename within one file system is atomic on POSIX).
#include <string>

namespace sphaera::data_tools {

/// A temporary path beside `path` for writing, renamed onto `path` by commit(). When the object is
/// destroyed before commit() (an exception, a failed write), the temporary is removed and `path` is left
/// as it was. The parent directory of `path` is created when missing.
///
///   AtomicFile out("maps/a.fits");
///   write_somehow(out.temporary());   // e.g. "maps/.a.fits.tmp-1234-1"
///   out.commit();                      // maps/a.fits appears complete, or not at all
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Where to write: a fresh name in the target's directory (hidden, so globs such as *.fits skip it).
  const std::string& temporary() const { return temporary_; }
  const std::string& path() const { return path_; }
  /// Renames the temporary onto the target. Throws core::InvalidArgument naming the target on failure.
  void commit();

 private:
  std::string path_;
  std::string temporary_;
  bool committed_ = false;
};

/// Writes `text` to `path` atomically. A failed write (disk full, file size limit, I/O error) throws
/// core::InvalidArgument naming `path` and the system's reason; `path` is then left as it was.
void write_text_atomic(const std::string& path, const std::string& text);
/// The same for binary content (checkpoints).
void write_bytes_atomic(const std::string& path, const std::string& bytes);

/// A unique sibling name for `path` ("<dir>/.<name><tag>-<pid>-<n>"), not created.
std::string unique_sibling(const std::string& path, const std::string& tag);

/// Removes the temporaries AtomicFile left in `dir` (not its subdirectories) when a process was killed
/// before commit() or its destructor ran: hidden files named ".<name>.tmp-<pid>-<n>". Returns how many.
/// Only for a directory no other process is writing to (e.g. a run directory being resumed).
int remove_stale_temporaries(const std::string& dir);

}  // namespace sphaera::data_tools
