#!/usr/bin/env bash
# The test command: installs dependencies, builds once with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/) and runs every Catch2 test there via CTest, so each
# test runs once and any memory error or undefined behaviour fails it; then the other
# reliability stages of docs/RELIABILITY.md: the HTTP server's test under ThreadSanitizer
# (build-tsan/), and each libFuzzer target for a bounded time (build-fuzz/).
#   LOYALTY_SANITIZE_STAGE=0   no sanitizers: the tests run in the optimised build/ instead
#   LOYALTY_FUZZ_SECONDS=N     per fuzzer (45; 0 skips)
#   LOYALTY_TSAN=1             ThreadSanitizer for all the networking tests, not only the HTTP server's
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
stage() { echo "== $1 ($(date -u +%H:%M:%S))"; }
if [ "${LOYALTY_SANITIZE_STAGE:-1}" = 0 ]; then
  stage "every test, optimised build"
  scripts/build.sh
  ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
else
  stage "every test under AddressSanitizer + UndefinedBehaviorSanitizer"
  scripts/sanitize.sh address
fi
if [ "${LOYALTY_TSAN:-0}" = 1 ]; then
  stage "ThreadSanitizer: the networking tests"
  scripts/sanitize.sh thread
elif [ "${LOYALTY_SANITIZE_STAGE:-1}" != 0 ]; then
  # The HTTP server's I/O and handler threads, in a few minutes; the rest needs a second build
  # of most of the tree, so it is opt-in.
  stage "ThreadSanitizer: http_server_test"
  scripts/sanitize.sh thread http_server_test
fi
if [ "${LOYALTY_FUZZ_SECONDS:-45}" != 0 ]; then
  stage "fuzzing"
  scripts/fuzz.sh "${LOYALTY_FUZZ_SECONDS:-45}"
fi
stage "done"
