#pragma once
/// The process's resident memory, for benchmarks and the reports of long commands (Linux's /proc/self/status;
/// torch-free, so that verbs which do not load LibTorch can report it too).

namespace sphaera::core {

/// Starts a new measurement of peak memory: hands freed heap memory back to the system (glibc's malloc_trim),
/// then resets Linux's high-water mark of resident memory to the current resident size (proc(5): clear_refs,
/// value 5). Does nothing where these do not exist.
void reset_peak_memory();

/// The process's peak resident memory since it started or since the last reset_peak_memory() (Linux's VmHWM),
/// in bytes (kB resolution); 0 where unknown.
double peak_memory_bytes();

/// The process's resident memory now (VmRSS), in bytes; 0 where unknown.
double resident_memory_bytes();

}  // namespace sphaera::core
