#pragma once
/// SPHAERA_GRAPH_TIMING (set to anything): the graph builders print the time of each phase on stderr, for
/// profiling. One timer, used by every phase of graph construction.
///
///   PhaseTimer timer("graph");
///   ...; timer.lap("directions");
///   ...; timer.lap("k-th keys, tiles", n, "points");   // "graph: k-th keys, tiles   0.123 s (786432 points)"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace sphaera::transforms {

class PhaseTimer {
 public:
  explicit PhaseTimer(const char* prefix)
      : prefix_(prefix), on_(std::getenv("SPHAERA_GRAPH_TIMING") != nullptr), last_(std::chrono::steady_clock::now()) {}

  /// The time since the previous lap (or construction), with an optional count of what the phase handled.
  void lap(const char* phase, int64_t count = -1, const char* of = "") {
    const auto now = std::chrono::steady_clock::now();
    if (on_) {
      const double seconds = std::chrono::duration<double>(now - last_).count();
      if (count >= 0) {
        std::fprintf(stderr, "%s: %-22s %8.3f s (%lld %s)\n", prefix_, phase, seconds, static_cast<long long>(count), of);
      } else {
        std::fprintf(stderr, "%s: %-22s %8.3f s\n", prefix_, phase, seconds);
      }
    }
    last_ = now;
  }

 private:
  const char* prefix_;
  bool on_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace sphaera::transforms
