#!/usr/bin/env bash
# Installs what Sphaera needs, and only what is missing:
#   1. the Debian 12 packages below (apt-get);
#   2. LibTorch: PyPI's torch wheel, pinned, in the project's own virtual environment .venv (git ignores it).
# Idempotent: when everything is present it changes nothing, needs no network and takes well under a second.
#
#   scripts/install_deps.sh [--fuzz]     --fuzz: also clang and libFuzzer's runtime (scripts/fuzz.sh)
#
# Why torch 2.11.0: its Linux wheel on PyPI is built for CUDA 13.0, the major version (and the minor) of the
# toolkit that compiles Sphaera's own CUDA code (nvcc 13.0), and LibTorch's CMake config refuses any other;
# it is the torch of the GPU machines we check on (2.11+cu130); its libraries use the C++11 ABI of
# libstdc++ (torch._C._GLIBCXX_USE_CXX11_ABI is True), as Debian's yaml-cpp and HEALPix C++ do. The wheel
# brings its CUDA libraries (nvidia-* wheels) and runs on machines without a GPU or toolkit.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0

with_fuzz=0
for arg in "$@"; do
  case "$arg" in
    --fuzz) with_fuzz=1 ;;
    -h|--help) sed -n 2,14p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install_deps: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config ccache
  libopenblas0-pthread
  libhealpix-cxx-dev healpy-data libcfitsio-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libcairo2-dev
  googletest libgtest-dev libbenchmark-dev
  # NetCDF (the climate data readers) and Gloo (distributed training): installed for the work that will use
  # them; nothing links them yet.
  libnetcdf-dev libgloo-dev
  # The virtual environment that holds LibTorch.
  python3 python3-venv
  # Used by tests only, to compare with peers (never by the product).
  python3-numpy python3-scipy python3-healpy
)

# libFuzzer (scripts/fuzz.sh only): Debian's clang and its runtime libraries, which hold libFuzzer.
if [ $with_fuzz -eq 1 ]; then packages+=(clang libclang-rt-dev); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} Debian packages present"
else
  echo "install_deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
  else
    SUDO=
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# LibTorch. The check reads the wheel's metadata folder: no Python start-up, no network.
venv=.venv
if compgen -G "$venv/lib/python3*/site-packages/torch-${TORCH_VERSION}.dist-info" >/dev/null; then
  echo "install_deps: torch ${TORCH_VERSION} present in $venv"
else
  echo "install_deps: installing torch ${TORCH_VERSION} (LibTorch) into $venv (about 4.6 GB)"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off "torch==${TORCH_VERSION}"
fi
