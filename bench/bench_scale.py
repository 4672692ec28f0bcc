#!/usr/bin/env python3
"""Scale: 10 000 domains defined. Latency of listing them all over D-Bus (ListDomains, against
libvirt-dbus on libvirt's test driver with as many domains, measured in the same run) and over
HTTP (GET /api/v1/domains), hvctl list, and hvd's memory and database size."""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib
import dbus
from bench_dbus import DOMAIN_XML, bench_tool, start_libvirt_dbus, stop_libvirt_dbus
from hvd_harness import Bus, Hvd, build_dir

N = int(os.environ.get("BENCH_SCALE_DOMAINS", "10000"))


def timed(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    build = build_dir()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-scale-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    bus.start()
    h = Hvd(build, bus, work / "hvd", config="[allocation]\nreserved-memory-mib = 0\n")
    lbus = lproc = None
    results = {}
    try:
        h.start()
        conn = bus.connect()
        m = h.manager(conn)
        t0 = time.perf_counter()
        for i in range(N):
            m.CreateDomain({"name": f"scale-{i:05d}", "memory_mib": dbus.UInt64(1)})
        results["create_seconds"] = time.perf_counter() - t0
        results["dbus_list_us"] = bench_tool(build, bus.address, "hvd", "list", 50,
                                             domains=N)["median_us"]
        import urllib.request
        url = h.url + "/api/v1/domains"
        results["http_list_ms"] = timed(lambda: urllib.request.urlopen(url).read(), 20) * 1000
        results["hvctl_list_ms"] = timed(
            lambda: subprocess.run([str(h.hvctl_binary), "list", "--all"], env=h.env(),
                                   capture_output=True, check=True), 5) * 1000
        results["hvd_rss_bytes"] = benchlib.rss(h.proc.pid)
        results["db_bytes"] = sum(p.stat().st_size for p in h.state_dir.glob("hvd.db*"))
        t0 = time.perf_counter()
        h.restart()
        results["restart_seconds"] = time.perf_counter() - t0

        lbus, lproc, laddr = start_libvirt_dbus(work)
        if laddr:
            c = dbus.bus.BusConnection(laddr)
            connect = dbus.Interface(c.get_object("org.libvirt", "/org/libvirt/Test"),
                                     "org.libvirt.Connect")
            for i in range(N):
                connect.DomainDefineXML(DOMAIN_XML.format(name=f"scale-{i:05d}"))
            results["libvirt_dbus_list_us"] = bench_tool(build, laddr, "libvirt", "list", 20,
                                                         domains=N)["median_us"]
    finally:
        h.stop()
        bus.stop()
        stop_libvirt_dbus(lbus, lproc)
        shutil.rmtree(work, ignore_errors=True)

    ref = results.get("libvirt_dbus_list_us")
    rows = [
        (f"ListDomains, {N} domains, median", results["dbus_list_us"] / 1000,
         ref / 1000 if ref else None, "libvirt-dbus", "ms", "lower"),
        (f"GET /api/v1/domains, {N} domains, median", results["http_list_ms"], None, "-", "ms",
         "lower"),
        (f"hvctl list --all, {N} domains", results["hvctl_list_ms"], None, "-", "ms", "lower"),
        (f"hvd restart with {N} domains (to ready)", results["restart_seconds"] * 1000, None, "-",
         "ms", "lower"),
        (f"hvd RSS with {N} domains", results["hvd_rss_bytes"] / 1048576, None, "-", "MiB",
         "lower"),
    ]
    benchlib.print_table(f"Scale: {N} domains defined", rows)
    print(f"  created {N} domains in {results['create_seconds']:.1f} s; database "
          f"{results['db_bytes'] / 1048576:.1f} MiB")
    benchlib.save("scale", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
