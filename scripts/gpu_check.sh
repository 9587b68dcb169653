#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, the CUDA toolkit and LibTorch already installed (no network),
# builds Sphaera's CUDA path, runs every CUDA test (each compares with the CPU on the same input) and a short GPU
# benchmark, then prints a table. About 5-8 minutes on 16 cores.
#
#   scripts/gpu_check.sh TORCH_CMAKE_PREFIX [DEPS]
#
# TORCH_CMAKE_PREFIX: python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' there; its CUDA version
# must be the toolkit's (torch 2.11 + CUDA 13.0 here). DEPS (optional): a folder of Debian 12 .deb files made by
# scripts/gpu_deps.sh, for a machine without Sphaera's Debian libraries: they are unpacked into a private root
# and found from there (pkg-config sysroot, CMAKE_PREFIX_PATH, LD_LIBRARY_PATH). Writes build-gpu/ and, when
# $OUT is set, gpu_check.log and gpu_bench.json into it.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: scripts/gpu_check.sh TORCH_CMAKE_PREFIX [DEPS]}
deps=${2:-}
out=${OUT:-build-gpu}
mkdir -p "$out"
log="$out/gpu_check.log"
exec > >(tee "$log") 2>&1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
nvcc --version | tail -1

cmake_args=(-DCMAKE_BUILD_TYPE=Release -DSPHAERA_CUDA=ON -DCMAKE_PREFIX_PATH="$prefix"
            -DTORCH_CUDA_ARCH_LIST=9.0 -DSPHAERA_USE_PCH=ON)
if [ -n "$deps" ]; then
  root=$(mktemp -d /tmp/sphaera-deps.XXXXXX)
  for f in "$deps"/*.deb; do dpkg -x "$f" "$root"; done
  multiarch=usr/lib/x86_64-linux-gnu
  # cairo.pc names private requirements (glib, pixman, X libraries...) whose .pc files come with -dev packages
  # not carried; Sphaera links cairo dynamically and includes none of their headers: empty stand-ins.
  stub="$root/stub-pkgconfig"
  mkdir -p "$stub"
  for pc in gobject-2.0 glib-2.0 pixman-1 fontconfig freetype2 libpng xcb-shm xcb xcb-render xrender x11 xext; do
    [ -f "$root/$multiarch/pkgconfig/$pc.pc" ] ||
      printf 'Name: %s\nDescription: stand-in for a private requirement of cairo\nVersion: 99\n' "$pc" > "$stub/$pc.pc"
  done
  export PKG_CONFIG_SYSROOT_DIR="$root"
  export PKG_CONFIG_LIBDIR="$root/$multiarch/pkgconfig:$root/usr/share/pkgconfig:$stub"
  export LD_LIBRARY_PATH="$root/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CPATH="$root/usr/include${CPATH:+:$CPATH}"
  cmake_args+=(-DCMAKE_PREFIX_PATH="$prefix;$root/usr" -DCMAKE_LIBRARY_PATH="$root/$multiarch"
               -DCMAKE_INCLUDE_PATH="$root/usr/include")
fi

start=$(date +%s)
mkdir -p build-gpu
cmake -S . -B build-gpu "${cmake_args[@]}" > build-gpu/configure.log 2>&1 || { cat build-gpu/configure.log; exit 1; }
grep "Sphaera:" build-gpu/configure.log
cmake --build build-gpu -j"$(nproc)" --target test_core test_transforms test_models test_train gpu_bench
echo "build: $(( $(date +%s) - start )) s"

# Every CUDA test: their names say Cuda or Device; each skips only without a GPU, which must not happen here.
ctest --test-dir build-gpu -R 'Cuda|Device' --output-on-failure -j4 | tee build-gpu/cuda_tests.log
if grep -q "Skipped" build-gpu/cuda_tests.log; then
  echo "gpu_check: CUDA tests were skipped on a machine with a GPU" >&2
  exit 1
fi

build-gpu/bench/gpu_bench --benchmark_out="$out/gpu_bench.json" --benchmark_out_format=json
python3 - "$out/gpu_bench.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
print("\n%-44s %12s %10s" % ("GPU benchmark (float32)", "ms per call", "peak GB"))
for r in runs:
    if r.get("error_occurred"):
        print("%-44s %12s %10s" % (r["name"], r.get("error_message", "error"), ""))
    else:
        print("%-44s %12.2f %10.1f" % (r["name"], r["real_time"], r.get("peak_GB", 0.0)))
PY
echo "gpu_check: $(( $(date +%s) - start )) s in all"
