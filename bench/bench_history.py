#!/usr/bin/env python3
"""Memory of the statistics history: what 1000 domains' histories allocate (their hour rings at
the step the default [history] memory-mib gives them), and how much more after a simulated
month of samples (the unit test's allocation count, tests/unit/test-history,
which drives hvd's own history code with a fake clock)."""
import re
import subprocess
import sys

import benchlib
from hvd_harness import build_dir

LINE = re.compile(r"history of (\d+) domains: (\d+) bytes each, ([0-9.]+) MiB in all; "
                  r"(-?\d+) bytes more after a month of samples")


def main():
    binary = build_dir() / "tests" / "unit" / "test-history"
    p = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        print(f"test-history failed or printed no figures:\n{p.stdout}{p.stderr}")
        return 1
    domains, each, total_mib, grown = int(m[1]), int(m[2]), float(m[3]), int(m[4])
    rows = [(f"history of one of {domains} domains (its hour ring at the default budget's step)",
             each / 1024, None, "-", "KiB", "lower"),
            (f"histories of {domains} domains", total_mib, None, "-", "MiB", "lower"),
            ("growth after a month of samples", grown, None, "target: 0", "bytes", "lower")]
    benchlib.print_table("Statistics history: memory", rows)
    benchlib.save("history", {"domains": domains, "bytes_each": each, "total_mib": total_mib,
                              "grown_bytes": grown})
    return 0 if grown == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
