#include "sphaera/core/runtime.h"

#include <omp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdio>
#include <thread>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#ifdef SPHAERA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace sphaera::core {

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);         // no block from mmap: all from the heap, reused after a free
  mallopt(M_TRIM_THRESHOLD, -1);  // the heap is never trimmed (mallopt(3): -1 disables trimming)
  mallopt(M_TOP_PAD, 64 << 20);   // and grows 64 MiB at a time
#endif
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int set_num_threads(int threads) {
  const int n = threads > 0 ? threads : hardware_threads();
  torch::set_num_threads(n);
  omp_set_num_threads(n);
  return torch::get_num_threads();
}

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

c10::Device parse_device(const std::string& text) {
  if (text == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  }
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(text);
  } catch (const std::exception&) {
    throw InvalidArgument("device: '" + text + "' is not a device (use cpu, cuda, cuda:N or auto)");
  }
  SPHAERA_CHECK(!device.is_cuda() || torch::cuda::is_available(), "device: '", text,
                "' was asked for but this LibTorch has no CUDA device available");
  return device;
}

std::string describe_device(const c10::Device& device) {
  if (device.is_cpu()) return "cpu (" + std::to_string(torch::get_num_threads()) + " threads)";
#ifdef SPHAERA_WITH_CUDA
  if (device.is_cuda()) {
    const int index = device.has_index() ? device.index() : static_cast<int>(c10::cuda::current_device());
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(index);
    char memory[32];
    std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(p->totalGlobalMem) / (1 << 30));
    return "cuda:" + std::to_string(index) + " (" + p->name + ", " + memory + ")";
  }
#endif
  return device.str();
}

}  // namespace sphaera::core
