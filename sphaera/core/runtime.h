#pragma once
/// Process-wide runtime settings: threads, seeding, device parsing.
#include <cstdint>
#include <string>

#include <c10/core/Device.h>

namespace sphaera::core {

/// Sets the number of intra-op threads used by LibTorch and by Sphaera's own OpenMP kernels.
/// `threads <= 0` means all cores. Returns the number actually in use.
int set_num_threads(int threads);

/// Keeps the memory of freed tensors in the process, for the next allocations, instead of handing it back to the
/// system at every free (glibc: large blocks come from the heap, not from mmap, and the heap is not trimmed), so
/// that a tensor of hundreds of MB allocated again finds pages already mapped. It also installs LibTorch's CPU
/// allocator for blocks of 1 MiB and more: malloc'd with room to align inside, so that a freed block fits the next
/// request of its size exactly (glibc's posix_memalign leaves freed blocks too small for that, and the heap grew
/// onto fresh pages at every iteration of a loop). The process keeps its peak memory until it ends. Does nothing
/// on other C libraries. The command line calls it once at start; calling it again changes nothing.
void keep_freed_memory();

/// The number of hardware threads of this machine.
int hardware_threads();

/// Seeds every random generator Sphaera uses (LibTorch's CPU and CUDA generators).
void seed_everything(uint64_t seed);

/// Parses "cpu", "cuda", "cuda:1", or "auto" (CUDA when available, else CPU).
/// Throws InvalidArgument on anything else, or when CUDA is asked for but unavailable.
c10::Device parse_device(const std::string& text);

/// What a run log says of a device: "cpu (2 threads)", "cuda:0 (NVIDIA H200, 139.8 GiB)".
std::string describe_device(const c10::Device& device);

}  // namespace sphaera::core
