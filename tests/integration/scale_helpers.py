"""Many running minihv domains through hvd: creating, starting and destroying them with each
call timed, what they look like on the bus, and hvd's own file descriptors and memory (shared
by tests/integration/test_scale.py and bench/bench_scale.py)."""
import os
import subprocess
import time

import dbus

# Room for hundreds of 1-vCPU domains on a 2-CPU machine, and no memory held back.
DENSE = "[allocation]\ncpu-overcommit = 600\nreserved-memory-mib = 0\n"
CALL_TIMEOUT_S = 20


def create_echo(h, conn, names, memory_mib=2):
    """Defines an echo pv guest of memory_mib MiB under each name."""
    m = h.manager(conn)
    for name in names:
        m.CreateDomain({"name": name, "driver": "minihv", "mode": "pv", "kernel": "echo",
                        "memory_mib": dbus.UInt64(memory_mib)}, timeout=CALL_TIMEOUT_S)


def timed_calls(h, conn, names, method):
    """Calls Domain.method (Start, Destroy) on each domain in turn, each answered once done;
    returns the seconds each call took. The proxies are made without introspection, as a client
    that keeps its proxy (or hvctl) calls: python-dbus would otherwise send an Introspect before
    the first call of each, about 0.2 ms inside the time measured."""
    m = h.manager(conn)
    times = []
    for name in names:
        obj = conn.get_object("org.hvd1", m.GetDomain(name), introspect=False)
        call = getattr(dbus.Interface(obj, "org.hvd1.Domain"), method)
        t0 = time.perf_counter()
        call(timeout=CALL_TIMEOUT_S)
        times.append(time.perf_counter() - t0)
    return times


def states(h, conn):
    """Every domain's state as ListDomains reports it: {name: state}."""
    return {str(row[0]): str(row[3])
            for row in h.manager(conn).ListDomains(timeout=CALL_TIMEOUT_S)}


def vmm_pids(h):
    """The pids of the minihv processes this hvd started."""
    out = subprocess.run(["pgrep", "-f", f"control {h.runtime_dir}/minihv/"],
                         capture_output=True, text=True, timeout=10).stdout
    return sorted(int(p) for p in out.split())


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]
