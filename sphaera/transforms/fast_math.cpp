#include "sphaera/transforms/fast_math.h"

#include "sphaera/core/simd.h"

namespace sphaera::transforms {

namespace {

void exp_generic(double* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] = exp_nonpositive(x[i]);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512dq,avx512vl"))) void exp_avx512(double* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] = exp_nonpositive(x[i]);
}
#endif

using ExpFn = void (*)(double*, int64_t);

ExpFn pick() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (core::simd_level() == core::SimdLevel::kAvx512) return exp_avx512;
#endif
  return exp_generic;
}

}  // namespace

void exp_nonpositive_inplace(double* x, int64_t n) {
  static const ExpFn fn = pick();
  fn(x, n);
}

}  // namespace sphaera::transforms
