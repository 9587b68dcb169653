#include "sphaera/core/process_memory.h"

#include <fstream>
#include <string>  // (before the test below: the C library's headers define __GLIBC__)
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sphaera::core {

namespace {

// A "Vm...:  123 kB" line of /proc/self/status, in bytes; 0 where there is none.
double status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(field.size())) * 1e3;
  }
  return 0.0;
}

}  // namespace

void reset_peak_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  std::ofstream("/proc/self/clear_refs") << "5";
}

double peak_memory_bytes() { return status_bytes("VmHWM:"); }

double resident_memory_bytes() { return status_bytes("VmRSS:"); }

}  // namespace sphaera::core
