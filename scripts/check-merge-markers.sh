#!/usr/bin/env bash
# Fails when a tracked file still holds a merge's conflict markers (lines that start with seven
# '<', '=' or '>' as git writes them), naming each; outside a git checkout it has nothing to check.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "not a git checkout: nothing to check"
    exit 0
fi
if git grep -n -I -E '^(<{7} |>{7} |={7}$)' -- . ':!*.patch'; then
    echo "conflict markers left in the files above" >&2
    exit 1
fi
echo "no conflict markers"
