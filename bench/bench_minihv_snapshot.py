#!/usr/bin/env python3
"""minihv save, restore and clones (bench/minihv/snapshot-bench.py prints the details),
summarised as rows against the targets: restore to running p90 2 ms, 100 clones in 1 s, each
clone adding at most 10 % of its guest memory until it writes."""
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
        print("/dev/kvm is not usable here: minihv snapshot benchmark skipped")
        return 0
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, str(HERE / "minihv" / "snapshot-bench.py"), "--build",
                        str(build_dir()), "--json", out.name], check=True)
        r = json.loads(pathlib.Path(out.name).read_text())
    s, c = r["save"], r["clones"]
    rows = [("save of a 64 MiB pv guest (VMM)", s["vmm_ms_p50"], None, "-", "ms", "lower")]
    for memory, m in r["restore"].items():
        rows.append((f"restore {memory} MiB -> first instruction, p90",
                     m["to_first_instruction_ms_p90"], 2.0, "target", "ms", "lower"))
        rows.append((f"restore {memory} MiB -> first console byte, p90",
                     m["to_first_console_byte_ms_p90"], None, "-", "ms", "lower"))
        rows.append((f"restore {memory} MiB from a warm-pool VMM -> first instruction, p90",
                     m["pooled_to_first_instruction_ms_p90"], 2.0, "target", "ms", "lower"))
        rows.append((f"restore {memory} MiB from a warm-pool VMM -> first console byte, p90",
                     m["pooled_to_first_console_byte_ms_p90"], None, "-", "ms", "lower"))
    rows.append((f"{c['count']} clones -> all running", c["seconds_to_all_running"] * 1000,
                 1000.0, "target", "ms", "lower"))
    rows.append(("clone's private guest memory", c["guest_private_kib_mean"],
                 c["memory_mib"] * 1024 * 0.10, "target: 10 % of guest memory", "KiB", "lower"))
    benchlib.print_table("minihv: save, restore and clones", rows)
    benchlib.save("minihv-snapshot", r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
