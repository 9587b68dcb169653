#!/usr/bin/env bash
# The quickstart: installs what is missing, builds, and trains the DeepSphere classifier of
# configs/quickstart.yaml (synthetic Gaussian vs lognormal skies, generated on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
./build/sphaera train configs/quickstart.yaml "$@"
