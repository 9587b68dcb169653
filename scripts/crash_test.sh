#!/usr/bin/env bash
# Crash safety, the long way: kills single-process training runs with SIGKILL at 20 random moments (cosine
# schedule with warm-up, dropout, batch norm, noise augmentation, 2 threads), resumes each until it finishes,
# and checks the final weights equal an uninterrupted run's bit for bit and no checkpoint is ever partial.
# CI runs the same test with 3 kills (FaultsTest in tests/train/faults_test.cpp).
#
#   scripts/crash_test.sh [KILLS]      (default 20; needs a build: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-20}
if [[ "$kills" == "-h" || "$kills" == "--help" ]]; then sed -n 2,7p "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
[[ -x build/tests/test_train ]] || { echo "crash_test: build/tests/test_train is missing; run scripts/build.sh" >&2; exit 1; }
SPHAERA_CRASH_KILLS="$kills" exec build/tests/test_train --gtest_filter='FaultsTest.KilledAtRandomMomentsAndResumedEndsBitIdentical'
