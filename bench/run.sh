#!/usr/bin/env bash
# run.sh: builds the benchmarks and runs them all, each printing its figures next to a baseline
# measured in the same run (docs/BENCHMARKS.md). Not part of CTest or .ci/run.
#
#   bench/run.sh [BUILD_DIR]        (default: build-bench, configured Release with benchmarks)
#
# Sizes, from the environment (defaults in brackets):
#   LOYALTY_BENCH_PURCHASES [2000]          checkout: purchases per run
#   LOYALTY_BENCH_TILL_MEMBERS [100000]     checkout: members in loyaltyd's database (memory)
#   LOYALTY_BENCH_TILL_HISTORY [1]          checkout: earlier purchases each of them made
#   LOYALTY_BENCH_TILLS [50]                ingest: tills sending at once
#   LOYALTY_BENCH_EVENTS_PER_TILL [400]     ingest: events each of them sends
#   LOYALTY_BENCH_CATCH_UP_EVENTS [10000]   ingest: events of the till that was offline a week
#   LOYALTY_BENCH_RFM_MEMBERS ["100000 1000000"]  RFM and k-means, C++ against pandas/numpy
#   LOYALTY_BENCH_SEGMENTATION_MEMBERS [1000000]  head office's whole segmentation (0: skip)
#   LOYALTY_BENCH_JOBS [2]                  parallel compile jobs
# Everything is written under a fresh directory in $TMPDIR, removed at the end (the RFM
# comparison's CSV export is over a gigabyte for a million members). Exits non-zero if a benchmark's correctness check failed, never
# because something was slow.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
python=/usr/bin/python3

if ! "$python" -c 'import pandas' 2>/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: the Python baseline needs pandas: sudo apt-get install -y python3-pandas" >&2
        exit 2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pandas >/dev/null
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOYALTY_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "${LOYALTY_BENCH_JOBS:-2}" \
    --target checkout_bench ingest_bench rfm_kmeans_bench segmentation_bench

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch  # the benchmarks' own temporary directories, apart from other runs' clean-ups
passed=0
failed=0
run() {  # run COMMAND...: runs a benchmark, counts whether its correctness check held
    echo
    echo "== $*"
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $*"; fi
}

run "$build/bench/checkout_bench" "${LOYALTY_BENCH_PURCHASES:-2000}" "${LOYALTY_BENCH_TILL_MEMBERS:-100000}" \
    "${LOYALTY_BENCH_TILL_HISTORY:-1}"
run "$build/bench/ingest_bench" "${LOYALTY_BENCH_EVENTS_PER_TILL:-400}" "${LOYALTY_BENCH_CATCH_UP_EVENTS:-10000}" \
    "${LOYALTY_BENCH_TILLS:-50}"
for members in ${LOYALTY_BENCH_RFM_MEMBERS:-100000 1000000}; do
    csv=$scratch/chain-$members.csv
    "$build/bench/rfm_kmeans_bench" --write-csv "$csv" --members "$members"
    run "$build/bench/rfm_kmeans_bench" --csv "$csv" --out "$scratch/cpp-$members"
    run "$python" bench/segmentation_baseline.py "$csv" "$scratch/cpp-$members"
    rm -f "$csv"
done
segmentation_members=${LOYALTY_BENCH_SEGMENTATION_MEMBERS:-1000000}
if [ "$segmentation_members" -gt 0 ]; then
    run "$build/bench/segmentation_bench" --members "$segmentation_members"
fi

echo
echo "bench/run.sh: $passed passed, $failed failed (correctness checks; figures above)"
[ "$failed" -eq 0 ]
