#include "sphaera/train/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace sphaera::train {

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>((s / 60) % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::Progress(std::string label) : Progress(std::move(label), -1) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

bool Progress::due(bool last) {
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (!(tty_ ? since_print >= 0.1 : since_print >= 5.0) && !last) return false;
  last_print_ = now;
  return true;
}

void Progress::draw(const std::string& line) const {
  if (tty_) {
    std::cerr << "\r\033[K" << line << std::flush;
  } else {
    std::cerr << line << "\n";
  }
}

void Progress::update(int64_t done, const std::string& status) {
  if (!due(done >= total_)) return;
  const double elapsed = elapsed_seconds();
  const double fraction = total_ > 0 ? static_cast<double>(done) / total_ : 1.0;
  std::ostringstream line;
  line << label_ << " ";
  if (tty_) {
    const int width = 24;
    const int filled = static_cast<int>(fraction * width);
    line << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] ";
  }
  line << done << "/" << total_;
  if (done > 0 && done < total_) line << " ETA " << format_duration(elapsed / done * (total_ - done));
  line << " elapsed " << format_duration(elapsed);
  if (!status.empty()) line << "  " << status;
  draw(line.str());
}

void Progress::update_open(const std::string& status, double eta_seconds) {
  if (!due(false)) return;
  std::ostringstream line;
  line << label_ << " " << status;
  if (eta_seconds >= 0) line << " ETA " << format_duration(eta_seconds);
  line << " elapsed " << format_duration(elapsed_seconds());
  draw(line.str());
}

void Progress::finish(const std::string& status) {
  std::ostringstream line;
  line << label_ << " done";
  if (total_ >= 0) line << ": " << total_;
  line << " in " << format_duration(elapsed_seconds());
  if (!status.empty()) line << "  " << status;
  std::cerr << (tty_ ? "\r\033[K" : "") << line.str() << "\n";
}

}  // namespace sphaera::train
