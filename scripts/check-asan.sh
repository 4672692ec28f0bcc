#!/usr/bin/env bash
# Builds an AddressSanitizer + UBSan tree (check-asan.sh [DIR], default build-asan) and runs the
# unit tests and the daemon-facing integration tests against it; tests/integration/hvd_harness.py
# fails a test on any sanitizer report (leaks at hvd's exit included) or abnormal exit of hvd.
# `check-asan.sh --list` prints those test files, one per line: scripts/check.sh runs them here
# only, not again against the plain build.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-asan}
tests=(test_lifecycle.py test_daemon.py test_faults.py test_http_api.py test_dbus_api.py
    test_hvd_minihv.py test_persistence.py test_allocation.py test_hvctl.py test_hvctl_http.py
    test_reload.py test_http_hostile.py test_minihv_wedged.py test_auth.py test_hvd_networks.py
    test_hvd_snapshot.py test_hvd_nat.py test_minihv_migrate.py test_cluster.py test_cluster_migrate.py
    test_http_vnc.py test_hvd_migrate.py test_warm_pool.py test_host_limits.py test_tls.py
    test_cluster_fence.py test_warm_pool_restore.py test_minihv_destroy_early.py
    test_minihv_one_fd.py test_history_budget.py test_minihv_stats_page.py test_metrics_counters.py
    test_minihv_spawner.py)

if [ "$dir" = --list ]; then
    printf 'tests/integration/%s\n' "${tests[@]}"
    exit 0
fi
if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Db_sanitize=address,undefined >/dev/null
fi
# a full build of the tree is about 20 s on two cores, then incremental
meson compile -C "$dir" >/dev/null
status=0
# the options hvd_harness.sanitizer_env() gives hvd (why intercept_tls_get_addr=0: see there)
ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:intercept_tls_get_addr=0 \
    UBSAN_OPTIONS=abort_on_error=1:halt_on_error=1:print_stacktrace=1 \
    meson test -C "$dir" --print-errorlogs --suite unit || status=1
HVD_BUILD_DIR="$PWD/$dir" /usr/bin/python3 -m pytest -v -ra --color=no \
    "${tests[@]/#/tests/integration/}" || status=1
exit $status
