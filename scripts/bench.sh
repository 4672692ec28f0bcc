#!/usr/bin/env bash
# Runs every benchmark in bench/ against a built tree; each measures hvd and its reference
# tools in the same run. Ends with one table of every result (bench/summary.py).
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
export HVD_BUILD_DIR="$PWD/$build"
rm -rf bench/results
status=0
for b in bench/bench_*.py; do
    echo "=== $b"
    /usr/bin/python3 "$b" || status=1
done
/usr/bin/python3 bench/summary.py || status=1
exit $status
