"""Fencing that does not need hvd: the minihv VMM of an HA cluster domain ends its guest by itself
when hvd stops renewing its watchdog (hvd stopped, hung, SIGSTOPped) before the lease expires, so
the domain never runs on two hosts; a restarted hvd renews in time and keeps its domains; local
and non-HA domains are never armed; and a watchdog that could outlive the lease is refused.
And HA restarts from the latest snapshot: from its image where the new host can read it (loopback
hosts see each other's state directories), from the definition, saying why, where it cannot."""
import base64
import json
import os
import re
import signal
import subprocess
import time

from cluster_helpers import DoubleRunChecker, cluster_create, cluster_domains, running_on
from hvd_harness import wait_for
from minihv_helpers import Domain, require_kvm
from test_cluster import FENCE_TIME, LEASE_TTL, cluster  # noqa: F401 (the fixture)

WATCHDOG = LEASE_TTL - 1  # fence-watchdog's default: lease-ttl - 1 s


def start_local(host, name):
    body = {"name": name, "driver": "minihv", "kernel": "echo", "memory_mib": 8}
    assert host.request("POST", "/api/v1/domains", body)[0] == 201
    assert host.request("POST", f"/api/v1/domains/{name}/actions/start")[0] == 200


def owned_ha(host):
    """The HA cluster domains host runs, after three were placed."""
    return [n for n, s in host.local_states().items() if s == "running" and n.startswith("ha")]


def test_stopped_hvd_has_its_ha_domains_end_before_the_lease_expires(cluster):
    etcd, hosts, relay = cluster
    for i in range(3):
        assert cluster_create(hosts[0], f"ha{i}")[0] == 201
    victim = hosts[2]
    mine = owned_ha(victim)
    assert mine, victim.local_states()
    assert cluster_create(hosts[0], "plain", memory_mib=8, ha=False, pinned="h2")[0] == 201
    start_local(victim, "local")
    wait_for(lambda: "armed the fencing watchdog of HA domain" in victim.read_log(), timeout=3,
             interval=0.1, what="the watchdogs to be armed")
    assert "armed the fencing watchdog of HA domain plain" not in victim.read_log()
    assert set(victim.local_states()) == {*mine, "plain", "local"}
    checker = DoubleRunChecker(hosts, interval=0.05)

    stopped = time.monotonic()
    victim.signal(signal.SIGSTOP)  # hvd hangs; its VMMs run on
    try:
        wait_for(lambda: not set(mine) & set(victim.vmm_domains()), timeout=LEASE_TTL,
                 interval=0.05, what="the VMMs of the HA domains to end themselves")
        ended = time.monotonic() - stopped
        # The last renewal came at most a keepalive interval before SIGSTOP.
        assert 1.5 < ended < LEASE_TTL, f"ended after {ended:.1f} s"
        assert set(victim.vmm_domains()) == {"plain", "local"}  # never armed
        wait_for(lambda: all(running_on(hosts[:2], n) for n in mine), timeout=LEASE_TTL + 6,
                 interval=0.05, what=f"{mine} running on the other hosts")
        assert set(victim.vmm_domains()) == {"plain", "local"}
    finally:
        victim.signal(signal.SIGCONT)
    assert checker.stop() == [] and checker.polls > 5
    for n in mine:
        assert len(running_on(hosts, n)) == 1
    # Back, the hvd finds its lease gone: it fences its cluster domains; the local one runs on.
    wait_for(lambda: all(n not in victim.local_states() for n in mine), timeout=10,
             interval=0.1, what="the woken host to drop the domains it no longer owns")
    assert victim.local_states()["local"] == "running"
    # It records how they ended (their watchdogs) before its own fencing could call them
    # destroyed.
    for n in mine:
        status, _, log = victim.get(f"/api/v1/events/log?domain={n}")
        assert status == 200, log
        ends = [(e.get("state"), e.get("reason")) for e in log["events"]
                if e.get("state") == "shutoff"]
        assert ends and ends[0] == ("shutoff", "fenced"), json.dumps(log["events"], indent=1)


def test_cleanly_stopped_hvd_finds_its_ha_domains_fenced_when_it_comes_back(cluster):
    etcd, hosts, relay = cluster
    assert cluster_create(hosts[0], "ha0", pinned="h1")[0] == 201
    victim = hosts[1]  # pinned there: no other host may take it over
    wait_for(lambda: "armed the fencing watchdog of HA domain ha0" in victim.read_log(),
             timeout=3, interval=0.1, what="the watchdog to be armed")
    victim.local_states()
    victim.stop(kill_domains=False)
    assert "ha0" in victim.vmm_domains()
    wait_for(lambda: "ha0" not in victim.vmm_domains(), timeout=LEASE_TTL, interval=0.05,
             what="ha0's VMM to end itself")
    victim.start()
    status, _, log = victim.get("/api/v1/events/log?domain=ha0")
    assert status == 200, log
    assert any(e.get("reason") == "fenced" and e.get("state") == "shutoff"
               for e in log["events"]), json.dumps(log["events"], indent=1)
    # Still its owner, the host starts it again.
    wait_for(lambda: running_on(hosts, "ha0") == ["h1"], timeout=LEASE_TTL + 6, interval=0.1,
             what="ha0 to run again on h1")


def test_restarted_hvd_renews_in_time_and_keeps_its_domains(cluster):
    etcd, hosts, relay = cluster
    for i in range(3):
        assert cluster_create(hosts[0], f"ha{i}")[0] == 201
    victim = hosts[0]
    mine = owned_ha(victim)
    assert mine
    pids = set(victim.vmm_pids())
    checker = DoubleRunChecker(hosts, interval=0.05)
    victim.kill9()  # as a crash would; systemd's Restart= brings it back
    victim.start()
    time.sleep(LEASE_TTL)  # past the watchdogs and the old lease: the renewals kept them
    assert set(victim.vmm_pids()) == pids
    assert all(victim.local_states()[n] == "running" for n in mine)
    assert checker.stop() == []
    assert victim.read_log().count("armed the fencing watchdog of HA domain") >= 2 * len(mine)


def test_a_watchdog_that_could_outlive_the_lease_is_refused(workdir, build):
    conf = workdir / "bad.conf"
    base = "[cluster]\netcd = http://127.0.0.1:1\nhost = a\nlease-ttl = 10\nfence-time = 4\n"

    def check(extra):
        conf.write_text(base + extra)
        return subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf),
                               "--check-config"], capture_output=True, text=True, timeout=10)
    p = check("fence-watchdog = 10\n")
    assert p.returncode == 1
    assert "fence-watchdog (10 s) must be at least fence-time (4 s) and shorter than " \
           "lease-ttl (10 s)" in p.stderr, p.stderr
    p = check("fence-watchdog = 3\n")
    assert p.returncode == 1 and "fence-watchdog (3 s) must be at least" in p.stderr, p.stderr
    p = check("")
    assert p.returncode == 0 and "fence-watchdog = 9" in p.stdout, p.stdout + p.stderr


def test_vmm_watchdog_ends_the_guest_unless_renewed(build, tmp_path):
    require_kvm()
    d = Domain(build, tmp_path, "echo", "pv")
    try:
        c = d.client()
        bad = c.request({"cmd": "watchdog", "timeout_ms": 0})
        assert bad["ok"] is False and "from 1 to 3600000" in bad["error"], bad
        assert c.request({"cmd": "watchdog"})["ok"] is False
        began = time.monotonic()
        for _ in range(6):  # renewed: it keeps running past its timeout
            reply = c.request({"cmd": "watchdog", "timeout_ms": 300})
            assert reply["ok"] is True and 250 <= reply["remaining_ms"] <= 300, reply
            time.sleep(0.1)
        assert d.proc.poll() is None
        status, err = d.wait(timeout=5)
        took = time.monotonic() - began
        assert status == 8, err
        assert "minihv: fenced: the watchdog was not renewed within 300 ms" in err
        assert 0.8 < took < 2.5, took
    finally:
        d.kill()


COUNTER = re.compile(r"counter: (\d+) t=\d+\n")


def snapshot_record(etcd, name):
    key = base64.b64encode(f"/hvd/snapshots/{name}".encode()).decode()
    kvs = etcd.post(etcd.members[0], "/v3/kv/range", {"key": key}).get("kvs", [])
    return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None


def console(host, name):
    status, _, text = host.request("GET", f"/api/v1/domains/{name}/console?bytes=100000")
    return text if status == 200 and isinstance(text, str) else ""


def test_ha_domain_restarts_from_its_latest_snapshot_where_its_image_can_be_read(cluster):
    """Also: ha_from is checked, and set over D-Bus too."""
    etcd, hosts, relay = cluster
    body = {"name": "x", "driver": "minihv", "kernel": "echo", "memory_mib": 4}
    status, _, problem = hosts[0].request("POST", "/api/v1/cluster/domains",
                                          {**body, "ha": True, "ha_from": "yesterday"})
    assert status == 400 and "'ha_from' must be \"definition\" or \"snapshot\"" in \
        problem["detail"], problem
    status, _, problem = hosts[0].request("POST", "/api/v1/cluster/domains",
                                          {**body, "ha_from": "snapshot"})
    assert status == 400 and "is for HA domains" in problem["detail"], problem
    p = hosts[1].hvctl("--cluster", "create", "y", "--ha", "--ha-from", "snapshot", "--driver",
                       "minihv", "--kernel", "echo", "--memory", "4", "--json")  # over D-Bus
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ha_from"] == "snapshot"
    assert cluster_domains(hosts[0])["y"]["ha_from"] == "snapshot"
    assert cluster_domains(hosts[0])["y"]["ha"] is True
    for name in ("a", "b"):
        body = {"name": name, "driver": "minihv", "kernel": "counter", "memory_mib": 16,
                "ha": True, "ha_from": "snapshot"}
        status, _, entry = hosts[0].request("POST", "/api/v1/cluster/domains", body, timeout=30)
        assert status == 201 and entry["ha_from"] == "snapshot", entry
    view = cluster_domains(hosts[0])
    victim = next(h for h in hosts if h.name == view["a"]["host"])
    if view["b"]["host"] != victim.name:
        p = hosts[0].hvctl("--cluster", "move", "b", "--to", victim.name)
        assert p.returncode == 0, p.stderr
    survivors = [h for h in hosts if h is not victim]
    before = {}
    for name in ("a", "b"):
        wait_for(lambda: COUNTER.search(console(victim, name)), timeout=5, interval=0.1,
                 what=f"{name} counting")
        before[name] = int(COUNTER.findall(console(victim, name))[-1])
        status, _, body = victim.request("POST", f"/api/v1/domains/{name}/snapshots",
                                         {"name": "s1"})
        assert status in (200, 201), body
        wait_for(lambda: (snapshot_record(etcd, name) or {}).get("snapshot") == "s1",
                 timeout=5, interval=0.1, what=f"the snapshot of {name} recorded in etcd")
    time.sleep(1)
    counted = int(COUNTER.findall(console(victim, "a"))[-1])
    # b's image is where no other host can read it: it restarts from its definition.
    os.unlink(snapshot_record(etcd, "b")["path"])
    checker = DoubleRunChecker(hosts)

    victim.kill_all()
    wait_for(lambda: all(running_on(survivors, n) for n in ("a", "b")), timeout=LEASE_TTL + 6,
             interval=0.1, what="a and b running on another host")
    assert checker.stop() == []
    new_a = next(h for h in survivors if running_on([h], "a"))
    new_b = next(h for h in survivors if running_on([h], "b"))
    assert "restarting HA domain a from its latest snapshot s1" in new_a.read_log()
    assert "restarting HA domain b from its definition: the image of its latest snapshot s1 " \
           f"(run on {victim.name}) cannot be read here" in new_b.read_log()
    wait_for(lambda: COUNTER.search(console(new_a, "a")), timeout=5, interval=0.1,
             what="a counting on")
    text = console(new_a, "a")
    assert "counter: start" not in text, text  # continued, not booted
    # From where it was at the snapshot: not from the start, nor from where it was at the end.
    assert before["a"] <= int(COUNTER.findall(text)[0]) < counted, (before, counted, text)
    wait_for(lambda: "counter: start" in console(new_b, "b"), timeout=5, interval=0.1,
             what="b booted anew")
    # The new owner records that it runs a, from the same image.
    wait_for(lambda: (snapshot_record(etcd, "a") or {}).get("host") == new_a.name, timeout=5,
             interval=0.1, what="a's record to name its new host")

