#!/usr/bin/env python3
"""D-Bus control-plane benchmark: hvd against libvirt-dbus on libvirt's test driver, both
measured in this run on private buses with the same client (bench/dbus-bench):
  - a simple call (look up one domain by name), median latency;
  - ListDomains with 1000 domains defined, median latency;
  - lifecycle operations per second (start/destroy, and pause/resume), 16 calls in flight,
    every hvd operation committed to SQLite before it is answered."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import benchlib
import dbus
from hvd_harness import Bus, Hvd, build_dir, wait_for

N_DOMAINS = int(os.environ.get("BENCH_DOMAINS", "1000"))
LIBVIRT_DBUS = shutil.which("libvirt-dbus") or "/usr/sbin/libvirt-dbus"

SESSION_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

DOMAIN_XML = """<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory>
<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"""


def bench_tool(build, address, target, scenario, count, window=1, domains=N_DOMAINS):
    out = subprocess.run([str(build / "bench" / "dbus-bench"), "--address", address,
                          "--target", target, "--scenario", scenario, "--count", str(count),
                          "--window", str(window), "--domains", str(domains)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"dbus-bench {target} {scenario} failed: {out.stdout}{out.stderr}")
    return json.loads(out.stdout)


def cpu_seconds(pid):
    """User and system CPU time of process pid (all its threads) so far, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_cpu(build, address, target, scenario, count, pids, **kwargs):
    """bench_tool, with the CPU time per operation of the server (pids[0]) and of its bus
    (pids[1]) added: steadier than throughput on a shared machine."""
    before = [cpu_seconds(p) for p in pids]
    r = bench_tool(build, address, target, scenario, count, **kwargs)
    after = [cpu_seconds(p) for p in pids]
    r["server_cpu_us_per_op"] = (after[0] - before[0]) * 1e6 / count
    r["bus_cpu_us_per_op"] = (after[1] - before[1]) * 1e6 / count
    return r


# Room for every benchmark domain: no reserved memory, vCPUs overcommitted without limit.
ROOMY = "[allocation]\ncpu-overcommit = 1000\nreserved-memory-mib = 0\n"


def start_hvd(build, work):
    bus = Bus(work / "hvd-bus", extra_policies=[pathlib.Path(__file__).parent / "dbus-echo.conf"])
    bus.start()
    h = Hvd(build, bus, work / "hvd",
            config=ROOMY)
    h.start()
    conn = bus.connect()
    m = h.manager(conn)
    for i in range(N_DOMAINS):
        m.CreateDomain({"name": f"bench-{i:05d}", "memory_mib": dbus.UInt64(1)})
    return bus, h


def start_libvirt_dbus(work):
    if not os.path.exists(LIBVIRT_DBUS):
        return None, None, None
    sock = work / "session_bus"
    conf = work / "session.conf"
    conf.write_text(SESSION_BUS_CONFIG.format(socket=sock))
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"])
    wait_for(sock.exists, what="session bus")
    address = f"unix:path={sock}"
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
    proc = subprocess.Popen([LIBVIRT_DBUS, "--session"], env=env, stderr=subprocess.DEVNULL)
    conn = dbus.bus.BusConnection(address)
    wait_for(lambda: conn.name_has_owner("org.libvirt"), what="libvirt-dbus")
    connect = dbus.Interface(conn.get_object("org.libvirt", "/org/libvirt/Test"),
                             "org.libvirt.Connect")
    for i in range(N_DOMAINS):
        connect.DomainDefineXML(DOMAIN_XML.format(name=f"bench-{i:05d}"))
    return bus, proc, address


def stop_libvirt_dbus(bus, proc):
    """Stops what start_libvirt_dbus started (either may be None)."""
    for p in (proc, bus):
        if p:
            p.terminate()
            p.wait()


def main():
    build = build_dir()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-"))
    work.chmod(0o755)
    results = {}
    hbus = h = lbus = lproc = None
    try:
        hbus, h = start_hvd(build, work)
        lbus, lproc, laddr = start_libvirt_dbus(work)
        # The floor: a bare sd-bus service answering the same shape of call on hvd's bus.
        echo = subprocess.Popen([str(build / "bench" / "dbus-echo"), hbus.address])
        try:
            conn = hbus.connect()
            wait_for(lambda: conn.name_has_owner("org.hvd1.BenchEcho"), what="dbus-echo")
            bench_tool(build, hbus.address, "echo", "lookup", 2000)  # warm-up
            results["echo"] = {"lookup": bench_tool(build, hbus.address, "echo", "lookup", 20000)}
        finally:
            echo.terminate()
            echo.wait()
        targets = [("hvd", hbus.address, (h.proc.pid, hbus.proc.pid))]
        if laddr:
            targets.append(("libvirt", laddr, (lproc.pid, lbus.pid)))
        for target, address, pids in targets:
            r = {}
            bench_tool(build, address, target, "lookup", 2000)  # warm-up
            r["lookup"] = bench_tool(build, address, target, "lookup", 20000)
            r["list"] = bench_tool(build, address, target, "list", 300)
            # Warm-up: every domain started and destroyed once, on both sides (a first start
            # makes what later ones reuse: a display directory, a kept definition).
            bench_tool(build, address, target, "lifecycle", 800, window=16, domains=400)
            r["lifecycle"] = bench_cpu(build, address, target, "lifecycle", 8000, pids, window=16,
                                       domains=400)
            # Leaves the first 400 domains running (an even number of rounds ends destroyed:
            # start them for the pause/resume round).
            bench_tool(build, address, target, "lifecycle", 400, window=16, domains=400)
            r["pause_resume"] = bench_cpu(build, address, target, "pause-resume", 8000, pids,
                                          window=16, domains=400)
            results[target] = r
    finally:
        if h:
            h.stop()
        if hbus:
            hbus.stop()
        stop_libvirt_dbus(lbus, lproc)
        shutil.rmtree(work, ignore_errors=True)

    hv = results["hvd"]
    lv = results.get("libvirt")
    ref = lambda scenario, key: lv[scenario][key] if lv else None
    floor = results["echo"]["lookup"]
    rows = [
        ("simple call (lookup), median", hv["lookup"]["median_us"], ref("lookup", "median_us"),
         "libvirt-dbus", "us", "lower"),
        ("simple call against the bus floor, median", hv["lookup"]["median_us"],
         floor["median_us"], "sd-bus echo", "us", "lower"),
        ("simple call (lookup), p99", hv["lookup"]["p99_us"], ref("lookup", "p99_us"),
         "libvirt-dbus", "us", "lower"),
        (f"ListDomains x{N_DOMAINS}, median", hv["list"]["median_us"], ref("list", "median_us"),
         "libvirt-dbus", "us", "lower"),
        ("start/destroy ops/s (committed)", hv["lifecycle"]["ops_per_s"],
         ref("lifecycle", "ops_per_s"), "libvirt-dbus", "ops/s", "higher"),
        ("pause/resume ops/s (committed)", hv["pause_resume"]["ops_per_s"],
         ref("pause_resume", "ops_per_s"), "libvirt-dbus", "ops/s", "higher"),
    ]
    for scenario, label in (("lifecycle", "start/destroy"), ("pause_resume", "pause/resume")):
        for key, who in (("server_cpu_us_per_op", "server"), ("bus_cpu_us_per_op", "dbus-daemon")):
            rows.append((f"{label} CPU per op, {who}", hv[scenario][key], ref(scenario, key),
                         "libvirt-dbus", "us", "lower"))
    benchlib.print_table("D-Bus control plane (targets: lifecycle >= 1.5x libvirt-dbus, lookup within "
                         "1.3x of the floor (0.8x and more here), ListDomains(1000) <= 500 us)", rows)
    benchlib.save("dbus", results)
    if not lv:
        print("  libvirt-dbus is not installed: no reference measured (apt-get install "
              "libvirt-dbus)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
