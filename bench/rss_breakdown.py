#!/usr/bin/env python3
"""Where hvd's resident memory goes with many running minihv domains: RSS_BREAKDOWN_RUNNING
(default 500) echo pv domains of 2 MiB started one after the other, then hvd's mappings from
/proc/PID/smaps grouped by kind (the heap, the history rings, thread arenas and stacks, files)
right after the starts and again after RSS_BREAKDOWN_IDLE seconds (default 150) of idling,
and glibc's malloc_stats() per arena (through gdb, written to hvd's log). Prints KiB per
running domain for each group; no reference to compare with."""
import collections
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench_scale import GUEST_MIB, raise_fd_limit
from hvd_harness import Bus, Hvd, build_dir
from scale_helpers import DENSE, create_echo, timed_calls

RUNNING = int(os.environ.get("RSS_BREAKDOWN_RUNNING", "500"))
IDLE_S = float(os.environ.get("RSS_BREAKDOWN_IDLE", "150"))
# a history series' rings: one anonymous mapping of this many bytes, rounded up to pages
# with a path: heaptrack follows hvd's allocations from before the starts (its peak is with
# all running) and writes its file there when hvd exits
HEAPTRACK = os.environ.get("RSS_BREAKDOWN_HEAPTRACK")
HISTORY_MAPPING_KIB = int(os.environ.get("RSS_BREAKDOWN_HISTORY_KIB", "256"))


def mappings(pid):
    """hvd's mappings: (name, size KiB, Rss KiB, Anonymous KiB) each."""
    out, cur = [], None
    for line in open(f"/proc/{pid}/smaps"):
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split(None, 5)
            cur = {"name": parts[5].strip() if len(parts) > 5 else "", "perms": parts[1]}
            out.append(cur)
        elif cur is not None and ":" in line:
            key, value = line.split(":", 1)
            if value.strip().endswith("kB"):
                cur[key] = int(value.split()[0])
    return out


def kind(m):
    """What a mapping holds, by name, size and permissions."""
    if m["name"] == "[heap]":
        return "heap (main arena)"
    if m["name"] == "[stack]":
        return "main stack"
    if m["name"].startswith("/") or m["name"].startswith("["):
        return "files and vdso"
    if m["Size"] == HISTORY_MAPPING_KIB:
        return "history rings"
    if m["Size"] in (8192, 8188, 8196) or m["Size"] % 4096 == 8188:
        return "thread stacks"
    if m["perms"].startswith("---"):
        return "reserved, not mapped"
    return "other anonymous (arenas, large mallocs)"


def breakdown(pid):
    groups = collections.Counter()
    count = collections.Counter()
    for m in mappings(pid):
        groups[kind(m)] += m.get("Rss", 0)
        count[kind(m)] += 1
    return groups, count


def malloc_stats(h):
    """glibc's per-arena figures: hvd prints them on its stderr (its log) when gdb calls
    malloc_stats(); returns the lines printed."""
    before = h.log_path.stat().st_size
    subprocess.run(["gdb", "-p", str(h.proc.pid), "-batch", "-ex", "call (void)malloc_stats()"],
                   capture_output=True, timeout=120)
    time.sleep(0.5)
    with open(h.log_path, errors="replace") as f:
        f.seek(before)
        return [line.rstrip() for line in f if re.search(r"Arena|bytes|mmap", line)]


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def report(title, pid, base, n, h):
    groups, count = breakdown(pid)
    rss = rss_kib(pid)
    print(f"\n{title}: hvd RSS {rss} KiB ({(rss - base['rss']) / max(1, n):.1f} KiB per running "
          f"domain over the base of {base['rss']} KiB)")
    for k in sorted(groups, key=lambda k: -groups[k]):
        grown = groups[k] - base["groups"].get(k, 0)
        print(f"  {k:42s} {groups[k]:8d} KiB in {count[k]:5d} mappings, "
              f"{grown / max(1, n):7.2f} KiB per domain")
    for line in malloc_stats(h):
        print("  malloc_stats:", line)
    sys.stdout.flush()


def main():
    raise_fd_limit()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-rss-breakdown-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    bus.start()
    config = DENSE.replace("cpu-overcommit = 600", "cpu-overcommit = 1000") + \
        os.environ.get("RSS_BREAKDOWN_CONFIG", "")
    h = Hvd(build_dir(), bus, work / "hvd", config=config)
    try:
        h.start()
        conn = bus.connect()
        names = [f"rss{i:05d}" for i in range(RUNNING)]
        create_echo(h, conn, names, GUEST_MIB)
        time.sleep(2)
        base = {"rss": rss_kib(h.proc.pid), "groups": breakdown(h.proc.pid)[0]}
        if HEAPTRACK:
            tracker = subprocess.Popen(["heaptrack", "-o", HEAPTRACK, "-p", str(h.proc.pid)])
            time.sleep(10)
        report("defined, none running", h.proc.pid, base, 1, h)
        t0 = time.monotonic()
        timed_calls(h, conn, names, "Start")
        print(f"\nstarted {RUNNING} in {time.monotonic() - t0:.0f} s")
        time.sleep(3)
        report(f"{RUNNING} running, just started", h.proc.pid, base, RUNNING, h)
        time.sleep(IDLE_S)
        report(f"{RUNNING} running, after {IDLE_S:.0f} s idle", h.proc.pid, base, RUNNING, h)
        timed_calls(h, conn, names, "Destroy")
        time.sleep(2)
        report("all destroyed again", h.proc.pid, base, RUNNING, h)
    finally:
        h.stop()
        if HEAPTRACK:
            tracker.wait(timeout=300)
        bus.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
