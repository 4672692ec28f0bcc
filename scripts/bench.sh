#!/usr/bin/env bash
# Runs every benchmark in bench/ against a built tree; each prints hvd against its reference
# tools measured in the same run, as ratios.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
export HVD_BUILD_DIR="$PWD/$build"
status=0
for b in bench/bench_*.py; do
    echo "=== $b"
    /usr/bin/python3 "$b" || status=1
done
exit $status
