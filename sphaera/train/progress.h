#pragma once
/// A progress line with rate and ETA on stderr: redrawn in place on a terminal, a plain line every few
/// seconds otherwise (logs stay readable).
#include <chrono>
#include <cstdint>
#include <string>

namespace sphaera::train {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  /// Reports `done` of `total` steps; `status` is appended (e.g. "loss 0.412").
  void update(int64_t done, const std::string& status = "");
  /// Final line with the elapsed time.
  void finish(const std::string& status = "");
  double elapsed_seconds() const;

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

/// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace sphaera::train
