"""Scale, bounded: 300 running minihv domains (echo, pv, 2 MiB) started one after the other
through hvd with start latency that does not grow with N beyond a stated factor, every one
re-attached after a kill -9 of hvd, all destroyed at the end, `/metrics` and `GET /api/v1/host`
quick with all of them running; and no file descriptor or memory leak of hvd across 200
start/destroy cycles; `hvctl host` says what bounds density."""
import os
import time

import pytest

from hvd_harness import wait_for
from scale_helpers import (DENSE, create_echo, fd_count, percentile, rss_bytes, states,
                           timed_calls, vmm_pids)

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

RUNNING = 300
EDGE = 30  # the first and the last starts compared
# The machine is shared with other work: the median of the last starts may be this many times
# the first's (plus a few milliseconds of scheduling noise) before it counts as growth in N.
GROWTH_FACTOR = 3.0
NOISE_S = 0.005
CYCLES = 200
FD_SLACK = 4
RSS_SLACK_BYTES = 8 << 20
# /metrics and GET /api/v1/host with RUNNING running, median of SURFACE_RUNS: the target is
# 50 ms at 10 000 running, so this is far from it (they took about 3 ms and 1 ms here, on a
# loaded 2-CPU machine; /metrics 10 ms before it stopped copying every domain's statistics).
SURFACE_RUNS = 7
SURFACE_BOUND_S = 0.050
# What /metrics writes per running domain: about 0.7 KiB, 2.4 KiB when it wrote every exit
# counter that never counted.
METRICS_BYTES_PER_DOMAIN = 1200


def sanitized(h):
    """Whether this hvd runs under AddressSanitizer (scripts/check-asan.sh)."""
    return "libasan" in open(f"/proc/{h.proc.pid}/maps").read()


def surface_median(h, path):
    """The median seconds of SURFACE_RUNS GETs of path, and the last answer's text."""
    times = []
    for _ in range(SURFACE_RUNS):
        t0 = time.perf_counter()
        status, _, body = h.request("GET", path, timeout=10)
        times.append(time.perf_counter() - t0)
        assert status == 200, body
    return percentile(times, 0.5), body


def check_surfaces(h, running):
    # Every running domain's statistics sampled once (the sampler asks each second).
    wait_for(lambda: h.request("GET", "/metrics")[2].count('reason="total"') == running,
             timeout=15, what="an exit total of every running domain in /metrics")
    metrics_s, text = surface_median(h, "/metrics")
    host_s, host = surface_median(h, "/api/v1/host")
    print(f"with {running} running: /metrics {metrics_s * 1000:.1f} ms ({len(text) >> 10} KiB), "
          f"GET /api/v1/host {host_s * 1000:.1f} ms (medians of {SURFACE_RUNS})")
    assert text.count('hvd_domain_state{') == running
    assert host["states"]["running"] == running and len(host["resources"]["domains"]) == running
    assert len(text) <= METRICS_BYTES_PER_DOMAIN * running, \
        f"/metrics wrote {len(text) / running:.0f} bytes per running domain"
    if not sanitized(h):
        assert metrics_s <= SURFACE_BOUND_S, f"/metrics took {metrics_s * 1000:.1f} ms"
        assert host_s <= SURFACE_BOUND_S, f"GET /api/v1/host took {host_s * 1000:.1f} ms"


def test_300_running_start_flat_reattach_all_destroy_all(make_hvd, bus):
    h = make_hvd(config=DENSE).start()
    conn = bus.connect()
    names = [f"scale{i:03d}" for i in range(RUNNING)]
    create_echo(h, conn, names)

    starts = timed_calls(h, conn, names, "Start")
    assert set(states(h, conn).values()) == {"running"}
    pids = vmm_pids(h)
    assert len(pids) == RUNNING
    first, last = percentile(starts[:EDGE], 0.5), percentile(starts[-EDGE:], 0.5)
    print(f"start p50: first {EDGE} {first * 1000:.1f} ms, last {EDGE} {last * 1000:.1f} ms "
          f"with {RUNNING - EDGE}..{RUNNING} running; p99 of all "
          f"{percentile(starts, 0.99) * 1000:.1f} ms")
    if not sanitized(h):  # under AddressSanitizer this run checks correctness, not speed
        assert last <= GROWTH_FACTOR * first + NOISE_S, \
            f"start p50 grew from {first * 1000:.1f} ms to {last * 1000:.1f} ms with N"
    check_surfaces(h, RUNNING)

    h.kill9()
    assert vmm_pids(h) == pids  # they run on without hvd
    t0 = time.monotonic()
    h.start()
    reattach = time.monotonic() - t0
    print(f"re-attached {RUNNING} running domains in {reattach * 1000:.0f} ms")
    conn = bus.connect()
    listed = states(h, conn)
    assert sorted(listed) == names
    assert set(listed.values()) == {"running"}, \
        {n: s for n, s in listed.items() if s != "running"}
    assert vmm_pids(h) == pids  # none lost, none started again
    assert reattach < 10, f"re-attaching took {reattach:.1f} s"
    # every VMM answers for itself (a few at a time), and its console is followed again
    wait_for(lambda: h.hvctl_json("host")["drivers"]["minihv"]["confirming"] == 0, timeout=30,
             what="every re-attached VMM to be confirmed")
    assert "confirming" not in h.hvctl_json("host")["drivers"]["minihv"]["summary"]
    sample = names[::37]
    for name in sample:
        fd = h.domain(name, conn).OpenConsole().take()
        try:
            os.write(fd, f"hi {name}\n".encode())
            time.sleep(0.05)
        finally:
            os.close(fd)
    wait_for(lambda: all(f"hi {n}" in h.hvctl("console", n, "--tail", "20").stdout
                         for n in sample), timeout=20, what="the echoes of re-attached domains")

    t0 = time.monotonic()
    timed_calls(h, conn, names, "Destroy")
    print(f"destroyed {RUNNING} in {(time.monotonic() - t0) * 1000:.0f} ms")
    assert set(states(h, conn).values()) == {"shutoff"}
    wait_for(lambda: not vmm_pids(h), timeout=20, what="every minihv process to end")


def test_no_fd_or_memory_leak_across_200_start_destroy_cycles(make_hvd, bus):
    h = make_hvd(config=DENSE).start()
    conn = bus.connect()
    others = [f"bystander{i:02d}" for i in range(20)]
    create_echo(h, conn, others + ["cycled"])
    timed_calls(h, conn, others, "Start")
    # The host says what bounds density, with what the running domains use of each limit.
    density = h.hvctl_json("host")["density"]
    limits = {lim["name"]: lim for lim in density["limits"]}
    assert limits["file descriptors"]["used"] >= len(others)
    assert limits["vcpus"]["used"] == len(others)
    assert density["bound"] in limits and density["room"] == limits[density["bound"]]["room"]
    assert f"bounded by {density['bound']}" in h.hvctl("host", check=True).stdout
    # A few cycles first, so what is made once (history, caches, the database's pages) is made.
    for _ in range(10):
        timed_calls(h, conn, ["cycled"], "Start")
        timed_calls(h, conn, ["cycled"], "Destroy")
    fds, rss = fd_count(h.proc.pid), rss_bytes(h.proc.pid)

    for _ in range(CYCLES):
        timed_calls(h, conn, ["cycled"], "Start")
        timed_calls(h, conn, ["cycled"], "Destroy")

    fds_after, rss_after = fd_count(h.proc.pid), rss_bytes(h.proc.pid)
    print(f"hvd over {CYCLES} cycles: fds {fds} -> {fds_after}, RSS {rss >> 10} -> "
          f"{rss_after >> 10} KiB")
    assert fds_after <= fds + FD_SLACK, f"hvd holds {fds_after - fds} more fds"
    # Under AddressSanitizer freed memory waits in its quarantine, so RSS grows by design;
    # there LeakSanitizer, at hvd's exit, is the memory check.
    if not sanitized(h):
        assert rss_after <= rss + RSS_SLACK_BYTES, \
            f"hvd's RSS grew by {(rss_after - rss) >> 10} KiB"
    assert states(h, conn)["cycled"] == "shutoff"
    assert len(vmm_pids(h)) == len(others)
    timed_calls(h, conn, others, "Destroy")
    wait_for(lambda: not vmm_pids(h), timeout=20, what="every minihv process to end")
