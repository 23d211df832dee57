#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (build-fuzz/, AddressSanitizer and
# UndefinedBehaviorSanitizer) and runs each for SECONDS (default 45), one per core at a time,
# starting from its seed corpus in fuzz/corpus/<target>/. A crash fails the run; the input that
# made it is left in build-fuzz/artifacts/: copy it into fuzz/regressions/<target>/ and CTest
# replays it from then on (tests/reliability_fuzz_replay_test.cpp). See docs/RELIABILITY.md.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-45}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_frame_decoder fuzz_rules fuzz_till_config fuzz_till_requests)
compiler="$(command -v clang++-16 || command -v clang++)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DLOYALTY_FUZZ=ON -DLOYALTY_BUILD_TESTS=OFF \
  "-DLOYALTY_SANITIZE=address;undefined" >/dev/null
build_targets=()
for target in "${targets[@]}"; do build_targets+=(--target "$target"); done
jobs="$(nproc)"
cmake --build build-fuzz -j"$jobs" "${build_targets[@]}"
mkdir -p build-fuzz/artifacts
# One target's run; its libFuzzer output goes to build-fuzz/<target>.log.
fuzz_one() {
  local target="$1"
  # The working corpus grows in build-fuzz; the seeds in the tree stay as they are.
  local corpus="build-fuzz/corpus/$target"
  mkdir -p "$corpus"
  local seeds=("fuzz/corpus/$target")
  [ -d "fuzz/regressions/$target" ] && seeds+=("fuzz/regressions/$target")
  "build-fuzz/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$target-" "$corpus" "${seeds[@]}" \
    2>"build-fuzz/$target.log"
}
# Each fuzzer is one process on one core: as many run at once as there are cores.
failed=0
for ((first = 0; first < ${#targets[@]}; first += jobs)); do
  group=("${targets[@]:first:jobs}")
  pids=()
  for target in "${group[@]}"; do
    echo "fuzzing $target for ${seconds}s"
    fuzz_one "$target" &
    pids+=($!)
  done
  for i in "${!group[@]}"; do
    target="${group[$i]}"
    if wait "${pids[$i]}"; then
      echo "$target: $(grep -E "stat::number_of_executed_units|stat::new_units_added" "build-fuzz/$target.log" | tr '\n' ' ')"
    else
      echo "$target FAILED:"; tail -n 60 "build-fuzz/$target.log" || true; failed=1
    fi
  done
  [ "$failed" = 0 ] || exit 1
done
