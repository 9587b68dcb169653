#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (one CTest test per GoogleTest case), then the core,
# transforms and data_tools suites again built with AddressSanitizer and UBSan (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2 "$@"
bash scripts/sanitize.sh
