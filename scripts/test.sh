#!/usr/bin/env bash
# The test command: installs dependencies, builds once and runs every Catch2 test via CTest; then
# the reliability stages of docs/RELIABILITY.md: the whole suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/), and each libFuzzer target for a bounded time
# (build-fuzz/).
#   LOYALTY_SANITIZE_STAGE=0   skip the sanitizer stage      LOYALTY_FUZZ_SECONDS=N  per fuzzer (45; 0 skips)
#   LOYALTY_TSAN=1             add ThreadSanitizer for the networking tests (build-tsan/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
stage() { echo "== $1 ($(date -u +%H:%M:%S))"; }
if [ "${LOYALTY_SANITIZE_STAGE:-1}" != 0 ]; then
  stage "AddressSanitizer + UndefinedBehaviorSanitizer"
  scripts/sanitize.sh address
fi
if [ "${LOYALTY_TSAN:-0}" = 1 ]; then
  stage "ThreadSanitizer"
  scripts/sanitize.sh thread
fi
if [ "${LOYALTY_FUZZ_SECONDS:-45}" != 0 ]; then
  stage "fuzzing"
  scripts/fuzz.sh "${LOYALTY_FUZZ_SECONDS:-45}"
fi
stage "done"
