#!/usr/bin/env bash
# The test command: installs dependencies, builds once and runs every Catch2 test via CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
