#!/usr/bin/env bash
# Installs the Debian 12 packages Sphaera needs, and only those that are missing.
# Idempotent: when everything is present it changes nothing and needs no network.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libtorch-dev libopenblas0-pthread
  libhealpix-cxx-dev healpy-data libcfitsio-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libcairo2-dev
  googletest libgtest-dev libbenchmark-dev
  libnetcdf-dev libgloo-dev
  # Used by tests only, to compare with peers (never by the product).
  python3 python3-numpy python3-scipy python3-healpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
