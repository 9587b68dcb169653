#!/usr/bin/env bash
# Builds test suites with AddressSanitizer and UndefinedBehaviorSanitizer (-DSPHAERA_SANITIZE=address,undefined,
# CPU only) into build-sanitize/ and runs them; any report fails the run. scripts/test.sh (and so CI) runs the
# core, transforms and data_tools suites this way, the transforms twice (native and portable kernels).
#
#   scripts/sanitize.sh [SUITE...]     SUITE: core, transforms, models, data_tools, train
#                                      (default: core transforms data_tools; needs scripts/install_deps.sh)
# Reports name the file and line; the build is the Release one plus -g1, so the stack traces are usable.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n 2,8p "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(core transforms data_tools)
targets=()
for s in "${suites[@]}"; do
  case "$s" in
    core|transforms|models|data_tools|train) targets+=("test_$s") ;;
    *) echo "sanitize: unknown suite '$s' (core, transforms, models, data_tools, train)" >&2; exit 2 ;;
  esac
done
[[ " ${suites[*]} " == *" train "* ]] && targets+=(sphaera_cli)  # the train suite runs the command line

build=build-sanitize
cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release -DSPHAERA_SANITIZE=address,undefined -DSPHAERA_CUDA=OFF \
  -DSPHAERA_BUILD_BENCH=OFF >/dev/null
echo "sanitize: building ${targets[*]} with -fsanitize=address,undefined into $build/"
cmake --build $build -j"$(nproc)" --target "${targets[@]}"

# Leaks are checked (suppressions: LibTorch's own start-up allocations); a failed allocation returns NULL as
# glibc's does (the FITS readers rely on cfitsio checking it).
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=2
failed=()
run() {
  local name=$1; shift
  local log=$build/sanitize_$name.log
  local start=$SECONDS rc=0
  (cd $build/tests && "$@") >"$log" 2>&1 || rc=$?
  local summary
  summary=$(grep -E '^\[  (PASSED|FAILED)  \]' "$log" | head -2 | tr '\n' ' ')
  if [[ $rc -eq 0 ]] && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
    echo "sanitize: $name: clean, ${summary:-no summary} ($((SECONDS - start)) s)"
  else
    echo "sanitize: $name: FAILED (exit $rc): see $log" >&2
    grep -E -m5 'ERROR: |runtime error:|^\[  FAILED  \]' "$log" >&2 || true
    failed+=("$name")
  fi
}
for s in "${suites[@]}"; do
  run "$s" "./test_$s"
  if [[ $s == core || $s == transforms ]]; then run "${s}_generic" env SPHAERA_SIMD=generic "./test_$s"; fi
done
if [[ ${#failed[@]} -gt 0 ]]; then echo "sanitize: reports in ${failed[*]}" >&2; exit 1; fi
echo "sanitize: ${suites[*]}: no sanitizer reports"
