#!/usr/bin/env bash
# Installs the built project into a temporary prefix, then configures, builds and runs a consumer
# project that only says find_package(Sphaera) and links Sphaera::sphaera.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/sphaera/sphaera.h"
cmake -S "$source_dir/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
# The installed command line: the transform verbs run in the executable itself, every other verb loads
# libsphaera_train from ../lib (dlopen through the executable's RUNPATH).
"$work/prefix/bin/sphaera" map2alm --help | grep -q -- "--lmax"
"$work/prefix/bin/sphaera" --version | grep -q "sphaera 0.1.0"
"$work/prefix/bin/sphaera" graph --nside 2 --k 8 | grep -q "vertices: 48"
