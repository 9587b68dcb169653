#pragma once
/// Large uninitialised buffers for graph construction, backed by transparent huge pages where the kernel
/// allows it (a 266M-entry Laplacian is 3 GB: 4 KiB pages would cost ~800k page faults on first touch).
#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>

namespace sphaera::transforms {

namespace detail {
/// Uninitialised, 2 MiB-aligned memory of `bytes` bytes, advised for huge pages; released by `release_huge`.
void* allocate_huge_bytes(size_t bytes);
void release_huge(void* p);
}  // namespace detail

/// Uninitialised array of `count` T (T trivially constructible).
template <typename T>
std::shared_ptr<T[]> allocate_huge(int64_t count) {
  void* p = detail::allocate_huge_bytes(static_cast<size_t>(count > 0 ? count : 1) * sizeof(T));
  return std::shared_ptr<T[]>(static_cast<T*>(p), [](T* q) { detail::release_huge(q); });
}

/// Uninitialised 1-D CPU tensor of `count` elements of `dtype`, on such memory.
at::Tensor empty_huge(int64_t count, at::ScalarType dtype);

}  // namespace sphaera::transforms
