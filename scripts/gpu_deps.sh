#!/usr/bin/env bash
# Prepares, on a machine with Debian 12's package lists (a developer's), the Debian libraries Sphaera builds
# against, for a GPU machine that has CUDA, LibTorch and CMake but neither these libraries nor a network:
# downloads their .deb files into .gpu_deps/debs (git ignores it; 31 packages, about 8 MB) for scripts/gpu_check.sh to
# unpack there. Nothing is installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  libhealpix-cxx-dev libhealpix-cxx3 libsharp0 libcfitsio-dev libcfitsio10
  libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libcli11-dev
  libcairo2-dev libcairo2 libpixman-1-0 libfontconfig1 libfreetype6 libpng16-16 libbrotli1 libexpat1
  libx11-6 libxcb1 libxcb-render0 libxcb-shm0 libxext6 libxrender1 libxau6 libxdmcp6 libbsd0 libmd0
  libgtest-dev googletest libbenchmark-dev libbenchmark1debian
)
mkdir -p .gpu_deps/debs
cd .gpu_deps/debs
apt-get download "${packages[@]}"
echo "gpu_deps: $(ls | wc -l) packages, $(du -sh . | cut -f1) in .gpu_deps/debs"
