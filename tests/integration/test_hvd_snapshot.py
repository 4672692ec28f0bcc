"""Saved state through hvd with real minihv guests: a managed save and the start that resumes it
(pv and full mode), start --fresh, named snapshots (create, list, revert, delete), 20 clones of
one snapshot running at once, restores refused for corrupt, truncated or mismatched images with
nothing changed, bad input on HTTP and D-Bus, and hvd killed with -9 during a save and during a
restore."""
import hashlib
import json
import os
import re
import threading
import time

import dbus
import pytest

from hvd_harness import wait_for

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

MANY = "[allocation]\ncpu-overcommit = 50\nreserved-memory-mib = 0\n"
COUNTER = re.compile(r"counter: (\d+) t=\d+\n")


def create(hvd, name, guest="counter", mode="pv", memory="16", *args):
    p = hvd.hvctl("create", name, "--driver", "minihv", "--mode", mode, "--kernel", guest,
                  "--memory", memory, *args)
    assert p.returncode == 0, p.stderr


def state(hvd, name):
    info = hvd.hvctl_json("info", name)
    return info["state"], info["reason"]


def console(hvd, name):
    return hvd.hvctl("console", name, "--tail", "100000", check=True).stdout


def counts(text):
    return [int(n) for n in COUNTER.findall(text)]


def wait_count(hvd, name, at_least, timeout=30):
    wait_for(lambda: max(counts(console(hvd, name)) or [0]) >= at_least, timeout=timeout,
             what=f"{name} to count to {at_least}")


def images(hvd, name=None):
    rows = hvd.db_query("SELECT d.name, i.kind, i.name, i.size_bytes, i.contents, i.path "
                        "FROM images i LEFT JOIN domains d ON d.uuid = i.domain_uuid")
    return [r for r in rows if name is None or r[0] == name]


def image_files(hvd):
    top = hvd.state_dir / "images"
    return sorted(str(p) for p in top.glob("*/*")) if top.exists() else []


def assert_files_match_rows(hvd):
    """Every recorded image has its file, and every file under images/ is recorded."""
    assert image_files(hvd) == sorted(r[5] for r in images(hvd))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_save_and_start_resume_the_counter(hvd, mode):
    create(hvd, "c", mode=mode)
    hvd.hvctl("start", "c", check=True)
    wait_count(hvd, "c", 3, timeout=60)
    p = hvd.hvctl("save", "c")
    assert p.returncode == 0, p.stderr
    assert "referenced, not copied" in p.stdout
    assert state(hvd, "c") == ("shutoff", "saved")
    [(_, kind, _, size, contents, path)] = images(hvd, "c")
    assert kind == "managed-save" and contents == "memory+vcpu+devices" and size > 0
    assert os.path.exists(path)
    before = counts(console(hvd, "c"))
    time.sleep(0.5)
    assert counts(console(hvd, "c")) == before, "the saved domain is not running"

    hvd.hvctl("start", "c", check=True)
    assert state(hvd, "c") == ("running", "booted")
    wait_count(hvd, "c", before[-1] + 3, timeout=60)
    text = console(hvd, "c")
    assert text.count("counter: start") == 1, "the restored guest did not boot again"
    after = counts(text)[len(before):]
    # it goes on from where it was saved (a line cut by the save may be printed again)
    assert after[0] in (before[-1], before[-1] + 1), (before[-3:], after[:3])
    assert after == list(range(after[0], after[0] + len(after)))
    # the managed save was consumed
    assert images(hvd, "c") == [] and not os.path.exists(path)
    assert_files_match_rows(hvd)
    events = [e["event"] for e in hvd.request("GET", "/api/v1/events/log?domain=c&limit=50")[2]
              ["events"]]
    assert "state-changed" in events
    hvd.hvctl("destroy", "c", check=True)


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_echo_still_echoes_after_a_restore(hvd, mode):
    create(hvd, "e", guest="echo", mode=mode)
    hvd.hvctl("start", "e", check=True)
    wait_for(lambda: "echo: ready" in console(hvd, "e"), what="the greeting")
    hvd.hvctl("save", "e", check=True)
    hvd.hvctl("start", "e", check=True)
    status, _, _ = hvd.request("POST", "/api/v1/domains/e/console", {"data": "after restore\n"})
    assert status == 204
    wait_for(lambda: "after restore" in console(hvd, "e"), timeout=30, what="the echo")
    assert console(hvd, "e").count("echo: ready") == 1
    hvd.hvctl("destroy", "e", check=True)


def test_start_fresh_discards_the_saved_state(hvd):
    create(hvd, "f")
    hvd.hvctl("start", "f", check=True)
    wait_count(hvd, "f", 2)
    hvd.hvctl("save", "f", check=True)
    [(_, _, _, _, _, path)] = images(hvd, "f")
    p = hvd.hvctl("start", "f", "--fresh")
    assert p.returncode == 0, p.stderr
    assert state(hvd, "f") == ("running", "booted")
    wait_for(lambda: console(hvd, "f").count("counter: start") == 2, what="a new boot")
    assert images(hvd, "f") == [] and not os.path.exists(path)
    # over HTTP too: {"fresh": true} on the start action
    hvd.hvctl("save", "f", check=True)
    status, _, body = hvd.request("POST", "/api/v1/domains/f/actions/start", {"fresh": True})
    assert status == 200 and body["state"] == "running", body
    wait_for(lambda: console(hvd, "f").count("counter: start") == 3, what="a third boot")
    status, _, body = hvd.request("POST", "/api/v1/domains/f/actions/start", {"fresh": 1})
    assert status == 400 and "'fresh' must be a boolean" in body["detail"]
    hvd.hvctl("destroy", "f", check=True)


def test_snapshot_create_list_revert_delete(hvd):
    create(hvd, "s")
    hvd.hvctl("start", "s", check=True)
    wait_count(hvd, "s", 3)
    p = hvd.hvctl("snapshot", "create", "s", "one")
    assert p.returncode == 0, p.stderr
    assert "referenced, not copied" in p.stdout
    assert state(hvd, "s")[0] == "running", "a snapshot leaves the domain running"
    at_snapshot = max(counts(console(hvd, "s")))
    [snap] = hvd.hvctl_json("snapshot", "list", "s")
    assert snap["name"] == "one" and snap["size_bytes"] > 0
    assert snap["contents"] == "memory+vcpu+devices" and snap["created_us"] > 0
    assert snap["disks"] == "referenced, not copied"
    table = hvd.hvctl("snapshot", "list", "s", check=True).stdout
    assert "one" in table and "memory+vcpu+devices" in table and "MiB" in table
    p = hvd.hvctl("snapshot", "create", "s", "one")
    assert p.returncode == 1 and "has a snapshot named 'one' already" in p.stderr

    wait_count(hvd, "s", at_snapshot + 5)
    p = hvd.hvctl("snapshot", "revert", "s", "one")
    assert p.returncode == 0, p.stderr
    assert state(hvd, "s") == ("running", "booted")
    mark = len(console(hvd, "s"))
    wait_for(lambda: counts(console(hvd, "s")[mark:]), what="counting after the revert")
    first = counts(console(hvd, "s")[mark:])[0]
    assert at_snapshot <= first <= at_snapshot + 2, (at_snapshot, first)
    # the snapshot stays, and can be reverted to again from shut off
    hvd.hvctl("destroy", "s", check=True)
    hvd.hvctl("snapshot", "revert", "s", "one", check=True)
    assert state(hvd, "s")[0] == "running"

    # a running domain's snapshot over HTTP, and its deletion
    status, _, body = hvd.request("POST", "/api/v1/domains/s/snapshots", {"name": "two"})
    assert status == 201 and body["name"] == "two", body
    status, _, body = hvd.request("GET", "/api/v1/domains/s/snapshots")
    assert status == 200 and [x["name"] for x in body["snapshots"]] == ["one", "two"]
    path = [r[5] for r in images(hvd, "s") if r[2] == "two"][0]
    status, _, _ = hvd.request("DELETE", "/api/v1/domains/s/snapshots/two")
    assert status == 204 and not os.path.exists(path)
    hvd.hvctl("snapshot", "delete", "s", "one", check=True)
    assert hvd.hvctl_json("snapshot", "list", "s") == []
    assert_files_match_rows(hvd)
    log = hvd.request("GET", "/api/v1/events/log?domain=s&limit=200")[2]["events"]
    kinds = [e["event"] for e in log]
    assert kinds.count("snapshot-created") == 2 and kinds.count("snapshot-deleted") == 2
    hvd.hvctl("destroy", "s", check=True)
    # deleting the domain takes its images with it
    hvd.hvctl("start", "s", check=True)
    hvd.hvctl("snapshot", "create", "s", "three", check=True)
    hvd.hvctl("destroy", "s", check=True)
    hvd.hvctl("delete", "s", check=True)
    assert images(hvd) == [] and image_files(hvd) == []


def test_twenty_clones_of_one_snapshot_run_at_once(make_hvd):
    hvd = make_hvd(config=MANY).start()
    create(hvd, "src")
    hvd.hvctl("start", "src", check=True)
    wait_count(hvd, "src", 3)
    hvd.hvctl("snapshot", "create", "src", "base", check=True)
    at = max(counts(console(hvd, "src")))
    hvd.hvctl("destroy", "src", check=True)

    p = hvd.hvctl("clone", "src", "cl", "--snapshot", "base", "--count", "20", timeout=120)
    assert p.returncode == 0, p.stderr
    names = [f"cl-{i}" for i in range(1, 21)]
    for n in names:
        assert f"Domain {n} cloned from src" in p.stdout
    infos = [hvd.hvctl_json("info", n) for n in names]
    assert all(i["state"] == "running" for i in infos)
    uuids = {i["uuid"] for i in infos} | {hvd.hvctl_json("info", "src")["uuid"]}
    assert len(uuids) == 21
    assert len({i["pid"] for i in infos}) == 20
    # each has its own console, counting on from the snapshot (none booted again)
    for n in names:
        wait_for(lambda n=n: counts(console(hvd, n)), timeout=30, what=f"{n} to count")
        text = console(hvd, n)
        assert "counter: start" not in text
        assert at <= counts(text)[0] <= at + 2
    # a name that is taken refuses the whole request and makes nothing
    p = hvd.hvctl("clone", "src", "cl", "--count", "20")
    assert p.returncode == 1 and "a domain named 'cl-1' already exists" in p.stderr
    # without a snapshot: definitions only, shut off
    p = hvd.hvctl("clone", "src", "plain", "--json")
    assert p.returncode == 0, p.stderr
    assert state(hvd, "plain") == ("shutoff", "defined")
    for n in names:
        hvd.hvctl("destroy", n, check=True)


def saved(hvd, name, mode="pv"):
    create(hvd, name, mode=mode)
    hvd.hvctl("start", name, check=True)
    wait_count(hvd, name, 2)
    hvd.hvctl("save", name, check=True)
    [(_, _, _, _, _, path)] = images(hvd, name)
    return path


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "mismatched"])
def test_a_bad_image_is_refused_and_nothing_changes(hvd, damage):
    path = saved(hvd, "b")
    if damage == "corrupt":
        with open(path, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xff]))
    elif damage == "truncated":
        os.truncate(path, os.path.getsize(path) // 2)
    else:
        hvd.hvctl("set", "b", "--memory", "32", check=True)
    digest = sha(path)
    p = hvd.hvctl("start", "b")
    assert p.returncode == 1
    assert "cannot restore" in p.stderr, p.stderr
    if damage == "mismatched":
        assert "memory" in p.stderr
    assert state(hvd, "b") == ("shutoff", "saved")
    assert sha(path) == digest and len(images(hvd, "b")) == 1
    assert counts(console(hvd, "b"))[-1] == max(counts(console(hvd, "b")))
    info = hvd.hvctl_json("info", "b")
    assert info.get("pid", 0) == 0
    if damage == "mismatched":
        hvd.hvctl("set", "b", "--memory", "16", check=True)
        hvd.hvctl("start", "b", check=True)
        assert state(hvd, "b")[0] == "running"
        hvd.hvctl("destroy", "b", check=True)


def test_bad_input_over_http_and_dbus(hvd):
    create(hvd, "x")
    create(hvd, "taken")
    # a shut-off domain has nothing to save
    status, _, body = hvd.request("POST", "/api/v1/domains/x/actions/save")
    assert status == 409 and "only a running domain can be saved" in body["detail"], body
    hvd.hvctl("start", "x", check=True)
    cases = [
        ("POST", "/api/v1/domains/x/snapshots", {"name": "../etc"}, 400, "bad snapshot name"),
        ("POST", "/api/v1/domains/x/snapshots", {"name": 3}, 400, "'name' must be a string"),
        ("POST", "/api/v1/domains/x/snapshots", {"name": "a", "b": 1}, 400, "unknown field 'b'"),
        ("POST", "/api/v1/domains/x/snapshots/nope/revert", None, 404, "no snapshot named 'nope'"),
        ("DELETE", "/api/v1/domains/x/snapshots/nope", None, 404, "no snapshot named 'nope'"),
        ("POST", "/api/v1/domains/x/clone", {"name": "taken"}, 409, "already exists"),
        ("POST", "/api/v1/domains/x/clone", {"name": "n", "count": 0}, 400, "'count' must be"),
        ("POST", "/api/v1/domains/x/clone", {"name": "n", "count": 101}, 400, "'count' must be"),
        ("POST", "/api/v1/domains/x/clone", {"name": "n", "snapshot": "nope"}, 404,
         "no snapshot named 'nope'"),
        ("POST", "/api/v1/domains/x/clone", {"name": "bad/name"}, 400, "bad clone name"),
        ("GET", "/api/v1/domains/nope/snapshots", None, 404, "nope"),
    ]
    for method, path, body, want, text in cases:
        status, _, answer = hvd.request(method, path, body)
        assert status == want and text in answer["detail"], (method, path, status, answer)
    assert hvd.hvctl("info", "n").returncode == 3, "nothing was made"

    dom = hvd.domain("x")
    for call, args, name, text in [
        (dom.RevertToSnapshot, ("nope",), "NoSuchSnapshot", "no snapshot named 'nope'"),
        (dom.DeleteSnapshot, ("nope",), "NoSuchSnapshot", "no snapshot named 'nope'"),
        (dom.CreateSnapshot, ("",), "InvalidArgument", "bad snapshot name"),
        (dom.Clone, ("taken", "", dbus.UInt32(1)), "DomainExists", "already exists"),
        (dom.Clone, ("n", "", dbus.UInt32(0)), "InvalidArgument", "'count' must be 1..100"),
        (dom.Clone, ("n", "", dbus.UInt32(1000)), "InvalidArgument", "'count' must be 1..100"),
    ]:
        with pytest.raises(dbus.DBusException) as exc:
            call(*args)
        assert exc.value.get_dbus_name() == f"org.hvd1.Error.{name}", exc.value
        assert text in exc.value.get_dbus_message()
    # and the good calls over D-Bus
    dom.CreateSnapshot("d1")
    snaps = dom.ListSnapshots()
    assert [str(s["name"]) for s in snaps] == ["d1"] and int(snaps[0]["size_bytes"]) > 0
    names = dom.Clone("dc", "d1", dbus.UInt32(2))
    assert [str(n) for n in names] == ["dc-1", "dc-2"]
    assert state(hvd, "dc-2")[0] == "running"
    dom.Save()
    assert state(hvd, "x") == ("shutoff", "saved")
    dom.StartFresh()
    assert state(hvd, "x")[0] == "running" and images(hvd, "x")[0][1] == "snapshot"
    dom.DeleteSnapshot("d1")
    # hvctl's exit codes: no such snapshot is 3, as no such domain
    assert hvd.hvctl("snapshot", "revert", "x", "nope").returncode == 3
    assert hvd.hvctl("clone", "x", "y", "--count", "0").returncode == 2
    for n in ("x", "dc-1", "dc-2"):
        hvd.hvctl("destroy", n, check=True)


def test_kvm_on_libvirts_test_driver_says_it_cannot_save(hvd):
    # (kvm's saved state on a real libvirtd: test_kvm_save.py)
    p = hvd.hvctl("create", "k", "--driver", "kvm", "--kernel", "/boot/vmlinuz")
    assert p.returncode == 0, p.stderr
    hvd.hvctl("start", "k", check=True)
    p = hvd.hvctl("save", "k")
    assert p.returncode == 1 and "cannot save a domain's state on libvirt's test driver" in \
        p.stderr, p.stderr
    p = hvd.hvctl("snapshot", "create", "k", "s")
    assert p.returncode == 1 and "test driver" in p.stderr
    assert state(hvd, "k")[0] == "running" and images(hvd) == [] and image_files(hvd) == []
    hvd.hvctl("destroy", "k", check=True)


def back_to_running(hvd, name):
    st = state(hvd, name)
    if st == ("shutoff", "saved"):
        hvd.hvctl("start", name, check=True)
    elif st[0] == "paused":
        hvd.hvctl("resume", name, check=True)
    assert state(hvd, name)[0] == "running", st


@pytest.mark.parametrize("delay", [0.03, 0.15, 0.25])
def test_kill9_during_a_save_and_a_restore_loses_nothing(hvd, delay):
    create(hvd, "k", "counter", "pv", "256")
    hvd.hvctl("set", "k", "--cmdline", "fill", check=True)
    hvd.hvctl("start", "k", check=True)
    wait_count(hvd, "k", 2)
    # kill -9 while the save is under way: the domain is still there (paused or running),
    # or recorded as saved with its image; no file without its row, no row without its file
    t = threading.Thread(target=lambda: hvd.hvctl("save", "k"))
    t.start()
    time.sleep(delay)
    hvd.kill9()
    t.join(30)
    hvd.start()
    st = state(hvd, "k")
    assert st in [("running", "booted"), ("paused", "daemon"), ("running", "daemon"),
                  ("shutoff", "saved")], st
    wait_for(lambda: state(hvd, "k") != ("running", "booted") or
             hvd.request("GET", "/api/v1/domains/k/stats")[0] == 200, what="k to answer")
    assert_files_match_rows(hvd)
    if state(hvd, "k")[0] != "shutoff":
        back_to_running(hvd, "k")
        hvd.hvctl("save", "k", check=True)
    assert state(hvd, "k") == ("shutoff", "saved")
    assert_files_match_rows(hvd)
    before = max(counts(console(hvd, "k")))

    # kill -9 while it is being restored: afterwards it runs (its image consumed) or it is
    # still saved with its image intact
    path = images(hvd, "k")[0][5]
    digest = sha(path)
    t = threading.Thread(target=lambda: hvd.hvctl("start", "k"))
    t.start()
    time.sleep(delay)
    hvd.kill9()
    t.join(30)
    hvd.start()
    st = state(hvd, "k")
    assert st in [("running", "booted"), ("shutoff", "saved")], st
    assert_files_match_rows(hvd)
    if st == ("shutoff", "saved"):
        assert sha(path) == digest
    else:
        assert images(hvd, "k") == []
    back_to_running(hvd, "k")
    wait_count(hvd, "k", before + 2)
    assert console(hvd, "k").count("counter: start") == 1, "the guest never booted again"
    assert [d["name"] for d in hvd.hvctl_json("list", "--all")] == ["k"]
    hvd.hvctl("destroy", "k", check=True)


def test_hvctl_prints_the_same_over_http(hvd):
    url = ["--url", hvd.url, "--token-file", str(hvd.state_dir / "http-token")]
    create(hvd, "h")
    hvd.hvctl("start", "h", check=True)
    wait_count(hvd, "h", 2)
    # each step over D-Bus, then its twin over HTTP
    steps = [
        (["snapshot", "create", "h", "s1"], "Snapshot s1 of h created"),
        (["snapshot", "create", "h", "s2"], "Snapshot s2 of h created"),
        (["clone", "h", "hc", "--snapshot", "s1"], "Domain hc cloned from h (running from "
                                                  "snapshot s1)."),
        (["clone", "h", "hd", "--snapshot", "s1"], "Domain hd cloned from h (running from "
                                                  "snapshot s1)."),
        (["snapshot", "revert", "h", "s1"], "Reverted to snapshot s1: h runs from it."),
        (["snapshot", "revert", "h", "s2"], "Reverted to snapshot s2: h runs from it."),
        (["save", "h"], "Domain h saved and shut off"),
        (["start", "h"], "Domain h started."),
        (["save", "h"], "Domain h saved and shut off"),
        (["start", "h", "--fresh"], "Domain h started afresh"),
    ]
    for n, (args, out) in enumerate(steps):
        prefix = url if n % 2 else []
        p = hvd.hvctl(*prefix, *args)
        assert p.returncode == 0, (prefix, args, p.stderr)
        assert p.stdout.startswith(out), (prefix, args, p.stdout)
    over_bus = hvd.hvctl("snapshot", "list", "h", "--json", check=True).stdout
    over_http = hvd.hvctl(*url, "snapshot", "list", "h", "--json", check=True).stdout
    assert over_bus == over_http and [s["name"] for s in json.loads(over_bus)] == ["s1", "s2"]
    p = hvd.hvctl(*url, "snapshot", "delete", "h", "nope")
    assert p.returncode == 3 and "no snapshot named 'nope'" in p.stderr
    for n in ("hc", "hd", "h"):
        hvd.hvctl("destroy", n, check=True)


def test_a_deleted_snapshot_stays_deleted_after_kill9(hvd):
    # Its answer waits for the commit: kill -9 right after it (while other callers keep hvd
    # busy, which puts off a group commit) cannot bring it back.
    create(hvd, "del")
    hvd.hvctl("start", "del", check=True)
    for name in ("a", "b", "c"):
        hvd.hvctl("snapshot", "create", "del", name, check=True)
    hvd.hvctl("destroy", "del", check=True)
    busy = threading.Event()

    def keep_busy():
        while not busy.is_set():
            try:
                hvd.request("GET", "/api/v1/domains")
            except OSError:
                return

    threads = [threading.Thread(target=keep_busy) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        hvd.hvctl("snapshot", "delete", "del", "b", check=True)
        status, _, _ = hvd.request("DELETE", "/api/v1/domains/del/snapshots/c")
        assert status == 204
        hvd.kill9()
    finally:
        busy.set()
        for t in threads:
            t.join(10)
    hvd.start()
    assert [s["name"] for s in hvd.hvctl_json("snapshot", "list", "del")] == ["a"]
    assert_files_match_rows(hvd)
