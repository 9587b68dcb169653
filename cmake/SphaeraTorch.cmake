# LibTorch for Sphaera: the one inside PyPI's `torch` wheel (pinned in scripts/install_deps.sh, installed
# into the project's .venv), found with no flag from the user. Included by the top-level CMakeLists.txt and
# by the installed SphaeraConfig.cmake, so the library and its C++ users see the same LibTorch.
#
# In:  SPHAERA_CUDA        ON: the CUDA build (LibTorch's own CMake config, which needs the CUDA toolkit);
#                          OFF: CPU only (libtorch_cpu and libc10, no toolkit needed).
#      SPHAERA_TORCH_ROOT  optional: the torch package folder (holding include/, lib/, share/cmake/Torch).
#                          Otherwise Torch_DIR, then CMAKE_PREFIX_PATH, then <source>/.venv are searched.
# Out: the target sphaera_torch (INTERFACE IMPORTED GLOBAL), SPHAERA_TORCH_ROOT, SPHAERA_TORCH_LIB_DIR.
if(TARGET sphaera_torch)
  return()
endif()

if(NOT SPHAERA_TORCH_ROOT)
  set(_sphaera_torch_hints "")
  if(Torch_DIR)
    list(APPEND _sphaera_torch_hints "${Torch_DIR}")
  endif()
  foreach(prefix IN LISTS CMAKE_PREFIX_PATH)
    list(APPEND _sphaera_torch_hints "${prefix}/share/cmake/Torch" "${prefix}/Torch" "${prefix}")
  endforeach()
  if(DEFINED PROJECT_SOURCE_DIR)
    file(GLOB _sphaera_venv_torch "${PROJECT_SOURCE_DIR}/.venv/lib/python3*/site-packages/torch/share/cmake/Torch")
    list(APPEND _sphaera_torch_hints ${_sphaera_venv_torch})
  endif()
  find_path(SPHAERA_TORCH_CMAKE_DIR TorchConfig.cmake HINTS ${_sphaera_torch_hints} NO_DEFAULT_PATH)
  if(NOT SPHAERA_TORCH_CMAKE_DIR)
    message(FATAL_ERROR
      "Sphaera: LibTorch not found. Run scripts/install_deps.sh (it installs PyPI's torch wheel into .venv), "
      "or pass the torch package's CMake prefix: -DCMAKE_PREFIX_PATH=$(python3 -c "
      "'import torch; print(torch.utils.cmake_prefix_path)')")
  endif()
  get_filename_component(SPHAERA_TORCH_ROOT "${SPHAERA_TORCH_CMAKE_DIR}/../../.." ABSOLUTE)
endif()
set(SPHAERA_TORCH_LIB_DIR "${SPHAERA_TORCH_ROOT}/lib")
file(STRINGS "${SPHAERA_TORCH_ROOT}/version.py" _sphaera_torch_version REGEX "^__version__")
string(REGEX REPLACE "^__version__ *= *'([^']*)'.*" "\\1" SPHAERA_TORCH_VERSION "${_sphaera_torch_version}")

add_library(sphaera_torch INTERFACE IMPORTED GLOBAL)
# libtorch.so of the wheel exports its own copy of part of std::filesystem (from the static libstdc++ of the
# toolchain that built it), whose remove_all calls through a null weak reference when it wins symbol lookup
# (a segfault in any std::filesystem::remove_all). Symbols resolve in the order of an executable's NEEDED
# entries: linking libstdc++ before LibTorch makes the system's definitions win in everything that links us.
set_property(TARGET sphaera_torch APPEND PROPERTY INTERFACE_LINK_LIBRARIES
  "-Wl,--push-state,--no-as-needed" stdc++ "-Wl,--pop-state")
set_target_properties(sphaera_torch PROPERTIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
  "${SPHAERA_TORCH_ROOT}/include;${SPHAERA_TORCH_ROOT}/include/torch/csrc/api/include")
set_target_properties(sphaera_torch PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
  "${SPHAERA_TORCH_ROOT}/include;${SPHAERA_TORCH_ROOT}/include/torch/csrc/api/include")

if(SPHAERA_CUDA)
  # Torch's config enables the CUDA language and finds the toolkit; it refuses a toolkit whose version
  # differs from the one the wheel was built with.
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0")  # no GPU to detect on build machines: A100 and H100/H200
  endif()
  # Sphaera's CUDA code is host code (cuSPARSE calls): it needs no CUDA architectures of its own.
  # LibTorch's config warns about optional parts the wheel leaves out (kineto): errors only.
  set(_sphaera_log_level "${CMAKE_MESSAGE_LOG_LEVEL}")
  set(CMAKE_MESSAGE_LOG_LEVEL ERROR)
  find_package(Torch REQUIRED CONFIG PATHS "${SPHAERA_TORCH_ROOT}/share/cmake/Torch" NO_DEFAULT_PATH)
  set(CMAKE_MESSAGE_LOG_LEVEL "${_sphaera_log_level}")
  set_property(TARGET sphaera_torch APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${TORCH_LIBRARIES})
  set_property(TARGET sphaera_torch APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS SPHAERA_WITH_CUDA=1)
else()
  foreach(lib torch_cpu c10)
    find_library(SPHAERA_TORCH_${lib}_LIBRARY ${lib} PATHS "${SPHAERA_TORCH_LIB_DIR}" NO_DEFAULT_PATH REQUIRED)
    set_property(TARGET sphaera_torch APPEND PROPERTY INTERFACE_LINK_LIBRARIES "${SPHAERA_TORCH_${lib}_LIBRARY}")
  endforeach()
endif()
# LibTorch 2.11's wheels are built with the C++11 ABI of libstdc++ only (torch._C._GLIBCXX_USE_CXX11_ABI is
# True), the ABI GCC 12 and Debian's libraries (yaml-cpp, HEALPix C++) use by default: no flag is needed, and
# sphaera/core/torch_abi_check.cpp refuses to compile under the other one.
