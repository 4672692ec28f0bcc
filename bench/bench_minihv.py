#!/usr/bin/env python3
"""minihv on its own: the bench guest in pv and full mode (bench/minihv/minihv-bench.py prints
the details), summarised as rows: pv against full mode per workload, the CPU loop against the
same loop on the host, and the time to the guest's first console byte against QEMU."""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import benchlib
from hvd_harness import build_dir

HERE = pathlib.Path(__file__).resolve().parent


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("/dev/kvm is not usable here: minihv benchmark skipped")
        return 0
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, str(HERE / "minihv" / "minihv-bench.py"), "--build",
                        str(build_dir()), "--json", out.name], check=True)
        r = json.loads(pathlib.Path(out.name).read_text())
    w = r["workloads"]
    rows = []
    units = {"console": "bytes/s", "blkwrite": "sectors/s", "blkread": "sectors/s",
             "clock": "reads/s", "cpu": "loops/s"}
    for name, unit in units.items():
        rows.append((f"{name}: pv mode", w[f"pv/{name}"]["ops_per_s"], w[f"full/{name}"]["ops_per_s"],
                     "minihv full mode", unit, "higher"))
    rows.append(("CPU loop in a pv guest", w["pv/cpu"]["seconds"] * 1000,
                 r["host_cpu"]["seconds"] * 1000, "same loop on the host", "ms", "lower"))
    boot = r["boot_seconds"]
    qemu = median(boot.get("qemu-tcg", []))
    rows.append(("minihv run -> first console byte (pv)", median(boot["minihv-pv"]) * 1000,
                 qemu * 1000 if qemu else None, "QEMU -kernel, TCG", "ms", "lower"))
    rows.append(("minihv run -> first console byte (full)", median(boot["minihv-full"]) * 1000,
                 qemu * 1000 if qemu else None, "QEMU -kernel, TCG", "ms", "lower"))
    for mode, m in r["memory"].items():
        rows.append((f"VMM memory beyond guest RAM ({mode})", m["vmm_overhead_bytes"] / 1024,
                     None, "-", "KiB", "lower"))
    benchlib.print_table("minihv: paravirtualized against full virtualization", rows)
    benchlib.save("minihv", r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
