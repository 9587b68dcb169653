#pragma once
/// A progress line with rate and ETA on stderr: redrawn in place on a terminal, a plain line every few
/// seconds otherwise (logs stay readable).
#include <chrono>
#include <cstdint>
#include <string>

namespace sphaera::train {

class Progress {
 public:
  /// Work of `total` steps: "label [####....] 12/40 ETA 0:30 elapsed 0:10  status".
  Progress(std::string label, int64_t total);
  /// Work of unknown length (an iteration run to a tolerance): "label status ETA 0:30 elapsed 0:10", the
  /// ETA the caller's own estimate.
  explicit Progress(std::string label);
  /// Reports `done` of `total` steps; `status` is appended (e.g. "loss 0.412").
  void update(int64_t done, const std::string& status = "");
  /// Work of unknown length: reports `status` and, when the caller can estimate it, the time left.
  void update_open(const std::string& status, double eta_seconds = -1);
  /// Final line with the elapsed time.
  void finish(const std::string& status = "");
  double elapsed_seconds() const;

 private:
  bool due(bool last);  // throttles redraws: 10 a second on a terminal, one line every 5 s otherwise
  void draw(const std::string& line) const;

  std::string label_;
  int64_t total_;  // -1: unknown length
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

/// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace sphaera::train
