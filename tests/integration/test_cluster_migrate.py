"""Live migration between cluster hosts: a running counter guest moves without restarting (its
counter continues) while no domain ever runs on two hosts, a move to a host without room is
refused with the reason while the domain keeps running where it was, a migration the target
refuses leaves it running where it was with the reason, and a drain empties a host by live
migrations."""
import json
import re

import pytest

from cluster_helpers import ClusterHost, DoubleRunChecker, EtcdCluster, free_port, running_on
from hvd_harness import wait_for
from minihv_helpers import require_kvm

TOKEN = "ab" * 32  # the hosts' shared HTTP token, which they use to admit each other's domains
COUNTER = re.compile(r"counter: (\d+) t=\d+\n")


@pytest.fixture
def pair(workdir, build):
    """etcd on loopback and hosts h0, h1 (64 MiB each) that live-migrate to each other."""
    yield from start_pair(workdir, build, [TOKEN, TOKEN])


@pytest.fixture
def wrong_token_pair(workdir, build):
    """As pair, but h1 presents a token h0 does not take."""
    yield from start_pair(workdir, build, [TOKEN, "cd" * 32])


def start_pair(workdir, build, migrate_tokens):
    require_kvm()
    etcd = EtcdCluster(workdir / "etcd").start()
    hosts = []
    for i in range(2):
        port = free_port()
        h = ClusterHost(build, workdir / f"h{i}", f"h{i}", etcd.endpoints,
                        extra=f"advertise = http://127.0.0.1:{port}\n"
                              f"migrate-token = {migrate_tokens[i]}\n")
        h.http = f"127.0.0.1:{port}"
        h.state_dir.mkdir(parents=True, exist_ok=True)
        (h.state_dir / "http-token").write_text(TOKEN + "\n")
        (h.state_dir / "http-token").chmod(0o600)
        hosts.append(h)
    try:
        for h in hosts:
            h.start()
        wait_for(lambda: len(hosts[0].get("/api/v1/cluster/hosts")[2]) == 2, timeout=10,
                 interval=0.1, what="two hosts registered")
        yield hosts
    finally:
        for h in hosts:
            h.shutdown()
        etcd.stop()


def counts(host, name):
    text = host.hvctl("console", name, "--tail", "100000", check=True).stdout
    return [int(n) for n in COUNTER.findall(text)]


def test_move_migrates_a_running_guest_live_and_refuses_a_host_without_room(pair):
    by_name = {h.name: h for h in pair}
    p = pair[0].hvctl("--cluster", "create", "c", "--driver", "minihv", "--mode", "pv",
                      "--kernel", "counter", "--memory", "16", "--cmdline",
                      "period_ms=50 dirty_pages=32", "--json", timeout=40)
    assert p.returncode == 0, p.stderr
    src = by_name[json.loads(p.stdout)["host"]]
    dst = next(h for h in pair if h is not src)
    wait_for(lambda: len(counts(src, "c")) >= 3, timeout=10, interval=0.1, what="the counter")
    checker = DoubleRunChecker(pair, interval=0.05)
    p = src.hvctl("--cluster", "migrate", "c", "--to", dst.name, "--json", timeout=40)
    assert p.returncode == 0, p.stderr
    entry = json.loads(p.stdout)
    assert entry["host"] == dst.name and entry["state"] == "running", entry
    assert entry["moved"] == "live", entry
    wait_for(lambda: len(counts(dst, "c")) >= 3, timeout=10, interval=0.1,
             what="the counter continuing on the target")
    assert counts(dst, "c")[0] > 2, counts(dst, "c")  # a restarted guest would count from 0
    assert checker.stop() == []
    wait_for(lambda: "c" not in src.local_states(), timeout=10, interval=0.1,
             what="the source to undefine its copy")

    # The source without room now: moving back is refused with the reason, c stays put.
    p = pair[0].hvctl("--cluster", "create", "big", "--host", src.name, "--driver", "minihv",
                      "--kernel", "echo", "--memory", "56", timeout=40)
    assert p.returncode == 0, p.stderr
    p = dst.hvctl("--cluster", "move", "c", "--to", src.name, timeout=40)
    assert p.returncode != 0
    assert f"cannot move: {src.name}: not enough memory" in p.stderr, p.stderr
    assert running_on(pair, "c") == [dst.name]


def test_drain_empties_a_host_by_live_migration(pair):
    for i in range(3):
        p = pair[0].hvctl("--cluster", "create", f"d{i}", "--host" if i == 0 else "--ha",
                          *(["h0"] if i == 0 else []), "--driver", "minihv", "--mode", "pv",
                          "--kernel", "counter", "--memory", "16", timeout=40)
        assert p.returncode == 0, p.stderr
    # d0 pinned to h0 stays; the others may be anywhere: put them on h0 first.
    for i in (1, 2):
        if "d%d" % i not in pair[0].local_states():
            p = pair[0].hvctl("--cluster", "migrate", f"d{i}", "--to", "h0", timeout=40)
            assert p.returncode == 0, p.stderr
    assert sorted(pair[0].local_states()) == ["d0", "d1", "d2"]
    checker = DoubleRunChecker(pair, interval=0.05)
    p = pair[1].hvctl("--cluster", "drain", "h0", timeout=50)
    assert p.returncode == 0, p.stderr
    assert "Domain d1 moved (live)." in p.stdout and "Domain d2 moved (live)." in p.stdout, p.stdout
    assert "but for 1 domains pinned to it" in p.stdout, p.stdout
    for i in (1, 2):
        assert running_on(pair, f"d{i}") == ["h1"]
        wait_for(lambda: len(counts(pair[1], f"d{i}")) >= 1, timeout=10, interval=0.1,
                 what="the counter on h1")
        assert counts(pair[1], f"d{i}")[0] > 2, counts(pair[1], f"d{i}")
    assert checker.stop() == []


def test_failed_live_migration_leaves_the_domain_running_where_it_was(wrong_token_pair):
    h0, h1 = wrong_token_pair
    p = h0.hvctl("--cluster", "create", "c", "--driver", "minihv", "--mode", "pv", "--kernel",
                 "counter", "--memory", "16", timeout=40)
    assert p.returncode == 0, p.stderr
    if running_on(wrong_token_pair, "c") == ["h0"]:
        p = h0.hvctl("--cluster", "migrate", "c", "--to", "h1", timeout=40)  # h0's token works
        assert p.returncode == 0, p.stderr
    assert running_on(wrong_token_pair, "c") == ["h1"]
    wait_for(lambda: len(counts(h1, "c")) >= 2, timeout=10, interval=0.1, what="the counter")
    p = h0.hvctl("--cluster", "migrate", "c", "--to", "h0", timeout=40)
    assert p.returncode != 0, p.stdout
    assert "cluster domain c stays on h1: the live migration to h0 failed:" in p.stderr, p.stderr
    assert running_on(wrong_token_pair, "c") == ["h1"]
    seen = counts(h1, "c")[-1]
    wait_for(lambda: counts(h1, "c")[-1] > seen, timeout=5, interval=0.1,
             what="the counter going on where it was")
