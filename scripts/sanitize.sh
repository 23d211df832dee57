#!/usr/bin/env bash
# Builds and runs the tests under sanitizers, each in its own build directory (docs/RELIABILITY.md).
#   scripts/sanitize.sh address   every test under AddressSanitizer + UndefinedBehaviorSanitizer
#                                 (build-asan/)
#   scripts/sanitize.sh thread [TEST...]
#                                 the networking tests (or the ones named) under ThreadSanitizer
#                                 (build-tsan/)
# Any finding stops the test that made it (-fno-sanitize-recover=all, halt_on_error) and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-address}"
jobs="$(nproc)"
# -O0 -g1: about half the compile time of -O1 (the tests wait on fsync and sockets more than on
# the CPU), and line tables so that every report names file and line. The test programs keep
# -O0 too (tests/CMakeLists.txt), where Catch2 and nlohmann/json are then precompiled
# (LOYALTY_PCH).
flags=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -g1")
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
case "$kind" in
  address)
    cmake -S . -B build-asan "${flags[@]}" "-DLOYALTY_SANITIZE=address;undefined" >/dev/null
    cmake --build build-asan -j"$jobs"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
    ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900
    ;;
  thread)
    # The tests with sockets, threads and coroutines; the core is single-threaded by design.
    tests=("${@:2}")
    [ ${#tests[@]} -gt 0 ] || tests=(http_server_test loyaltyd_test till_agent_test hq_server_test sync_integration_test)
    cmake -S . -B build-tsan "${flags[@]}" -DLOYALTY_SANITIZE=thread >/dev/null
    targets=()
    for test in "${tests[@]}"; do targets+=(--target "$test"); done
    cmake --build build-tsan -j"$jobs" "${targets[@]}"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    # Only these programs are built; CTest lists every other one as <name>_NOT_BUILT.
    ctest --test-dir build-tsan --output-on-failure -j"$jobs" --timeout 900 -E '_NOT_BUILT'
    ;;
  *)
    echo "usage: scripts/sanitize.sh address|thread" >&2
    exit 2
    ;;
esac
