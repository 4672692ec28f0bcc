#!/usr/bin/env python3
"""HTTP API benchmark: what a web client gets from hvd, against libvirt-dbus on libvirt's test
driver (the D-Bus service a libvirt web console such as cockpit's talks to) measured in the same
run, and against hvd's own D-Bus API:
  - GET /api/v1/domains with 1000 domains (every domain's settings and state, one JSON
    document), one client: median latency; eight concurrent clients: requests per second.
    The reference is ListDomains, which answers object paths only: the client would still have
    to ask for each domain's state.
  - lifecycle actions (start/destroy, pause/resume) from 16 concurrent clients, each answered
    once the change is committed: operations per second.
HTTP load comes from bench/http-bench (libcurl, keep-alive connections), D-Bus load from
bench/dbus-bench; both are bounded by a request count, so the run takes well under a minute."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import benchlib
from bench_dbus import N_DOMAINS, bench_tool, start_hvd, start_libvirt_dbus, stop_libvirt_dbus
from hvd_harness import build_dir

LIFECYCLE_DOMAINS = 400
LIFECYCLE_OPS = int(os.environ.get("BENCH_HTTP_OPS", "8000"))  # 20 rounds over 400 domains
CLIENTS = 16
LIST_CLIENTS = 8


def http_tool(build, h, scenario, count, window=1, domains=LIFECYCLE_DOMAINS,
              path="/api/v1/domains"):
    out = subprocess.run([str(build / "bench" / "http-bench"), "--url", h.url, "--token", h.token,
                          "--scenario", scenario, "--count", str(count), "--window", str(window),
                          "--domains", str(domains), "--path", path],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"http-bench {scenario} failed: {out.stdout}{out.stderr}")
    return json.loads(out.stdout)


def measure_dbus(build, address, target):
    """ListDomains and lifecycle through dbus-bench; target is 'hvd' or 'libvirt'."""
    r = {}
    bench_tool(build, address, target, "list", 20)  # warm-up
    r["list"] = bench_tool(build, address, target, "list", 300)
    r["list_concurrent"] = bench_tool(build, address, target, "list", 2000, window=LIST_CLIENTS)
    # Warm-up: every domain started and destroyed once (a first start makes what later ones
    # reuse), on each side.
    bench_tool(build, address, target, "lifecycle", 2 * LIFECYCLE_DOMAINS, window=CLIENTS,
               domains=LIFECYCLE_DOMAINS)
    r["lifecycle"] = bench_tool(build, address, target, "lifecycle", LIFECYCLE_OPS,
                                window=CLIENTS, domains=LIFECYCLE_DOMAINS)
    # One round starts them all (the previous run ended with every domain destroyed).
    bench_tool(build, address, target, "lifecycle", LIFECYCLE_DOMAINS, window=CLIENTS,
               domains=LIFECYCLE_DOMAINS)
    r["pause_resume"] = bench_tool(build, address, target, "pause-resume", LIFECYCLE_OPS,
                                   window=CLIENTS, domains=LIFECYCLE_DOMAINS)
    return r


def measure_http(build, h):
    r = {}
    http_tool(build, h, "get", 20)  # warm-up (hvd caches each domain's JSON text)
    r["list"] = http_tool(build, h, "get", 300)
    r["list_concurrent"] = http_tool(build, h, "get", 2000, window=LIST_CLIENTS)
    r["list_filtered"] = http_tool(build, h, "get", 100, path="/api/v1/domains?driver=kvm")
    http_tool(build, h, "lifecycle", 2 * LIFECYCLE_DOMAINS, window=CLIENTS)  # warm-up
    r["lifecycle"] = http_tool(build, h, "lifecycle", LIFECYCLE_OPS, window=CLIENTS)
    http_tool(build, h, "lifecycle", LIFECYCLE_DOMAINS, window=CLIENTS)  # all running
    r["pause_resume"] = http_tool(build, h, "pause-resume", LIFECYCLE_OPS, window=CLIENTS)
    for i in range(LIFECYCLE_DOMAINS):  # shut off again, for the D-Bus round on this hvd
        status, _, body = h.request("POST", f"/api/v1/domains/bench-{i:05d}/actions/destroy")
        if status != 200:
            raise RuntimeError(f"destroying bench-{i:05d} failed: {status} {body}")
    return r


def rows_against(http, ref, ref_name):
    get = lambda scenario, key: ref[scenario][key] if ref else None
    kib = http["list"]["bytes_per_op"] / 1024
    return [
        (f"list {N_DOMAINS} domains, 1 client, median ({kib:.0f} KiB over HTTP)",
         http["list"]["median_us"], get("list", "median_us"), ref_name, "us", "lower"),
        (f"list {N_DOMAINS} domains, 1 client, p99", http["list"]["p99_us"],
         get("list", "p99_us"), ref_name, "us", "lower"),
        (f"list {N_DOMAINS} domains, {LIST_CLIENTS} clients", http["list_concurrent"]["ops_per_s"],
         get("list_concurrent", "ops_per_s"), ref_name, "req/s", "higher"),
        (f"list {N_DOMAINS} domains, 1 client, filtered (?driver=kvm), median",
         http["list_filtered"]["median_us"], get("list", "median_us"), ref_name, "us", "lower"),
        (f"start/destroy, {CLIENTS} clients (committed)", http["lifecycle"]["ops_per_s"],
         get("lifecycle", "ops_per_s"), ref_name, "ops/s", "higher"),
        (f"start/destroy, {CLIENTS} clients, median", http["lifecycle"]["median_us"],
         get("lifecycle", "median_us"), ref_name, "us", "lower"),
        (f"pause/resume, {CLIENTS} clients (committed)", http["pause_resume"]["ops_per_s"],
         get("pause_resume", "ops_per_s"), ref_name, "ops/s", "higher"),
    ]


def main():
    build = build_dir()
    for tool in ("http-bench", "dbus-bench"):
        if not (build / "bench" / tool).exists():
            print(f"bench/{tool} is not built in {build}: run 'make build'", file=sys.stderr)
            return 1
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-http-"))
    work.chmod(0o755)
    results = {}
    hbus = h = lbus = lproc = None
    try:
        hbus, h = start_hvd(build, work)
        try:
            results["http"] = measure_http(build, h)
            results["hvd-dbus"] = measure_dbus(build, hbus.address, "hvd")
        except RuntimeError:
            print(f"hvd's log ends with:\n{h.read_log()[-3000:]}", file=sys.stderr)
            raise
        h.stop()  # one server at a time on this machine's cores
        hbus.stop()
        h = hbus = None
        lbus, lproc, laddr = start_libvirt_dbus(work)
        if laddr:
            results["libvirt-dbus"] = measure_dbus(build, laddr, "libvirt")
    finally:
        if h:
            h.stop()
        if hbus:
            hbus.stop()
        stop_libvirt_dbus(lbus, lproc)
        shutil.rmtree(work, ignore_errors=True)

    http = results["http"]
    lv = results.get("libvirt-dbus")
    for name, r in results.items():
        errors = sum(v["errors"] for v in r.values())
        if errors:
            print(f"  {name}: {errors} requests failed", file=sys.stderr)
    benchlib.print_table(f"HTTP API against libvirt-dbus (D-Bus, libvirt's test driver), "
                         f"{N_DOMAINS} domains", rows_against(http, lv, "libvirt-dbus"))
    benchlib.print_table("HTTP API against hvd's own D-Bus API (the cost of HTTP and JSON)",
                         rows_against(http, results["hvd-dbus"], "hvd D-Bus"))
    benchlib.save("http", results)
    if not lv:
        print("  libvirt-dbus is not installed: no reference measured (apt-get install "
              "libvirt-dbus)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
