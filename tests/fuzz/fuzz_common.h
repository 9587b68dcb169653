#pragma once
/// Shared by the fuzz targets: a scratch directory of this process on a RAM file system, where the readers
/// (which take paths) find the fuzz input, and a check that fails loudly (a finding for libFuzzer).
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace sphaera::fuzz {

/// "/dev/shm/sphaera-fuzz-<pid>" (or under $TMPDIR when /dev/shm is missing), created on first use and
/// removed at exit.
inline const std::string& scratch_dir() {
  // Never destroyed: the exit handler below runs after static destructors of objects built before it.
  static const std::string* dir = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    auto* d = new std::string((base / ("sphaera-fuzz-" + std::to_string(::getpid()))).string());
    fs::create_directories(*d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return *dir;
}

/// A file of the scratch directory.
inline std::string scratch_path(const std::string& name) { return scratch_dir() + "/" + name; }

/// Replaces the content of `path` with the `size` bytes at `data`.
inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace sphaera::fuzz

/// A property the target checks: when it does not hold, print it and abort (libFuzzer saves the input).
#define FUZZ_ASSERT(cond, ...)                                                          \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "FUZZ_ASSERT failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                \
      std::fprintf(stderr, "\n");                                                       \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
