#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (build-fuzz/, AddressSanitizer and
# UndefinedBehaviorSanitizer) and runs each for SECONDS (default 45), starting from its seed
# corpus in fuzz/corpus/<target>/. A crash stops the run and fails; the input that made it is
# left in build-fuzz/artifacts/: copy it into fuzz/regressions/<target>/ and CTest replays it
# from then on (tests/reliability_fuzz_replay_test.cpp). See docs/RELIABILITY.md.
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
cmake --build build-fuzz -j"$(nproc)" "${build_targets[@]}"
mkdir -p build-fuzz/artifacts
for target in "${targets[@]}"; do
  # The working corpus grows in build-fuzz; the seeds in the tree stay as they are.
  corpus="build-fuzz/corpus/$target"
  mkdir -p "$corpus"
  seeds=("fuzz/corpus/$target")
  [ -d "fuzz/regressions/$target" ] && seeds+=("fuzz/regressions/$target")
  echo "fuzzing $target for ${seconds}s"
  "build-fuzz/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$target-" "$corpus" "${seeds[@]}" \
    2>"build-fuzz/$target.log" || { tail -n 60 "build-fuzz/$target.log"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::new_units_added" "build-fuzz/$target.log" | tr '\n' ' '
  echo
done
