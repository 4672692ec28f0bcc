#!/usr/bin/env python3
"""minihv's network device (bench/minihv/net-bench.py prints the details), summarised as rows:
pv against full mode for guest->host TCP throughput, UDP echo throughput and ping latency,
and the exits each frame cost."""
import json
import pathlib
import subprocess
import sys
import tempfile

import benchlib
from hvd_harness import build_dir
from net_helpers import net_skip_reason

HERE = pathlib.Path(__file__).resolve().parent


def main():
    reason = net_skip_reason()
    if reason:
        print(f"minihv network benchmark skipped: {reason}")
        return 0
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, str(HERE / "minihv" / "net-bench.py"), "--build",
                        str(build_dir()), "--json", out.name], check=True)
        r = json.loads(pathlib.Path(out.name).read_text())
    pv, full = r["modes"]["pv"], r["modes"]["full"]
    rows = [
        ("guest->host TCP (curl): pv", pv["http"]["bytes_per_s"] * 8 / 1e6,
         full["http"]["bytes_per_s"] * 8 / 1e6, "minihv full mode", "Mbit/s", "higher"),
        ("UDP echo: pv", pv["udp"]["bytes_per_s"] * 8 / 1e6, full["udp"]["bytes_per_s"] * 8 / 1e6,
         "minihv full mode", "Mbit/s", "higher"),
        ("ping round trip: pv", pv["ping"]["avg_ms"], full["ping"]["avg_ms"], "minihv full mode",
         "ms", "lower"),
        ("exits per frame (TCP): pv", pv["http"]["all_exits_per_frame"],
         full["http"]["all_exits_per_frame"], "minihv full mode", "exits", "lower"),
        ("pv guest->host TCP against 1 Gbit/s", pv["http"]["bytes_per_s"] * 8 / 1e9, 1.0,
         "target", "Gbit/s", "higher"),
    ]
    benchlib.print_table("minihv network: paravirtualized against full virtualization", rows)
    benchlib.save("minihv-net", r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
