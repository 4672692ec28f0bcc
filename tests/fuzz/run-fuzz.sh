#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in a separate build dir and runs each for a bounded
# time from its committed seed corpus: run-fuzz.sh [SECONDS] (default 20). Crashing inputs are
# kept in <build-fuzz>/fuzz-artifacts/.
set -euo pipefail
seconds=${1:-20}
cd "$(dirname "$0")/../.."
dir=${FUZZ_BUILD_DIR:-build-fuzz}
targets=(minihv minihv-snapshot minihv-migrate config settings http-route websocket cluster-view)

if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" -Dfuzzing=true >/dev/null
fi
for t in "${targets[@]}"; do
    meson compile -C "$dir" "tests/fuzz/fuzz-$t" >/dev/null
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir/fuzz-artifacts"
status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    # hvd's parsers are small: half the time of the VMM's much larger surface.
    [ "${t%%-*}" = minihv ] && run=$seconds || run=$(( (seconds + 1) / 2 ))
    echo "fuzz-$t: ${run} s from tests/fuzz/corpus/$t"
    # new inputs go to the scratch corpus (first directory), never into the committed seeds
    if ! "$dir/tests/fuzz/fuzz-$t" -max_total_time="$run" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$dir/fuzz-artifacts/" \
        "$work/$t" "tests/fuzz/corpus/$t" 2>"$work/$t.log"; then
        tail -n 40 "$work/$t.log"
        status=1
    else
        grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" "$work/$t.log" || true
    fi
done
exit $status
