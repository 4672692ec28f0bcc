#!/usr/bin/env python3
"""Cluster: time to place and start 100 domains across 3 hosts on a 3-member etcd (each create
answered once its owner runs the domain), against creating and starting as many on one hvd
without a cluster in the same run; and the failover time from a host's death (kill -9 of hvd
and its VMMs) until its HA domains run elsewhere."""
import concurrent.futures
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import benchlib
from cluster_helpers import ClusterHost, EtcdCluster, cluster_create, running_on
from hvd_harness import Bus, Hvd, build_dir, wait_for

N = int(os.environ.get("BENCH_CLUSTER_DOMAINS", "100"))
PARALLEL = 8
LEASE_TTL = 4


def timed_creates(create, n):
    """Runs create(i) for i < n, PARALLEL at once; returns (total seconds, median seconds)."""
    def one(i):
        t0 = time.perf_counter()
        create(i)
        return time.perf_counter() - t0
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        each = list(pool.map(one, range(n)))
    return time.perf_counter() - t0, statistics.median(each)


def local_reference(build, work):
    bus = Bus(work / "bus")
    bus.start()
    h = Hvd(build, bus, work / "single",
            config=f"[allocation]\nreserved-memory-mib = 0\ncpu-overcommit = {N}\n")
    try:
        h.start()

        def create(i):
            body = {"name": f"l{i}", "driver": "minihv", "kernel": "echo", "memory_mib": 8}
            status, _, problem = h.request("POST", "/api/v1/domains", body)
            assert status == 201, problem
            status, _, problem = h.request("POST", f"/api/v1/domains/l{i}/actions/start")
            assert status == 200, problem
        return timed_creates(create, N)
    finally:
        h.stop()
        bus.stop()


def main():
    build = build_dir()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-cluster-"))
    work.chmod(0o755)
    results = {}
    etcd = EtcdCluster(work / "etcd").start()
    hosts = [ClusterHost(build, work / f"h{i}", f"h{i}", etcd.endpoints,
                         memory_mib=8 * N, lease_ttl=LEASE_TTL, cpu_overcommit=N)
             for i in range(3)]
    try:
        for h in hosts:
            h.start()
        wait_for(lambda: len(hosts[0].get("/api/v1/cluster/hosts")[2]) == 3, timeout=10,
                 interval=0.1, what="three hosts registered")

        def create(i):
            status, _, entry = cluster_create(hosts[i % 3], f"c{i}", memory_mib=8, ha=True)
            assert status == 201, entry
        results["place_start_seconds"], results["place_start_median_s"] = \
            timed_creates(create, N)
        per_host = {h.name: len(h.local_states()) for h in hosts}
        results["per_host"] = per_host

        victim = max(hosts, key=lambda h: len(h.local_states()))
        owned = list(victim.local_states())
        survivors = [h for h in hosts if h is not victim]
        t0 = time.perf_counter()
        victim.kill_all()
        wait_for(lambda: all(running_on(survivors, n) for n in owned), timeout=LEASE_TTL + 30,
                 interval=0.05, what="the failed host's domains running elsewhere")
        results["failover_seconds"] = time.perf_counter() - t0
        results["failover_domains"] = len(owned)
    finally:
        for h in hosts:
            try:
                h.shutdown()
            except AssertionError as e:
                print(f"{h.name}: {e}", file=sys.stderr)
        etcd.stop()
    results["local_seconds"], results["local_median_s"] = local_reference(build, work)
    shutil.rmtree(work, ignore_errors=True)

    rows = [
        (f"place and start {N} domains on 3 hosts ({PARALLEL} at once)",
         results["place_start_seconds"], results["local_seconds"],
         "one hvd, no cluster", "s", "lower"),
        ("one create until running, median", results["place_start_median_s"] * 1000,
         results["local_median_s"] * 1000, "one hvd, no cluster", "ms", "lower"),
        (f"failover of {results['failover_domains']} HA domains (lease TTL {LEASE_TTL} s)",
         results["failover_seconds"], None, "-", "s", "lower"),
    ]
    benchlib.print_table("Cluster: placement and failover on a 3-member etcd", rows)
    print(f"  domains per host: {results['per_host']}")
    benchlib.save("cluster", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
