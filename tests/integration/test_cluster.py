"""hvd hosts in a cluster on a real 3-member etcd on loopback: placement by capacity and its
refusals, HA restarts after a host's death, self-fencing of a host cut off from etcd, no domain
ever running on two hosts, and etcd losing quorum."""
import json
import signal
import subprocess
import time

import pytest

from cluster_helpers import (ClusterHost, DoubleRunChecker, EtcdCluster, Relay, cluster_create,
                             cluster_domains, make_certificates, running_on)
from hvd_harness import Hvd, wait_for
from minihv_helpers import require_kvm

LEASE_TTL = 4
FENCE_TIME = 2


@pytest.fixture
def cluster(workdir, build):
    """etcd on loopback and hosts h0, h1, h2 with 64 MiB each; h2 reaches etcd through a relay
    the test can cut."""
    require_kvm()
    etcd = EtcdCluster(workdir / "etcd").start()
    relay = Relay(etcd.members[2].client_port)
    hosts = [ClusterHost(build, workdir / f"h{i}", f"h{i}",
                         relay.url if i == 2 else etcd.endpoints,
                         lease_ttl=LEASE_TTL, fence_time=FENCE_TIME)
             for i in range(3)]
    try:
        for h in hosts:
            h.start()
        wait_for(lambda: len(hosts[0].get("/api/v1/cluster/hosts")[2]) == 3, timeout=10,
                 interval=0.1, what="three hosts registered")
        yield etcd, hosts, relay
    finally:
        problems = []
        for h in hosts:
            try:
                h.shutdown()
            except AssertionError as e:
                problems.append(f"{h.name}: {e}")
        relay.close()
        etcd.stop()
        assert not problems, "\n".join(problems)


def leader_of(host):
    return next(h["name"] for h in host.get("/api/v1/cluster/hosts")[2] if h["leader"])


def hvctl_url(host, *args):
    return host.hvctl("--url", host.url, "--token-file", str(host.state_dir / "http-token"),
                      *args)


def test_placement_fills_hosts_by_capacity_and_refuses_what_fits_nowhere(cluster):
    etcd, hosts, relay = cluster
    status, _, entry = cluster_create(hosts[0], "pinned", ha=False, pinned="h2")
    assert status == 201, entry
    assert entry["host"] == "h2" and entry["state"] == "running"
    for i in range(10):
        status, _, entry = cluster_create(hosts[i % 3], f"d{i}", ha=False)
        assert status == 201, entry
    # And one over D-Bus.
    p = hosts[1].hvctl("--cluster", "create", "d10", "--ha", "--driver", "minihv", "--kernel",
                       "echo", "--memory", "16", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["state"] == "running" and json.loads(p.stdout)["ha"] is True
    # 12 domains of 16 MiB fill three hosts of 64 MiB: four each.
    for h in hosts:
        states = h.local_states()
        assert sorted(states.values()) == ["running"] * 4, (h.name, states)

    p = hvctl_url(hosts[1], "--cluster", "create", "toomuch", "--driver", "minihv",
                  "--kernel", "echo", "--memory", "16")
    assert p.returncode == 1, p.stdout
    assert "no host can run domain toomuch" in p.stderr, p.stderr
    for h in ("h0", "h1", "h2"):
        assert f"{h}: not enough memory (requested 16 MiB, 0 MiB free)" in p.stderr, p.stderr
    status, _, problem = cluster_create(hosts[0], "nowhere", memory_mib=8, pinned="h9")
    assert status == 409 and "the domain is pinned to h9" in problem["detail"], problem
    status, _, problem = hosts[0].request("POST", "/api/v1/cluster/domains",
                                          {"name": "x", "memory_mib": "lots"})
    assert status == 400 and "memory_mib" in problem["detail"], problem

    listed = json.loads(hvctl_url(hosts[2], "--cluster", "list", "--json").stdout)
    by_name = {d["name"]: d for d in listed}
    assert set(by_name) == {"pinned", *(f"d{i}" for i in range(11))}
    for h in hosts:
        for name, state in h.local_states().items():
            assert by_name[name]["host"] == h.name and by_name[name]["state"] == "running"
    hosts_view = json.loads(hvctl_url(hosts[0], "--cluster", "hosts", "--json").stdout)
    assert sorted(h["name"] for h in hosts_view) == ["h0", "h1", "h2"]
    assert sum(h["leader"] for h in hosts_view) == 1
    table = hvctl_url(hosts[0], "--cluster", "list").stdout
    assert table.split("\n")[0].split() == ["NAME", "HOST", "STATE", "HA", "VCPUS", "MEMORY"]
    over_bus = json.loads(hosts[1].hvctl("--cluster", "list", "--json", check=True).stdout)
    assert sorted(over_bus, key=lambda d: d["name"]) == sorted(listed, key=lambda d: d["name"])
    p = hosts[0].hvctl("--cluster", "hosts")
    assert p.returncode == 0 and p.stdout.split("\n")[0].split()[:2] == ["NAME", "LEADER"]

    # Deleting: the owner stops and undefines its copy, over HTTP and over D-Bus alike.
    owner0 = next(h for h in hosts if h.name == by_name["d0"]["host"])
    owner1 = next(h for h in hosts if h.name == by_name["d1"]["host"])
    p = hvctl_url(hosts[0], "--cluster", "delete", "d0")
    assert p.returncode == 0 and p.stdout == "Domain d0 deleted from the cluster.\n", p.stderr
    assert hosts[2].hvctl("--cluster", "delete", "d1").returncode == 0
    for owner, name in ((owner0, "d0"), (owner1, "d1")):
        wait_for(lambda: name not in owner.local_states(), timeout=5, interval=0.1,
                 what=f"{owner.name} to undefine {name}")
    assert not {"d0", "d1"} & set(cluster_domains(hosts[1]))
    p = hvctl_url(hosts[0], "--cluster", "delete", "d0")
    assert p.returncode == 3 and "no cluster domain named d0" in p.stderr, p.stderr


def test_killed_host_has_its_ha_domains_running_elsewhere_within_the_ttl(cluster):
    etcd, hosts, relay = cluster
    for i in range(3):
        assert cluster_create(hosts[0], f"ha{i}")[0] == 201
    victim = next(h for h in hosts if h.name == leader_of(hosts[0]))
    assert cluster_create(hosts[0], "stays", ha=False, pinned=victim.name)[0] == 201
    owned = [n for n, d in cluster_domains(hosts[0]).items()
             if d["host"] == victim.name and d["ha"]]
    assert owned, cluster_domains(hosts[0])
    survivors = [h for h in hosts if h is not victim]
    checker = DoubleRunChecker(hosts)

    killed = time.monotonic()
    victim.kill_all()
    wait_for(lambda: all(running_on(survivors, n) for n in owned), timeout=LEASE_TTL + 6,
             interval=0.1, what=f"{owned} running on another host")
    took = time.monotonic() - killed
    assert took < LEASE_TTL + 4, f"failover took {took:.1f} s"
    assert checker.stop() == [] and checker.polls > 10
    # The new owners report the domains running (their registrations follow within a tick).
    view = wait_for(lambda: (lambda v: v if all(v[n]["state"] == "running" for n in owned)
                             else None)(cluster_domains(survivors[0])),
                    timeout=3, interval=0.1, what="the cluster to show the domains running")
    assert view["stays"]["host"] == victim.name and view["stays"]["state"] == "unknown"
    assert not running_on(survivors, "stays")
    for n in owned:
        assert view[n]["host"] != victim.name, view[n]


def test_host_cut_off_from_etcd_stops_its_domains_before_they_run_elsewhere(cluster):
    etcd, hosts, relay = cluster
    for i in range(3):
        assert cluster_create(hosts[0], f"ha{i}")[0] == 201
    cut = hosts[2]
    mine = [n for n, s in cut.local_states().items() if s == "running"]
    assert mine, cluster_domains(hosts[0])
    checker = DoubleRunChecker(hosts, interval=0.05)

    started = time.monotonic()
    relay.cut()
    wait_for(lambda: all(cut.local_states().get(n) != "running" for n in mine),
             timeout=FENCE_TIME + 3, interval=0.05, what="the cut-off host to stop its domains")
    stopped = time.monotonic()
    wait_for(lambda: all(running_on(hosts[:2], n) for n in mine), timeout=LEASE_TTL + 6,
             interval=0.05, what=f"{mine} running on the other hosts")
    elsewhere = time.monotonic()
    assert stopped - started < FENCE_TIME + 1.5
    assert stopped < elsewhere
    assert "self-fencing" in cut.read_log()

    relay.heal()
    wait_for(lambda: all(n not in (cut.local_states() or {}) for n in mine), timeout=10,
             interval=0.1, what="the healed host to drop the domains it no longer owns")
    wait_for(lambda: len(hosts[0].get("/api/v1/cluster/hosts")[2]) == 3, timeout=10,
             interval=0.1, what="the healed host registered again")
    time.sleep(1)
    assert checker.stop() == []
    for n in mine:
        assert len(running_on(hosts, n)) == 1


def test_host_restarted_while_cut_off_fences_the_domains_it_ran(cluster):
    etcd, hosts, relay = cluster
    for i in range(3):
        assert cluster_create(hosts[0], f"ha{i}")[0] == 201
    cut = hosts[2]
    mine = [n for n, s in cut.local_states().items() if s == "running"]
    assert mine
    checker = DoubleRunChecker(hosts, interval=0.05)
    cut.stop(kill_domains=False)  # its domains keep running, as hvd leaves them
    relay.cut()
    cut.start()
    assert all(cut.local_states()[n] == "running" for n in mine)  # re-attached
    wait_for(lambda: all(cut.local_states().get(n) != "running" for n in mine),
             timeout=FENCE_TIME + 2, interval=0.05, what="the restarted host to fence")
    wait_for(lambda: all(running_on(hosts[:2], n) for n in mine), timeout=LEASE_TTL + 6,
             interval=0.05, what=f"{mine} running on the other hosts")
    assert checker.stop() == []
    assert "cluster domains known from before" in cut.read_log()


def test_restarted_hvd_keeps_its_domains_and_releases_the_leadership_at_once(cluster):
    etcd, hosts, relay = cluster
    assert cluster_create(hosts[0], "ha0")[0] == 201
    leader = next(h for h in hosts if h.name == leader_of(hosts[1]))
    running_before = {n for n, s in leader.local_states().items() if s == "running"}
    checker = DoubleRunChecker(hosts)
    leader.stop(kill_domains=False)
    leader.start()
    began = time.monotonic()
    # Its previous lease is revoked once it registered anew, and the leader key with it: the
    # next placement does not wait for that lease to expire.
    status, _, entry = cluster_create(hosts[1], "after")
    assert status == 201, entry
    assert time.monotonic() - began < LEASE_TTL - 1
    assert "revoked the lease of hvd's previous run" in leader.read_log()
    time.sleep(LEASE_TTL)  # past the old lease's expiry: nothing moved
    assert checker.stop() == []
    assert {n for n, s in leader.local_states().items() if s == "running"} >= running_before


def test_drain_moves_every_domain_off_a_host_one_stop_before_each_start(cluster):
    etcd, hosts, relay = cluster
    for i in range(3):
        assert cluster_create(hosts[0], f"ha{i}")[0] == 201
    assert cluster_create(hosts[0], "plain", ha=False, pinned=None)[0] == 201
    assert cluster_create(hosts[0], "stuck", memory_mib=8, ha=False, pinned="h1")[0] == 201
    h1 = hosts[1]
    moving = [n for n, s in h1.local_states().items() if s == "running" and n != "stuck"]
    assert moving, cluster_domains(hosts[0])
    checker = DoubleRunChecker(hosts, interval=0.05)

    p = hvctl_url(hosts[0], "--cluster", "drain", "h1", "--json")
    assert p.returncode == 0, p.stderr
    # Without advertised URLs the hosts cannot reach each other: every move is cold.
    assert json.loads(p.stdout) == {"host": "h1", "pinned_there": ["stuck"],
                                    "moved": {n: "cold" for n in moving}}
    assert set(h1.local_states()) == {"stuck"}
    view = cluster_domains(hosts[2])
    for n in moving:
        assert view[n]["host"] in ("h0", "h2") and len(running_on(hosts, n)) == 1, view[n]
    assert checker.stop() == []
    drained = next(h for h in hosts[0].get("/api/v1/cluster/hosts")[2] if h["name"] == "h1")
    assert drained["draining"] is True
    status, _, problem = cluster_create(hosts[0], "new", memory_mib=8, pinned="h1")
    assert status == 409 and "h1: it is being drained" in problem["detail"], problem

    p = hosts[2].hvctl("--cluster", "undrain", "h1")  # over D-Bus
    assert p.returncode == 0 and p.stdout == "Host h1 takes domains again.\n", p.stderr
    status, _, entry = cluster_create(hosts[0], "new", memory_mib=8, pinned="h1")
    assert status == 201 and entry["host"] == "h1", entry
    p = hvctl_url(hosts[0], "--cluster", "drain", "nosuch")
    assert p.returncode == 3 and "no host named nosuch" in p.stderr, p.stderr


def test_move_stops_a_domain_on_its_host_before_it_starts_on_the_other(cluster):
    etcd, hosts, relay = cluster
    status, _, entry = cluster_create(hosts[0], "m", ha=False)
    assert status == 201, entry
    source = entry["host"]
    target, full = [h.name for h in hosts if h.name != source]
    assert cluster_create(hosts[0], "big", memory_mib=60, pinned=full)[0] == 201
    checker = DoubleRunChecker(hosts, interval=0.05)

    p = hvctl_url(hosts[1], "--cluster", "move", "m", "--to", target, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["host"] == target and json.loads(p.stdout)["state"] == "running"
    assert running_on(hosts, "m") == [target]
    wait_for(lambda: "m" not in next(h for h in hosts if h.name == source).local_states(),
             timeout=5, interval=0.1, what="the source to undefine its copy")
    assert checker.stop() == []

    p = hosts[2].hvctl("--cluster", "move", "m", "--to", full)  # over D-Bus
    assert p.returncode == 1, p.stdout
    assert f"cannot move: {full}: not enough memory (requested 16 MiB, 4 MiB free)" in p.stderr
    p = hvctl_url(hosts[0], "--cluster", "move", "m", "--to", target)
    assert p.returncode == 1 and f"runs on {target} already" in p.stderr, p.stderr
    p = hvctl_url(hosts[0], "--cluster", "move", "m", "--to", "h9")
    assert p.returncode == 1 and "no host named h9" in p.stderr, p.stderr
    assert running_on(hosts, "m") == [target]


def test_quorum_loss_fails_cluster_operations_while_local_domains_keep_running(cluster):
    etcd, hosts, relay = cluster
    h = hosts[0]
    assert cluster_create(h, "c1")[0] == 201
    local = {"name": "local", "driver": "minihv", "kernel": "echo", "memory_mib": 8}
    assert h.request("POST", "/api/v1/domains", local)[0] == 201
    assert h.request("POST", "/api/v1/domains/local/actions/start")[0] == 200

    etcd.stop_member(etcd.members[0])
    etcd.stop_member(etcd.members[1])
    began = time.monotonic()
    status, _, problem = h.get("/api/v1/cluster/hosts")
    assert time.monotonic() - began < 5
    assert status == 503, problem
    assert "the cluster is unavailable: etcd at" in problem["detail"], problem
    status, _, problem = cluster_create(h, "c2")
    assert status == 503 and "etcd" in problem["detail"], problem
    p = hvctl_url(h, "--cluster", "list")
    assert p.returncode == 1 and "the cluster is unavailable" in p.stderr, p.stderr

    time.sleep(FENCE_TIME + 1)
    assert h.local_states()["local"] == "running"
    assert h.local_states()["c1"] != "running"  # cluster domains fence themselves


def test_cluster_configuration_is_checked_and_optional(workdir, build, bus):
    conf = workdir / "bad.conf"
    conf.write_text("[cluster]\netcd = http://127.0.0.1:1\nhost = a\nlease-ttl = 4\n"
                    "fence-time = 4\n")
    p = subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "fence-time (4 s) plus request-timeout-ms (2000 ms) must be shorter than " \
           "lease-ttl (4 s)" in p.stderr, p.stderr
    conf.write_text("[cluster]\netcd = ftp://x\nhost = a\n")
    p = subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "must start with http://" in p.stderr, p.stderr
    conf.write_text("[cluster]\netcd = http://127.0.0.1:1\n")
    p = subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "[cluster] needs host = NAME" in p.stderr, p.stderr

    hvd = Hvd(build, bus, workdir / "single")
    try:
        hvd.start()
        status, _, problem = hvd.request("GET", "/api/v1/cluster/domains")
        assert status == 409 and "not part of a cluster" in problem["detail"], problem
        # A reload checks [cluster] too (and takes it only at the next start).
        good = hvd.config_path.read_text()
        hvd.config_path.write_text(good + "[cluster]\netcd = http://127.0.0.1:1\n")
        hvd.signal(signal.SIGHUP)
        wait_for(lambda: "[cluster] needs host = NAME" in hvd.read_log(), timeout=5,
                 what="the reload to be refused")
        assert "Reload refused" in hvd.read_log()
        hvd.config_path.write_text(good + "[cluster]\netcd = http://127.0.0.1:1\nhost = x\n")
        hvd.signal(signal.SIGHUP)
        wait_for(lambda: "[cluster] takes effect at the next start" in hvd.read_log(),
                 timeout=5, what="the reload's notice")
        assert hvd.request("GET", "/api/v1/cluster/domains")[0] == 409
    finally:
        hvd.stop()


def test_completion_knows_the_cluster_verbs(build):
    from test_hvctl_completion import complete
    assert complete(build, "--cluster", "") == ["create", "delete", "drain", "hosts", "list",
                                                "migrate", "move", "undrain"]
    assert {"--ha", "--host", "--memory"} <= set(complete(build, "--cluster", "create", "x", "--"))
    assert complete(build, "--cluster", "hosts", "--") == ["--help", "--json"]
    assert "--cluster" in complete(build, "--")


def test_etcd_over_tls_with_a_client_certificate(workdir, build):
    require_kvm()
    certs = make_certificates(workdir / "certs")
    etcd = EtcdCluster(workdir / "etcd", n=1, tls=certs).start()
    good = ClusterHost(build, workdir / "good", "good", etcd.endpoints,
                       extra=f"etcd-ca = {certs['ca.pem']}\netcd-cert = {certs['client.pem']}\n"
                             f"etcd-key = {certs['client.key']}\n")
    anonymous = ClusterHost(build, workdir / "anon", "anon", etcd.endpoints,
                            extra=f"etcd-ca = {certs['ca.pem']}\n")
    try:
        good.start()
        anonymous.start()
        status, _, entry = cluster_create(good, "secure")
        assert status == 201 and entry["host"] == "good", entry
        status, _, hosts = good.get("/api/v1/cluster/hosts")
        assert [h["name"] for h in hosts] == ["good"]
        status, _, problem = anonymous.get("/api/v1/cluster/hosts")
        assert status == 503 and etcd.endpoints in problem["detail"], problem
    finally:
        good.shutdown()
        anonymous.shutdown()
        etcd.stop()
