#!/usr/bin/env bash
# Configures and builds into build/ (Release with debug info), reusing an existing build.
# Arguments name the targets to build; none builds everything (tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
