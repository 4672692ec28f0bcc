#!/usr/bin/env bash
# Formats every tracked C file with the repository's .clang-format, or checks it with --check.
set -euo pipefail
cd "${MESON_SOURCE_ROOT:-$(dirname "$0")/..}"
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
[ ${#files[@]} -gt 0 ] || exit 0
if [ "${1:-}" = "--check" ]; then
    clang-format --dry-run -Werror "${files[@]}"
    echo "format-check: ${#files[@]} files are clang-formatted"
else
    clang-format -i "${files[@]}"
fi
