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
/// that a tensor of hundreds of MB allocated again finds pages already mapped. Measured once with
/// bench/chebconv_bench at nside 256, before ChebConv kept its own work buffers: 197k page faults per forward
/// call instead of 295k (glibc reuses what it can; the rest still faults). The process keeps its peak memory
/// until it ends. Does nothing on other C libraries. The command line calls it once at start.
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
