#include "sphaera/transforms/buffers.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

#include <ATen/ATen.h>

namespace sphaera::transforms {

namespace detail {

void* allocate_huge_bytes(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  void* p = nullptr;
  if (bytes >= kHuge) {
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    p = std::aligned_alloc(kHuge, rounded);
    if (p != nullptr) ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
  } else {
    p = std::malloc(bytes);
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void release_huge(void* p) { std::free(p); }

}  // namespace detail

at::Tensor empty_huge(int64_t count, at::ScalarType dtype) {
  const size_t bytes = static_cast<size_t>(count > 0 ? count : 1) * c10::elementSize(dtype);
  void* p = detail::allocate_huge_bytes(bytes);
  return at::from_blob(
      p, {count}, [](void* q) { detail::release_huge(q); }, at::TensorOptions().dtype(dtype));
}

}  // namespace sphaera::transforms
