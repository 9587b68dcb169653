// core::keep_freed_memory: LibTorch's CPU blocks of 1 MiB and more come from malloc with room to align inside, so
// that a freed block serves the next request of its size (glibc's posix_memalign trims the slack off a block, which
// is then too small for that request, and a loop allocating the same tensors grew the heap every iteration).
#include "sphaera/core/runtime.h"

#include <cstdint>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

std::uintptr_t address(const at::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()); }

TEST(KeepFreedMemoryTest, AFreedLargeBlockServesTheNextRequestOfItsSize) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "keep_freed_memory does nothing off glibc";
#endif
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer replaces malloc with its own, which holds freed blocks in quarantine: the reuse tested here
  // is glibc's.
  GTEST_SKIP() << "AddressSanitizer's malloc, not glibc's, serves this build";
#endif
  sphaera::core::keep_freed_memory();
  sphaera::core::keep_freed_memory();  // a second call changes nothing
  constexpr int64_t kFloats = int64_t{12} << 20;  // 48 MB, as a map batch
  for (int round = 0; round < 3; ++round) {
    auto a = torch::empty({kFloats}, torch::kFloat);
    // A block after it, alive throughout: a's block is freed into the middle of the heap, not onto its top.
    const auto after = torch::empty({kFloats / 2}, torch::kFloat);
    const std::uintptr_t first = address(a);
    EXPECT_EQ(first % 64, 0u) << "LibTorch's alignment";
    a.fill_(1.0f);  // touched, as a tensor in use
    a = at::Tensor();
    const auto again = torch::empty({kFloats}, torch::kFloat);
    EXPECT_EQ(address(again), first) << "round " << round << ": the freed block was not reused";
    // Small tensors keep LibTorch's default allocator and its alignment.
    const auto small = torch::empty({100}, torch::kFloat);
    EXPECT_EQ(address(small) % 64, 0u);
    EXPECT_GT(address(after), 0u);
  }
}

}  // namespace
