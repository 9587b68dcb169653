// LibTorch 2.11's wheels exist for the C++11 ABI of libstdc++ only; so do Debian's yaml-cpp and HEALPix C++.
// A build under the old ABI would fail to link against them with obscure errors: fail here, clearly.
#include <string>

#if !defined(_GLIBCXX_USE_CXX11_ABI) || _GLIBCXX_USE_CXX11_ABI != 1
#error "Sphaera needs the C++11 ABI of libstdc++ (_GLIBCXX_USE_CXX11_ABI=1), as LibTorch 2 and Debian's libraries"
#endif
