#!/usr/bin/env bash
# Fuzzes Sphaera's readers with libFuzzer (clang), each target for a bounded number of executions or time:
#   fuzz_config         the YAML experiment config (parse, --set overrides, validation, written-back round trip)
#   fuzz_healpix_map    HEALPix FITS maps (header sniffing, every column type, partial sky)
#   fuzz_alm            FITS alm tables
#   fuzz_manifest       CSV manifests of maps and labels
#   fuzz_matrix_market  the Matrix Market writer, checked by reading back what it wrote
# Builds tests/fuzz (its own CMake project, AddressSanitizer + UBSan) into build-fuzz/ and runs every target
# on a copy of its seed corpus tests/fuzz/corpus/<target> (new inputs go to build-fuzz/corpus/<target>, never
# into the source tree). A crash, sanitizer report or failed property is saved under build-fuzz/findings/
# and makes the script exit 1; it then belongs in a regression test (see tests/fuzz/README.md).
#
#   scripts/fuzz.sh [--runs N | --seconds S] [--jobs J] [TARGET...]
#     --runs N      executions per target (default 1000000)
#     --seconds S   time per target instead of a number of executions
#     --jobs J      targets fuzzed at once (default 1)
#     TARGET        healpix_map, alm, config, matrix_market, manifest (default: all)
# Installs clang and libFuzzer's runtime (Debian packages) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(healpix_map alm config matrix_market manifest)  # slowest first: they start first with --jobs
runs=1000000
seconds=
jobs=1
targets=()
usage() { sed -n 2,19p "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --runs) runs=${2:?--runs needs a number}; seconds=; shift 2 ;;
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      if [[ " ${all_targets[*]} " != *" $1 "* ]]; then
        echo "fuzz: unknown target '$1'; the targets are: ${all_targets[*]}" >&2; exit 2
      fi
      targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for v in "$runs" "$jobs" ${seconds:+"$seconds"}; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: '$v' is not a positive whole number" >&2; exit 2; }
done

bash scripts/install_deps.sh --fuzz >/dev/null
build=build-fuzz
if [[ ! -f $build/CMakeCache.txt ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S tests/fuzz -B $build -DCMAKE_CXX_COMPILER=clang++ "${generator[@]}" >/dev/null
fi
cmake --build $build -j"$(nproc)" >/dev/null

mkdir -p $build/findings
export OMP_NUM_THREADS=1  # the readers' OpenMP loops: one thread, so a finding replays exactly
# A failed allocation returns NULL, as glibc's does (cfitsio checks it: a header with TFIELDS = 2^63 must be an
# error, not an AddressSanitizer abort); allocations above -rss_limit_mb are still findings.
export ASAN_OPTIONS=allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
failed=()
run_target() {
  local t=$1 dict=() limit
  local work=$build/corpus/$t log=$build/fuzz_$t.log
  mkdir -p "$work"
  case $t in
    config) dict=(-dict=tests/fuzz/dict/config.dict) ;;
    healpix_map|alm) dict=(-dict=tests/fuzz/dict/fits.dict) ;;
    manifest) dict=(-dict=tests/fuzz/dict/manifest.dict) ;;
  esac
  if [[ -n "$seconds" ]]; then limit=(-max_total_time="$seconds"); else limit=(-runs="$runs"); fi
  # -max_len: FITS needs a few 2880-byte blocks; text inputs stay small. -timeout: a hang is a finding.
  "$build/fuzz_$t" "${limit[@]}" "${dict[@]}" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$t-" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
}
report() {
  local t=$1 rc=$2 log=$build/fuzz_$1.log
  local done_line execs secs
  done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
  execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -1 || true)
  secs=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' <<<"$done_line")
  if [[ $rc -eq 0 ]]; then
    printf 'fuzz: %-14s %10s executions in %5s s, 0 findings, corpus %s inputs\n' "$t" "${execs:-?}" \
      "${secs:-?}" "$(ls "$build/corpus/$t" | wc -l)"
  else
    printf 'fuzz: %-14s FAILED (exit %d) after %s executions: see %s and %s\n' "$t" "$rc" "${execs:-?}" \
      "$log" "$(ls -t "$build"/findings/"$t"-* 2>/dev/null | head -1)"
    failed+=("$t")
  fi
}

if [[ -n "$seconds" ]]; then budget="$seconds s"; else budget="$runs executions"; fi
echo "fuzz: ${targets[*]}: $budget each, $jobs at a time (logs in $build/)"
declare -A target_of=()
for t in "${targets[@]}"; do
  while [[ ${#target_of[@]} -ge $jobs ]]; do  # a pool of $jobs: start the next target when one ends
    rc=0
    wait -n -p done_pid || rc=$?
    report "${target_of[$done_pid]}" "$rc"
    unset "target_of[$done_pid]"
  done
  run_target "$t" &
  target_of[$!]=$t
done
while [[ ${#target_of[@]} -gt 0 ]]; do
  rc=0
  wait -n -p done_pid || rc=$?
  report "${target_of[$done_pid]}" "$rc"
  unset "target_of[$done_pid]"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings"
