#!/usr/bin/env bash
# Runs every test suite against a built tree and prints one summary; exits non-zero if any failed.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
root=$PWD
export HVD_BUILD_DIR="$root/$build"

results=()
failed=0
run_suite() {
    local name=$1
    shift
    echo "=== $name: $*"
    local start=$SECONDS
    if "$@"; then
        results+=("PASS $name ($((SECONDS - start)) s)")
    else
        results+=("FAIL $name ($((SECONDS - start)) s)")
        failed=1
    fi
}

run_suite format ninja -C "$build" format-check
run_suite merge-markers scripts/check-merge-markers.sh
# docs/openapi.json against Redocly's recommended rules (docs/redocly.yaml), offline: no
# telemetry, no update check
run_suite openapi-lint env REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    docs/node_modules/.bin/redocly lint --config docs/redocly.yaml docs/openapi.json
run_suite unit meson test -C "$build" --print-errorlogs --suite unit
if [ -d tests/integration ] && ls tests/integration/test_*.py >/dev/null 2>&1; then
    # the daemon-facing tests run once, against the sanitizer build (below); the plain build
    # runs the rest: libvirtd and QEMU, systemd, speed and memory bounds, installed files
    mapfile -t sanitized < <(scripts/check-asan.sh --list)
    run_suite integration /usr/bin/python3 -m pytest -v -ra --color=no --durations=25 \
        "${sanitized[@]/#/--ignore=}" tests/integration
fi
# hvd, hvctl and the minihv VMM built with AddressSanitizer + UBSan in a second tree: the
# daemon-facing tests, where any sanitizer report or abnormal exit of hvd fails a test
run_suite asan scripts/check-asan.sh "${HVD_ASAN_BUILD_DIR:-build-asan}"
# the web dashboard in headless Chromium, and what it needs from the HTTP API
if [ -d tests/web ]; then
    run_suite web /usr/bin/python3 -m pytest -v -ra --color=no tests/web
fi
# libFuzzer targets (clang, separate build dir), a bounded run from the committed seeds
run_suite fuzz tests/fuzz/run-fuzz.sh 6

echo "=== summary"
printf '%s\n' "${results[@]}"
exit $failed
