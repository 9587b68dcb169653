#pragma once
/// Buffer<T>: an array of n values of a trivial type, left uninitialised. std::vector would zero it first: a
/// pass over memory that maps, coefficients and transform stages (hundreds of MB at nside 1024) do not need,
/// since they are written whole before they are read.
#include <cstdint>
#include <memory>
#include <type_traits>

namespace sphaera::core {

template <typename T>
class Buffer {
  static_assert(std::is_trivial_v<T>, "Buffer holds trivial types only (they need no construction)");

 public:
  Buffer() = default;
  explicit Buffer(int64_t n) : data_(n > 0 ? new T[static_cast<size_t>(n)] : nullptr), size_(n > 0 ? n : 0) {}

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  int64_t size() const { return size_; }
  T& operator[](int64_t i) { return data_[i]; }
  const T& operator[](int64_t i) const { return data_[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }

 private:
  std::unique_ptr<T[]> data_;
  int64_t size_ = 0;
};

}  // namespace sphaera::core
