"""Faults: hvd killed at random moments during a mixed workload, a database locked by another
process, a full state directory. Each gives a clear error and loses nothing."""
import os
import random
import sqlite3
import subprocess
import threading

import dbus
import pytest

from hvd_harness import wait_for

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

CONFIG = "[allocation]\ncpu-overcommit = 100\nreserved-memory-mib = 0\n"


def check_invariants(h):
    """What must hold after any crash: the database is sound, allocations match the domains
    that hold them, and every active minihv domain has exactly its own process."""
    assert h.db_query("PRAGMA integrity_check") == [("ok",)]

    def snapshot():
        """The recorded domains, checked against the allocation rows, and the host view, once
        hvd's view agrees with the record (what a restarted hvd learns from its VMMs after it
        is ready is recorded a moment later)."""
        domains = h.db_query("SELECT id, name, state, vcpus, memory_mib, pid FROM domains")
        holding = [d for d in domains if d[2] != "shutoff"]
        alloc = h.db_query("SELECT domain_id, vcpus, memory_mib FROM allocations")
        assert sorted(a[0] for a in alloc) == sorted(d[0] for d in holding)
        assert sum(a[1] for a in alloc) == sum(d[3] for d in holding)
        assert sum(a[2] for a in alloc) == sum(d[4] for d in holding)
        host = h.hvctl_json("host")
        return (domains, holding, host) if host["vcpus_allocated"] == sum(
            d[3] for d in holding) else None
    try:
        domains, holding, host = wait_for(snapshot, timeout=5, what="hvd's view to match")
    except TimeoutError:
        domains = h.db_query("SELECT id, name, state, vcpus, memory_mib, pid FROM domains")
        raise AssertionError((domains, h.hvctl_json("host")["vcpus_allocated"]))
    # A domain whose start was recorded with its process when hvd died is still starting until
    # the restarted hvd has re-attached it: its process is its own all the same.
    active = sorted(d[5] for d in domains if d[2] in ("running", "paused") or
                    (d[2] == "starting" and d[5]))

    def pids():
        out = subprocess.run(["pgrep", "-f", f"control {h.runtime_dir}/minihv/"],
                             capture_output=True, text=True).stdout
        return sorted(int(p) for p in out.split())
    # A VMM started but not recorded before the kill is asked to end without hvd waiting for
    # it: it may take a moment after hvd is ready.
    try:
        wait_for(lambda: pids() == active, timeout=5, what="one process per active domain")
    except TimeoutError:
        assert pids() == active, (domains, pids())
    return {d[1]: d[2] for d in domains}


class Workload:
    """Random operations on minihv domains, over D-Bus and HTTP in turn, with what each
    acknowledged operation must have left behind."""

    def __init__(self, h, rng):
        self.h = h
        self.rng = rng
        self.expected = {}      # name -> "shutoff", "running", "paused" or absent
        self.in_flight = None   # (name, state before, state after) of an unanswered operation
        self.acknowledged = 0
        self.counter = 0
        self.conn = None

    def connect(self):
        self.conn = self.h.bus.connect()

    def choose(self):
        names = sorted(self.expected)
        if len(names) < 4 or self.rng.random() < 0.15:
            self.counter += 1
            return f"w{self.counter:04d}", "create", None, "shutoff"
        name = self.rng.choice(names)
        state = self.expected[name]
        options = {"shutoff": [("start", "running"), ("delete", None)],
                   "running": [("destroy", "shutoff"), ("pause", "paused")],
                   "paused": [("resume", "running"), ("destroy", "shutoff")]}[state]
        verb, after = self.rng.choice(options)
        return name, verb, state, after

    def run_one(self, via_http):
        name, verb, before, after = self.choose()
        self.in_flight = (name, before, after)
        if via_http:
            if verb == "create":
                status, _, _ = self.h.request("POST", "/api/v1/domains",
                                              {"name": name, "driver": "minihv",
                                               "kernel": "echo", "memory_mib": 2}, timeout=10)
            elif verb == "delete":
                status, _, _ = self.h.request("DELETE", f"/api/v1/domains/{name}", timeout=10)
            else:
                status, _, _ = self.h.request("POST", f"/api/v1/domains/{name}/actions/{verb}",
                                              timeout=10)
            if status >= 300:
                raise AssertionError(f"{verb} {name} over HTTP: {status}")
        else:
            m = self.h.manager(self.conn)
            if verb == "create":
                m.CreateDomain({"name": name, "driver": "minihv", "kernel": "echo",
                                "memory_mib": dbus.UInt64(2)}, timeout=10)
            elif verb == "delete":
                m.DeleteDomain(name, timeout=10)
            else:
                path = m.GetDomain(name, timeout=10)
                obj = self.conn.get_object("org.hvd1", path, introspect=False)
                getattr(obj, verb.capitalize())(dbus_interface="org.hvd1.Domain", timeout=10)
        # Acknowledged: it must be so from now on.
        if after is None:
            del self.expected[name]
        else:
            self.expected[name] = after
        self.in_flight = None
        self.acknowledged += 1


def test_kill9_during_a_mixed_workload(make_hvd):
    rng = random.Random(20261126)
    h = make_hvd(config=CONFIG).start()
    work = Workload(h, rng)
    work.connect()
    kills = 0
    while work.acknowledged < 1000:
        # Run a burst; somewhere in its middle hvd dies by SIGKILL.
        burst = rng.randint(60, 160)
        killer = threading.Timer(rng.uniform(0.05, 0.4), h.proc.kill)
        killer.start()
        for i in range(burst):
            try:
                work.run_one(via_http=i % 2 == 1)
            except Exception:
                break  # the answer was lost with hvd: this operation is unacknowledged
        killer.cancel()
        if h.proc.poll() is None:
            h.proc.kill()
        h.proc.wait()
        kills += 1
        h.start()
        work.connect()
        states = check_invariants(h)
        for name, state in work.expected.items():
            allowed = {state}
            if work.in_flight and work.in_flight[0] == name:
                allowed.add(work.in_flight[2])
            assert states.get(name) in allowed, (name, states.get(name), allowed,
                                                 [l for l in h.read_log().splitlines()
                                                  if name in l][-8:])
        for name in set(states) - set(work.expected):
            # Only the unanswered create may have made it (or an unanswered delete not).
            assert work.in_flight and work.in_flight[0] == name, name
            work.expected[name] = states[name]
        if work.in_flight and work.in_flight[0] in work.expected and \
                work.in_flight[0] in states:
            work.expected[work.in_flight[0]] = states[work.in_flight[0]]
        elif work.in_flight and work.in_flight[0] not in states:
            work.expected.pop(work.in_flight[0], None)
        work.in_flight = None
    assert kills >= 4
    print(f"{work.acknowledged} acknowledged operations, {kills} kills of hvd")


def test_database_locked_by_another_process(hvd):
    hvd.hvctl("create", "before", "--driver", "minihv", "--kernel", "echo", "--memory", "2",
              check=True)
    hvd.hvctl("start", "before", check=True)
    locker = sqlite3.connect(hvd.db_path, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        p = hvd.hvctl("create", "blocked", "--driver", "minihv", "--kernel", "echo")
        assert p.returncode == 1
        assert "the database is locked by another process" in p.stderr
        # The hypervisor pauses it, but hvd cannot record that: the caller is told so.
        p = hvd.hvctl("pause", "before")
        assert p.returncode == 1
        assert "is now paused, but hvd could not record it yet" in p.stderr
        assert "locked by another process" in p.stderr
        assert hvd.hvctl_json("info", "before")["state"] == "paused"
        assert hvd.hvctl("resume", "before").returncode == 1
        # Reads still answer, from memory.
        assert [d["name"] for d in hvd.hvctl_json("list", "--all")] == ["before"]
        # What the hypervisor does meanwhile is not lost: the guest powers off...
        fd = hvd.domain("before").OpenConsole().take()
        os.write(fd, b"quit\r")
        os.close(fd)
        wait_for(lambda: hvd.hvctl_json("info", "before")["state"] == "shutoff",
                 what="the power-off in memory")
    finally:
        locker.rollback()
        locker.close()
    # ...and once the lock is gone it reaches the database.
    wait_for(lambda: hvd.db_query("SELECT state FROM domains WHERE name = 'before'") ==
             [("shutoff",)], timeout=15, what="the late record")
    assert hvd.db_query("SELECT COUNT(*) FROM allocations")[0][0] == 0
    hvd.hvctl("create", "after", "--driver", "minihv", "--kernel", "echo", check=True)


def test_state_directory_full(make_hvd, workdir):
    small = workdir / "small"
    small.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {p.stderr.strip()}")
    try:
        h = make_hvd(config=CONFIG, name="full")
        h.state_dir = small / "state"
        h.start()
        h.hvctl("create", "kept", "--driver", "minihv", "--kernel", "echo", "--memory", "2",
                check=True)
        filler = small / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        failures = 0
        for i in range(40):
            p = h.hvctl("create", f"more{i}", "--driver", "minihv", "--kernel", "echo",
                        "--cmdline", "x" * 1000)
            if p.returncode != 0:
                failures += 1
                assert p.returncode == 1
                assert "no space left in the state directory" in p.stderr or \
                    "disk" in p.stderr, p.stderr
        assert failures > 0, "the file system never filled up"
        filler.unlink()
        h.hvctl("create", "later", "--driver", "minihv", "--kernel", "echo", check=True)
        h.stop()
        h.start()
        names = {d["name"] for d in h.hvctl_json("list", "--all")}
        assert {"kept", "later"} <= names
        check_invariants(h)
        h.stop()
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)
