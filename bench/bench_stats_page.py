#!/usr/bin/env python3
"""Idle cost of statistics: BENCH_SCALE_RUNNING (default 1000) echo pv minihv domains of 2 MiB
started one after the other, then over BENCH_IDLE_SECONDS (default 10) the CPU of all VMMs and
of hvd (the sampler reads every domain each second), the median GET /metrics, hvd's RSS; then
every domain is destroyed (also when a step fails). RSS is also split into anonymous memory
and shared memory (the VMMs' statistics pages hvd maps count there)."""
import os
import pathlib
import shutil
import statistics
import tempfile
import time

import benchlib
from bench_scale import cpu_seconds, raise_fd_limit, timed_calls
from hvd_harness import Bus, Hvd, build_dir
from scale_helpers import DENSE, create_echo, vmm_pids

RUNNING = int(os.environ.get("BENCH_SCALE_RUNNING", "1000"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "10"))
METRICS_RUNS = int(os.environ.get("BENCH_METRICS_RUNS", "15"))


def main():
    raise_fd_limit()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-stats-page-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    bus.start()
    h = Hvd(build_dir(), bus, work / "hvd",
            config=DENSE.replace("cpu-overcommit = 600", "cpu-overcommit = 1000"))
    names = [f"idle{i:05d}" for i in range(RUNNING)]
    started = []
    r = {}
    try:
        h.start()
        conn = bus.connect()
        create_echo(h, conn, names, 2)
        for name in names:
            timed_calls(h, conn, [name], "Start")
            started.append(name)
        time.sleep(3.0)
        pids = vmm_pids(h)
        r["running"] = len(pids)
        c0, v0 = cpu_seconds([h.proc.pid]), cpu_seconds(pids)
        time.sleep(IDLE_SECONDS)
        r["idle_hvd_cpu_percent"] = (cpu_seconds([h.proc.pid]) - c0) / IDLE_SECONDS * 100
        r["idle_vmm_cpu_percent"] = (cpu_seconds(pids) - v0) / IDLE_SECONDS * 100
        r["hvd_rss_mib"] = benchlib.rss(h.proc.pid) / 1048576
        status = dict(line.split(":", 1) for line in open(f"/proc/{h.proc.pid}/status"))
        for key in ("RssAnon", "RssShmem"):
            r[f"hvd_{key.lower()}_mib"] = int(status[key].split()[0]) / 1024
        times = []
        for _ in range(METRICS_RUNS):
            t0 = time.perf_counter()
            h.request("GET", "/metrics")
            times.append(time.perf_counter() - t0)
        r["metrics_ms"] = statistics.median(times) * 1000
        r["metrics_min_ms"] = min(times) * 1000
        for k, v in r.items():
            print(f"  [stats-page] {k} = {v:.2f}" if isinstance(v, float) else
                  f"  [stats-page] {k} = {v}", flush=True)
    finally:
        try:
            timed_calls(h, bus.connect(), started, "Destroy")
        finally:
            h.stop()
            bus.stop()
            shutil.rmtree(work, ignore_errors=True)
    return r


if __name__ == "__main__":
    main()
