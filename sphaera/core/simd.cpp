#include "sphaera/core/simd.h"

#include <cstdlib>
#include <string>

#include "sphaera/core/check.h"

namespace sphaera::core {

namespace {

SimdLevel cpu_level() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw")) {
    return SimdLevel::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kGeneric;
}

SimdLevel cap_from_environment() {
  const char* value = std::getenv("SPHAERA_SIMD");
  if (value == nullptr || *value == '\0') return SimdLevel::kAvx512;
  return parse_simd_level(value, "SPHAERA_SIMD");
}

SimdLevel detect() {
  const SimdLevel cpu = cpu_level();
  const SimdLevel cap = cap_from_environment();
  return static_cast<int>(cap) < static_cast<int>(cpu) ? cap : cpu;
}

}  // namespace

SimdLevel simd_level() {
  static const SimdLevel level = detect();
  return level;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx2: return "avx2";
    default: return "generic";
  }
}

SimdLevel parse_simd_level(const std::string& name, const std::string& what) {
  for (SimdLevel level : {SimdLevel::kGeneric, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (name == simd_level_name(level)) return level;
  }
  throw InvalidArgument(what + "=" + name + ": expected generic, avx2 or avx512");
}

}  // namespace sphaera::core
