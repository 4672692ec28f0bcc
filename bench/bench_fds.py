#!/usr/bin/env python3
"""hvd's file descriptors per running minihv domain: BENCH_FDS_RUNNING (default 2000) echo pv
domains of 2 MiB started one after the other under the descriptor limit hvd is given, then
hvd's descriptors with all running (and the most it held while they started), with a warm
pool of 4 VMMs waiting (beyond the pool's own 4), at the peak of and after the re-attach of all
of them after a kill -9 of hvd, and how soon hvd notices a VMM killed with SIGKILL (its own
child, and a re-attached one); every domain destroyed at the end."""
import os
import pathlib
import resource
import signal
import shutil
import tempfile
import threading
import time

import benchlib
from hvd_harness import Bus, Hvd, build_dir, wait_for
from scale_helpers import DENSE, create_echo, fd_count, states, timed_calls, vmm_pids

RUNNING = int(os.environ.get("BENCH_FDS_RUNNING", "2000"))
GUEST_MIB = 2
POOL = 4
# What the warm pool holds whatever its size: the request and answer pipes of its spawning thread.
POOL_FIXED_FDS = 4
# 2000 vCPUs on this machine's 2 CPUs (the allocator's most is 10 000 per CPU)
CONFIG = DENSE.replace("cpu-overcommit = 600", "cpu-overcommit = 1000")


def settled_fds(pid):
    """pid's descriptors without those of requests in flight: the least of ten counts."""
    counts = []
    for _ in range(10):
        counts.append(fd_count(pid))
        time.sleep(0.1)
    return min(counts)


def peak_fds_during(h, action):
    """Runs action(); returns the most descriptors hvd (h.proc, whichever process it is at the
    time) held meanwhile, counted every millisecond or so."""
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], os.stat(f"/proc/{h.proc.pid}/fd").st_size)
            except (OSError, AttributeError):
                pass
            time.sleep(0.001)

    t = threading.Thread(target=sample)
    t.start()
    try:
        action()
    finally:
        done.set()
        t.join()
    return peak[0]


def noticed_after(h, name):
    """SIGKILLs the VMM of name; the seconds until hvd reports the domain off."""
    os.kill(h.hvctl_json("info", name)["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(lambda: h.hvctl_json("info", name)["state"] != "running", timeout=10,
             interval=0.01, what=f"{name}'s end to be noticed")
    return time.monotonic() - t0


def fd_limit(h):
    return {lim["name"]: lim
            for lim in h.hvctl_json("host")["density"]["limits"]}["file descriptors"]


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-fds-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    bus.start()
    h = Hvd(build_dir(), bus, work / "hvd", config=CONFIG)
    r = {"running_asked": RUNNING, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)}
    names = [f"fd{i:05d}" for i in range(RUNNING)]
    try:
        h.start()
        conn = bus.connect()
        create_echo(h, conn, names, GUEST_MIB)
        r["fds_none_running"] = settled_fds(h.proc.pid)
        r["fds_start_peak"] = peak_fds_during(h, lambda: timed_calls(h, conn, names, "Start"))
        r["running"] = list(states(h, conn).values()).count("running")
        r["fds_all_running"] = settled_fds(h.proc.pid)
        r["fds_per_domain"] = (r["fds_all_running"] - r["fds_none_running"]) / r["running"]
        limit = fd_limit(h)
        r["host_per_domain"], r["host_room"] = limit["per_domain"], limit["room"]

        h.config_path.write_text(h.config_path.read_text() +
                                 f"\n[minihv]\nwarm-pool = {POOL}\n"
                                 f"warm-pool-memory = {GUEST_MIB}\n")
        h.signal(signal.SIGHUP)
        pool = lambda: h.hvctl_json("host")["drivers"]["minihv"]["warm_pool"]  # noqa: E731
        wait_for(lambda: pool()["waiting"] == POOL, timeout=60, what="the warm pool to fill")
        r["fds_with_pool"] = settled_fds(h.proc.pid)
        r["fds_per_pooled"] = (r["fds_with_pool"] - r["fds_all_running"] - POOL_FIXED_FDS) / POOL

        r["own_killed_noticed_ms"] = noticed_after(h, names[0]) * 1000
        h.kill9()
        took = []

        def reattach():
            t0 = time.monotonic()
            h.start()
            took.append(time.monotonic() - t0)
            time.sleep(1.0)  # the probes and console connections of the re-attach answered

        r["fds_reattach_peak"] = peak_fds_during(h, reattach)
        r["reattach_s"] = took[0]
        r["reattached"] = list(states(h, conn).values()).count("running")
        r["fds_reattached"] = settled_fds(h.proc.pid)
        r["adopted_killed_noticed_ms"] = noticed_after(h, names[1]) * 1000

        left = [n for n, s in states(h, conn).items() if s == "running"]
        timed_calls(h, conn, left, "Destroy")
        wait_for(lambda: not vmm_pids(h), timeout=120, what="every minihv process to end")
        r["fds_after_destroy"] = settled_fds(h.proc.pid)
    finally:
        h.stop()
        bus.stop()
        shutil.rmtree(work, ignore_errors=True)
    for key, value in r.items():
        print(f"  {key}: {value:.2f}" if isinstance(value, float) else f"  {key}: {value}")
    benchlib.print_table(f"hvd's descriptors with {r['running']} running minihv domains", [
        ("descriptors per running domain", r["fds_per_domain"], None, "-", "fds", "lower"),
        ("descriptors per pooled VMM", r["fds_per_pooled"], None, "-", "fds", "lower"),
        ("a killed VMM noticed (own child)", r["own_killed_noticed_ms"], None, "-", "ms", "lower"),
        ("a killed VMM noticed (re-attached)", r["adopted_killed_noticed_ms"], None, "-", "ms",
         "lower"),
    ])
    benchlib.save("fds", r)


if __name__ == "__main__":
    main()
