#!/usr/bin/env python3
"""Memory and /metrics cost of many running minihv domains, for the typed statistics counters:
BENCH_SCALE_RUNNING (default 1000) echo pv domains of 2 MiB started one after the other, then
hvd's RSS (total and anonymous), glibc's heap in use (malloc_stats through gdb) over the base
with none running, hvd's idle CPU over BENCH_IDLE_SECONDS (default 10), GET /metrics
BENCH_METRICS_RUNS times (median, and hvd's CPU per request from its threads' schedstat); then
every domain is destroyed and the heap and RSS are read again (what a mass destroy gives back).
With BENCH_PERF=FILE, `perf record` follows hvd during the /metrics requests and its report by
symbol is printed (where a request's CPU time goes)."""
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time

import benchlib
from bench_scale import cpu_seconds, raise_fd_limit, timed_calls
from hvd_harness import Bus, Hvd, build_dir
from scale_helpers import DENSE, create_echo, vmm_pids

RUNNING = int(os.environ.get("BENCH_SCALE_RUNNING", "1000"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "10"))
METRICS_RUNS = int(os.environ.get("BENCH_METRICS_RUNS", "25"))
PERF = os.environ.get("BENCH_PERF")


def heap_in_use(h):
    """Bytes glibc's malloc has handed out and not had back (all arenas), from the
    malloc_stats() that gdb makes hvd print on its log."""
    before = h.log_path.stat().st_size
    subprocess.run(["gdb", "-p", str(h.proc.pid), "-batch", "-ex", "call (void)malloc_stats()"],
                   capture_output=True, timeout=120)
    time.sleep(0.5)
    with open(h.log_path, errors="replace") as f:
        f.seek(before)
        text = f.read()
    totals = re.findall(r"^in use bytes\s*=\s*(\d+)", text, re.M)
    system = re.findall(r"^system bytes\s*=\s*(\d+)", text, re.M)
    # malloc_stats prints each arena, then the totals last
    return (int(totals[-1]) if totals else 0), (int(system[-1]) if system else 0)


def memory(pid):
    """hvd's RSS and its anonymous and shared parts, in MiB."""
    return {k: benchlib.rss(pid, k) / 1048576 for k in ("VmRSS", "RssAnon", "RssShmem")}


def show(r):
    for k, v in r.items():
        print(f"  [counters] {k} = {v:.2f}" if isinstance(v, float) else
              f"  [counters] {k} = {v}", flush=True)


def main():
    raise_fd_limit()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-counters-"))
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
        time.sleep(2.0)
        base_heap, _ = heap_in_use(h)
        base = memory(h.proc.pid)
        for name in names:
            timed_calls(h, conn, [name], "Start")
            started.append(name)
        time.sleep(3.0)
        pids = vmm_pids(h)
        r["running"] = n = len(pids)
        c0 = cpu_seconds([h.proc.pid])
        time.sleep(IDLE_SECONDS)
        r["idle_hvd_cpu_percent"] = (cpu_seconds([h.proc.pid]) - c0) / IDLE_SECONDS * 100
        mem = memory(h.proc.pid)
        r["hvd_rss_mib"], r["hvd_rss_anon_mib"], r["hvd_rss_shmem_mib"] = (
            mem["VmRSS"], mem["RssAnon"], mem["RssShmem"])
        r["anon_kib_per_domain"] = (mem["RssAnon"] - base["RssAnon"]) * 1024 / max(1, n)
        times = []
        perf = (subprocess.Popen(["perf", "record", "-q", "-F", "4000", "-o", PERF, "-p",
                                  str(h.proc.pid)]) if PERF else None)
        if perf:
            time.sleep(1.0)
        c0 = cpu_seconds([h.proc.pid])
        for _ in range(METRICS_RUNS):
            t0 = time.perf_counter()
            status, _, body = h.request("GET", "/metrics")
            times.append(time.perf_counter() - t0)
            assert status == 200, status
        r["metrics_cpu_ms_per_request"] = (cpu_seconds([h.proc.pid]) - c0) / METRICS_RUNS * 1000
        if perf:
            perf.send_signal(2)
            perf.wait(timeout=60)
            report = subprocess.run(["perf", "report", "-i", PERF, "--stdio", "--no-children",
                                     "--sort", "dso,symbol", "--percent-limit", "1"],
                                    capture_output=True, text=True, timeout=300).stdout
            print("\n".join("  [perf] " + line for line in report.splitlines()
                            if line.strip() and not line.startswith("#")), flush=True)
        r["metrics_ms"] = statistics.median(times) * 1000
        r["metrics_min_ms"] = min(times) * 1000
        r["metrics_kib"] = len(body) / 1024
        heap, system = heap_in_use(h)
        r["heap_in_use_mib"] = heap / 1048576
        r["heap_kib_per_domain"] = (heap - base_heap) / 1024 / max(1, n)
        show(r)
        timed_calls(h, conn, started, "Destroy")
        started = []
        time.sleep(3.0)
        heap, system = heap_in_use(h)
        mem = memory(h.proc.pid)
        show({"after_destroy_heap_in_use_mib": heap / 1048576,
              "after_destroy_heap_system_mib": system / 1048576,
              "after_destroy_rss_mib": mem["VmRSS"], "after_destroy_rss_anon_mib": mem["RssAnon"]})
    finally:
        try:
            if started:
                timed_calls(h, bus.connect(), started, "Destroy")
        finally:
            h.stop()
            bus.stop()
            shutil.rmtree(work, ignore_errors=True)
    return r


if __name__ == "__main__":
    main()
