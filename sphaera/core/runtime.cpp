#include "sphaera/core/runtime.h"

#include <omp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#ifdef SPHAERA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace sphaera::core {

#if defined(__GLIBC__)
namespace {

// LibTorch's default CPU allocator takes each block from posix_memalign (64-byte alignment). glibc (2.36, Debian
// 12) serves an aligned request from a free chunk of the size plus the alignment plus a minimum chunk, then trims
// the slack off the block it hands out: once freed, that block is too small for the next request of the same size,
// which then grows the heap onto fresh pages, while the freed blocks stay resident unused. A training step or a
// benchmark loop that allocates the same large tensors every iteration thus faults in new memory each time and its
// resident memory creeps up. This allocator asks malloc for the size plus the alignment and aligns inside the
// block: a freed block has exactly the size the next request of that size asks for, and malloc hands it back.
// Small blocks keep LibTorch's default allocator.
class ReusingCpuAllocator final : public c10::Allocator {
 public:
  explicit ReusingCpuAllocator(c10::Allocator* small) : small_(small) {}

  c10::DataPtr allocate(size_t n) override {
    if (n < kLarge) return small_->allocate(n);
    void* block = std::malloc(n + kAlignment);
    TORCH_CHECK_WITH(OutOfMemoryError, block != nullptr, "out of memory: cannot allocate ", n, " bytes on the CPU");
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    void* data = reinterpret_cast<void*>((address + kAlignment - 1) / kAlignment * kAlignment);
    return {data, block, &std::free, c10::Device(c10::DeviceType::CPU)};
  }

  // Blocks from here are freed through their context (the start of the malloc block), not their data pointer:
  // no raw deleter, as for any allocator whose data and context differ.
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

 private:
  static constexpr size_t kAlignment = 64;       // as LibTorch's (c10::gAlignment)
  static constexpr size_t kLarge = size_t{1} << 20;  // blocks from 1 MiB up
  c10::Allocator* small_;
};

}  // namespace
#endif

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);         // no block from mmap: all from the heap, reused after a free
  mallopt(M_TRIM_THRESHOLD, -1);  // the heap is never trimmed (mallopt(3): -1 disables trimming)
  mallopt(M_TOP_PAD, 64 << 20);   // and grows 64 MiB at a time
  static std::once_flag once;
  std::call_once(once, [] {
    static ReusingCpuAllocator allocator(c10::GetDefaultCPUAllocator());
    c10::SetCPUAllocator(&allocator);
  });
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
