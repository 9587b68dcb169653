// The kernels' instruction set: what the CPU has, capped by SPHAERA_SIMD (core/simd.h). CTest runs this suite
// twice, the second time with SPHAERA_SIMD=generic: this test checks that the cap took effect there.
#include "sphaera/core/simd.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "sphaera/core/check.h"

using sphaera::core::parse_simd_level;
using sphaera::core::simd_level;
using sphaera::core::simd_level_name;
using sphaera::core::SimdLevel;

TEST(SimdTest, LevelIsCappedByTheEnvironment) {
  const char* cap = std::getenv("SPHAERA_SIMD");
  const SimdLevel level = simd_level();
  std::cout << "[          ] kernels: " << simd_level_name(level) << " (SPHAERA_SIMD=" << (cap ? cap : "")
            << ")\n";
  if (cap != nullptr && *cap != '\0') {
    EXPECT_LE(static_cast<int>(level), static_cast<int>(parse_simd_level(cap, "SPHAERA_SIMD")));
  }
}

TEST(SimdTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (SimdLevel level : {SimdLevel::kGeneric, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    EXPECT_EQ(parse_simd_level(simd_level_name(level), "x"), level);
  }
  try {
    parse_simd_level("sse9", "SPHAERA_SIMD");
    FAIL() << "expected an error";
  } catch (const sphaera::core::InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "SPHAERA_SIMD=sse9: expected generic, avx2 or avx512");
  }
}
