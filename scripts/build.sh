#!/usr/bin/env bash
# Configures and builds Sphaera (library, `sphaera` command line, tests, benchmarks) into ./build.
# ccache and a precompiled torch header keep rebuilds fast.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
