#pragma once
/// The one place that decides which instruction set the CPU kernels (sparse products, k-NN search, Legendre
/// recurrence, Wigner rotations, kernel weights) use. It lives in core, the lowest layer, with no LibTorch (the
/// torch-free base library sphaera_core_base), so that every layer's kernels can ask it. Each kernel is compiled once per level it has, with the GCC `target`
/// attribute on the function that holds the vector code, and picks its version from simd_level() at run time.
///
/// The environment variable SPHAERA_SIMD caps the level: `generic` (portable C++, what any x86-64 or other CPU
/// runs), `avx2` (AVX2 + FMA), `avx512` (the default cap: AVX-512 F, VL, DQ and BW). It is read once per
/// process. Tests run the core and transform suites a second time with SPHAERA_SIMD=generic, so that CI covers the
/// portable kernels whatever its CPU has. Every level gives the same results within the tolerance each kernel
/// documents (the k-NN search and the graphs: the same doubles, bit for bit).
#include <string>

namespace sphaera::core {

enum class SimdLevel { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

/// The highest level both the CPU and SPHAERA_SIMD allow. Throws core::InvalidArgument when SPHAERA_SIMD holds
/// anything but the three names above.
SimdLevel simd_level();

/// "generic", "avx2" or "avx512".
const char* simd_level_name(SimdLevel level);

/// The level named `name` (one of the three above); throws core::InvalidArgument naming `what` otherwise.
SimdLevel parse_simd_level(const std::string& name, const std::string& what);

}  // namespace sphaera::core
