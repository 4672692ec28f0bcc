"""hvd stopped by SIGTERM or killed with SIGKILL keeps every definition and state; at start it
reconciles with the driver."""
import json
import signal

import pytest

from hvd_harness import wait_for


def snapshot(hvd):
    return {d["name"]: (d["state"], d["reason"], d["vcpus"], d["memory_mib"])
            for d in hvd.hvctl_json("list", "--all")}


def populate(hvd):
    hvd.hvctl("create", "a", "--vcpus", "2", "--memory", "128", "--cmdline", "console=ttyS0",
              check=True)
    hvd.hvctl("create", "b", "--mode", "full", check=True)
    hvd.hvctl("create", "c", "--autostart", "--on-crash", "preserve", check=True)
    hvd.hvctl("start", "a", check=True)
    hvd.hvctl("start", "b", check=True)
    hvd.hvctl("pause", "b", check=True)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_definitions_and_states_survive_the_daemon(hvd, how):
    populate(hvd)
    before = snapshot(hvd)
    info_a = hvd.hvctl_json("info", "a")
    if how == "sigterm":
        hvd.signal(signal.SIGTERM)
        assert hvd.proc.wait(timeout=10) == 0
        wait_for(lambda: ("STOPPING", "1") in hvd.notifications(), timeout=5, what="STOPPING=1")
    else:
        hvd.kill9()

    # What was acknowledged is in SQLite, exactly as it was.
    rows = {r[0]: (r[1], r[2], r[3], r[4]) for r in
            hvd.db_query("SELECT name, state, reason, vcpus, memory_mib FROM domains")}
    assert rows == before
    alloc = hvd.db_query("SELECT SUM(vcpus), SUM(memory_mib) FROM allocations")[0]
    assert alloc == (2 + 1, 128 + 64)
    assert hvd.db_query("PRAGMA integrity_check") == [("ok",)]

    # libvirt's test driver lives inside hvd, so its domains are gone after the restart:
    # hvd notices and records why, keeping every definition.
    hvd.start()
    after = snapshot(hvd)
    assert set(after) == {"a", "b", "c"}
    assert after["a"][:2] == ("shutoff", "daemon")
    assert after["b"][:2] == ("shutoff", "daemon")
    assert after["a"][2:] == (2, 128)
    info = hvd.hvctl_json("info", "a")
    for key in ["uuid", "cmdline", "vcpus", "memory_mib", "mode", "driver"]:
        assert info[key] == info_a[key], key
    c = hvd.hvctl_json("info", "c")
    assert c["autostart"] is True and c["on_crash"] == "preserve"
    # The reconciliation is an event with the evidence.
    details = [json.loads(r[0]) for r in hvd.db_query(
        "SELECT detail FROM events WHERE domain = 'a' AND event = 'state-changed' "
        "ORDER BY id DESC LIMIT 1")]
    assert details[0]["reason"] == "daemon"
    assert "not running in the kvm driver" in details[0]["message"]
    # Nothing holds resources any more; autostart already ran in this boot (at first start).
    assert hvd.db_query("SELECT COUNT(*) FROM allocations")[0][0] == 0


def test_autostart_runs_once_per_boot(hvd):
    hvd.hvctl("create", "auto", "--autostart", check=True)
    hvd.restart()
    # The runtime directory already says autostart ran (it ran at the first start, when the
    # domain did not exist yet), so a daemon restart starts nothing.
    assert hvd.hvctl_json("info", "auto")["state"] == "shutoff"
    (hvd.runtime_dir / "autostarted").unlink()  # as after a reboot
    hvd.restart()
    assert hvd.hvctl_json("info", "auto")["state"] == "running"


def test_second_hvd_on_same_state_dir_is_refused(hvd, make_hvd):
    other = make_hvd(name="other")
    other.state_dir = hvd.state_dir
    other.start(wait=False)
    assert other.proc.wait(timeout=10) != 0
    assert "Another hvd is already using" in other.read_log()


def test_database_from_newer_schema_is_refused(hvd):
    hvd.stop()
    import sqlite3
    with sqlite3.connect(hvd.db_path) as c:
        c.execute("PRAGMA user_version = 999")
    hvd.start(wait=False)
    assert hvd.proc.wait(timeout=10) == 1
    assert "newer than this hvd supports" in hvd.read_log()
