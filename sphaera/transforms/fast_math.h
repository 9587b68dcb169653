#pragma once
/// Small vectorisable math kernels for graph construction (hundreds of millions of kernel weights).
#include <cstdint>
#include <cstring>

namespace sphaera::transforms {

/// exp(x) for x ≤ 0, within 2 ulp of std::exp for x ≥ −700 (0 below −700, where exp(x) < 1e−304).
/// exp(x) = 2ⁿ·exp(r) with n = round(x / ln 2), r = x − n ln 2 ∈ [−ln2/2, ln2/2] (ln 2 split in two parts so
/// that r is exact to ~1e−20), exp(r) by its Taylor series to r¹³ (remainder < 5e−18). Plain arithmetic and
/// integer bit operations only, so loops over it vectorise (unlike calls to libm).
inline double exp_nonpositive(double x) {
  const bool underflow = x < -700.0;
  x = underflow ? -700.0 : x;
  constexpr double kShifter = 6755399441055744.0;  // 1.5·2⁵²: adding it rounds to an integer
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 0.693147180369123816490;  // 32 significant bits: n·kLn2Hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double shifted = x * kLog2e + kShifter;
  const double n = shifted - kShifter;
  const double r = (x - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  int64_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  int64_t shifter_bits;
  std::memcpy(&shifter_bits, &kShifter, sizeof(shifter_bits));
  const int64_t scale_bits = (bits - shifter_bits + 1023) << 52;  // 2ⁿ, n ≥ −1010 here
  double scale;
  std::memcpy(&scale, &scale_bits, sizeof(scale));
  return underflow ? 0.0 : p * scale;
}

/// A vertex degree summed in one fixed order: the j-th term (in column order) goes to partial sum j mod 8, and
/// the eight are added in a fixed tree. Every graph path sums this way, so all give the same doubles, and the
/// eight additions are independent (a plain running sum is one long chain of dependent additions).
class DegreeSum {
 public:
  void add(double w) { part_[count_++ & 7] += w; }
  /// add(w[t]) for t < count; whole runs of eight are added lane by lane (the compiler vectorises them).
  void add(const double* w, int64_t count) {
    int64_t t = 0;
    for (; t < count && (count_ & 7) != 0; ++t) add(w[t]);
    for (; t + 8 <= count; t += 8) {
      for (int lane = 0; lane < 8; ++lane) part_[lane] += w[t + lane];
      count_ += 8;
    }
    for (; t < count; ++t) add(w[t]);
  }
  double total() const {
    return ((part_[0] + part_[1]) + (part_[2] + part_[3])) + ((part_[4] + part_[5]) + (part_[6] + part_[7]));
  }

 private:
  double part_[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t count_ = 0;
};

}  // namespace sphaera::transforms

namespace sphaera::transforms {

/// x[i] ← exp_nonpositive(x[i]) for i < n, vectorised (8 lanes with AVX-512 where the CPU has it, chosen at
/// run time; results may then differ from the scalar ones in the last bit, never between calls on one machine).
void exp_nonpositive_inplace(double* x, int64_t n);

}  // namespace sphaera::transforms
