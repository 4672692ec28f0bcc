"""Live migration between two hvds on loopback, each with its own state directory and bus, with
real minihv guests: a running pv and a running full counter guest (writing memory and console)
move and their console continues on the target, progress events are seen on the event stream
and on D-Bus, a migration aborted midway (the target hvd killed, the connection closed, a
cancel) leaves the source running, an admission the target refuses says why, bad input on every
surface is refused, and hvd killed with -9 on either side mid-migration loses nothing and leaves
no half-made domain."""
import json
import os
import re
import signal
import threading
import time
import urllib.request

import pytest

from hvd_harness import Bus, Hvd, wait_for

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

COUNTER = re.compile(r"counter: (\d+) t=\d+\n")


@pytest.fixture
def pair(build, workdir):
    """Two hvds, a source and a target, on two buses."""
    made = []

    def start(name, config=""):
        bus = Bus(workdir / f"bus-{name}")
        bus.start()
        h = Hvd(build, bus, workdir / name, config=config)
        made.append((h, bus))
        h.start()
        return h

    yield start
    for h, bus in made:
        try:
            h.stop()
        finally:
            bus.stop()


def create(hvd, name, mode="pv", memory="16", cmdline="period_ms=50 dirty_pages=32"):
    p = hvd.hvctl("create", name, "--driver", "minihv", "--mode", mode, "--kernel", "counter",
                  "--memory", memory, "--cmdline", cmdline)
    assert p.returncode == 0, p.stderr


def state(hvd, name):
    info = hvd.hvctl_json("info", name)
    return info["state"], info["reason"]


def console(hvd, name):
    return hvd.hvctl("console", name, "--tail", "100000", check=True).stdout


def counts(text):
    return [int(n) for n in COUNTER.findall(text)]


def token_file(hvd, workdir):
    path = workdir / f"token-{hvd.dir.name}"
    path.write_text(hvd.token + "\n")
    return str(path)


def migrate(src, name, dst, workdir, *extra, timeout=120):
    return src.hvctl("migrate", name, "--to", dst.url, "--token-file", token_file(dst, workdir),
                     *extra, timeout=timeout)


def event_log(hvd, name, kind=None):
    status, _, body = hvd.request("GET", f"/api/v1/events/log?domain={name}&limit=1000")
    assert status == 200, body
    rows = body["events"] if isinstance(body, dict) else body
    return [e for e in rows if kind is None or e.get("event") == kind]


def http_migrate(src, name, dst, **fields):
    body = {"to": dst.url, "token": dst.token, **fields}
    return src.request("POST", f"/api/v1/domains/{name}/actions/migrate", body, timeout=120)


def test_http_migrate_pv(pair):
    src, dst = pair("src"), pair("dst")
    create(src, "mig")
    src.hvctl("start", "mig", check=True)
    wait_for(lambda: len(counts(console(src, "mig"))) >= 3, timeout=20, what="counting")
    status, _, body = http_migrate(src, "mig", dst)
    assert status == 200, body
    assert state(src, "mig") == ("shutoff", "migrated")
    assert state(dst, "mig") == ("running", "migrated")


def wait_counting(hvd, name, more_than=0, timeout=30):
    wait_for(lambda: max(counts(console(hvd, name)) or [0]) > more_than, timeout=timeout,
             what=f"{name} to count past {more_than}")
    return max(counts(console(hvd, name)))


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_migrate_running_guest_console_continues(pair, workdir, mode):
    src, dst = pair("src"), pair("dst")
    cmdline = "period_ms=50 dirty_pages=32" if mode == "pv" else "period_ms=100 dirty_pages=16"
    create(src, "mig", mode=mode, cmdline=cmdline)
    src.hvctl("start", "mig", check=True)
    before = wait_counting(src, "mig", 3)
    p = migrate(src, "mig", dst, workdir)
    assert p.returncode == 0, p.stderr
    assert "migrated to" in p.stdout
    assert state(src, "mig") == ("shutoff", "migrated")
    assert state(dst, "mig") == ("running", "migrated")
    # The same domain (UUID) runs there and counts on from where it was, not from 1.
    assert src.hvctl_json("info", "mig")["uuid"] == dst.hvctl_json("info", "mig")["uuid"]
    wait_for(lambda: counts(console(dst, "mig")), timeout=30, what="console output on the target")
    first = counts(console(dst, "mig"))[0]
    assert first > before, (before, first)
    later = wait_counting(dst, "mig", first + 2)
    assert later > first
    # Events on both hosts: the source went running -> migrating -> shutoff/migrated with
    # progress between, the target starting/migrated -> running/migrated.
    src_states = [(e["state"], e["reason"])
                  for e in event_log(src, "mig", "state-changed")]
    assert src_states[-2:] == [("migrating", "migrated"), ("shutoff", "migrated")], src_states
    progress = event_log(src, "mig", "migration-progress")
    assert progress and {"iteration", "pages_sent", "expected_downtime_ms"} <= set(
        progress[-1]), progress
    assert any(e["phase"] == "precopy" for e in progress)
    dst_states = [(e["state"], e["reason"])
                  for e in event_log(dst, "mig", "state-changed")]
    assert dst_states[-2:] == [("starting", "migrated"), ("running", "migrated")], dst_states
    # The source keeps the definition; a user may delete it there.
    src.hvctl("delete", "mig", check=True)
    assert dst.hvctl_json("info", "mig")["state"] == "running"
