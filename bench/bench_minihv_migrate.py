#!/usr/bin/env python3
"""minihv live migration (bench/minihv/migrate-bench.py prints the details), summarised as rows
against the target: downtime p90 <= 10 ms for a 64 MiB guest, idle and writing 10 MB/s."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import benchlib
from hvd_harness import build_dir

HERE = pathlib.Path(__file__).resolve().parent


def main():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("/dev/kvm is not usable here: minihv migration benchmark skipped")
        return 0
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, str(HERE / "minihv" / "migrate-bench.py"), "--build",
                        str(build_dir()), "--json", out.name], check=True)
        r = json.loads(pathlib.Path(out.name).read_text())
    rows = []
    for name, s in r["scenarios"].items():
        rows.append((f"migration downtime, 64 MiB, {name}, p50", s["downtime_ms_p50"], None, "-",
                     "ms", "lower"))
        rows.append((f"migration downtime, 64 MiB, {name}, p90", s["downtime_ms_p90"], 10.0,
                     "target", "ms", "lower"))
        rows.append((f"migration total time, 64 MiB, {name}, p90", s["total_ms_p90"], None, "-",
                     "ms", "lower"))
    benchlib.print_table("minihv: live migration", rows)
    benchlib.save("minihv-migrate", r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
