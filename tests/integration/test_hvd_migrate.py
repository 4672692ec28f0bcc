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


# A guest whose migration takes seconds at 4 MiB/s: 8 MiB of written pages, rewritten faster
# than that.
SLOW = "period_ms=20 fill dirty_pages=64"


def start_slow(src, name="mig"):
    create(src, name, cmdline=SLOW)
    src.hvctl("start", name, check=True)
    return wait_counting(src, name, 2)


def migrate_in_background(src, name, dst, workdir, *extra):
    """Starts hvctl migrate (at 4 MiB/s, the pre-copy for 6 s) and waits until the target runs
    its VMM receiving and the first pass is over."""
    cmd = [str(src.hvctl_binary), "migrate", name, "--to", dst.url, "--token-file",
           token_file(dst, workdir), "--bandwidth", "4", "--timeout", "6", *extra]
    import subprocess
    proc = subprocess.Popen(cmd, env=src.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(lambda: dst_pid(dst, name), timeout=20, what="the target's VMM to receive")
    wait_for(lambda: event_log(src, name, "migration-progress"), timeout=20,
             what="the first progress event")
    assert state(src, name) == ("migrating", "migrated")
    return proc


def dst_pid(dst, name):
    status, _, body = dst.request("GET", f"/api/v1/domains/{name}")
    return body.get("pid") if status == 200 and body.get("state") == "starting" else None


def domain_names(hvd):
    return [d["name"] for d in hvd.hvctl_json("list", "--all")]


def assert_source_runs_on(src, name, before):
    wait_for(lambda: state(src, name)[0] == "running", timeout=30, what="the source to resume")
    wait_counting(src, name, before + 3)


def test_cancel_midway_leaves_source_running(pair, workdir):
    src, dst = pair("src"), pair("dst")
    before = start_slow(src)
    proc = migrate_in_background(src, "mig", dst, workdir)
    p = src.hvctl("migrate", "mig", "--cancel")
    assert p.returncode == 0, p.stderr
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "cancelled" in err, (out, err)
    assert_source_runs_on(src, "mig", before)
    # The target removes what it admitted; only one copy ever ran.
    wait_for(lambda: "mig" not in domain_names(dst), timeout=30, what="the target to drop it")
    p = src.hvctl("migrate", "mig", "--cancel")
    assert p.returncode == 1 and "no migration of 'mig' is under way" in p.stderr


def test_connection_closed_midway_leaves_source_running(pair, workdir):
    src, dst = pair("src"), pair("dst")
    before = start_slow(src)
    proc = migrate_in_background(src, "mig", dst, workdir)
    os.kill(dst_pid(dst, "mig"), signal.SIGKILL)  # the target's VMM: its end closes
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "the migration to" in err and "failed" in err, (out, err)
    assert_source_runs_on(src, "mig", before)
    wait_for(lambda: "mig" not in domain_names(dst), timeout=30, what="the target to drop it")


def test_target_killed_midway_leaves_source_running(pair, workdir):
    src, dst = pair("src"), pair("dst")
    before = start_slow(src)
    proc = migrate_in_background(src, "mig", dst, workdir)
    vmm = dst_pid(dst, "mig")
    dst.kill9()  # the whole target host goes: hvd and its VMM
    os.kill(vmm, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert_source_runs_on(src, "mig", before)
    # The restarted target has no half-made domain.
    dst.start()
    assert "mig" not in domain_names(dst)
    assert not list((dst.state_dir / "incoming").glob("*"))


def test_target_hvd_killed_midway_migration_completes(pair, workdir):
    """hvd is not in the data path: the target's VMM finishes receiving without it, and the
    restarted target finds the domain running; the source ends shutoff/migrated."""
    src, dst = pair("src"), pair("dst")
    start_slow(src)
    proc = migrate_in_background(src, "mig", dst, workdir)
    dst.kill9()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert state(src, "mig") == ("shutoff", "migrated")
    dst.start()
    wait_for(lambda: state(dst, "mig")[0] == "running", timeout=20, what="the target to run it")
    first = wait_counting(dst, "mig")
    wait_counting(dst, "mig", first + 2)
    assert not list((dst.state_dir / "incoming").glob("*"))


def test_source_hvd_killed_midway(pair, workdir):
    """The source's VMM goes on without its hvd: after the restart the domain is migrated (or,
    had it failed, running) here, and runs on the target, never on both."""
    src, dst = pair("src"), pair("dst")
    start_slow(src)
    proc = migrate_in_background(src, "mig", dst, workdir)
    src.kill9()
    proc.communicate(timeout=30)
    wait_for(lambda: state(dst, "mig") == ("running", "migrated"), timeout=120,
             what="the target to run it")
    src.start()
    wait_for(lambda: state(src, "mig") == ("shutoff", "migrated"), timeout=30,
             what="the source to record it migrated")
    first = wait_counting(dst, "mig")
    wait_counting(dst, "mig", first + 2)


def test_admission_refused_says_why(pair, workdir):
    src = pair("src")
    dst = pair("dst", config="[allocation]\nreserved-memory-mib = 1000000000\n")
    create(src, "mig")
    src.hvctl("start", "mig", check=True)
    p = migrate(src, "mig", dst, workdir)
    assert p.returncode == 1
    assert "the target refused it" in p.stderr and "memory" in p.stderr, p.stderr
    assert state(src, "mig")[0] == "running"
    assert "mig" not in domain_names(dst)
    # The name is taken there by another domain.
    dst2 = pair("dst2")
    create(dst2, "mig")
    p = migrate(src, "mig", dst2, workdir)
    assert p.returncode == 1 and "taken here by another domain" in p.stderr, p.stderr
    # A wrong token.
    bad = workdir / "bad-token"
    bad.write_text("0" * 64 + "\n")
    p = src.hvctl("migrate", "mig", "--to", dst2.url, "--token-file", str(bad))
    assert p.returncode == 1 and "the target refused it" in p.stderr, p.stderr
    # Nobody listening.
    p = src.hvctl("migrate", "mig", "--to", "http://127.0.0.1:1")
    assert p.returncode == 1 and "cannot connect" in p.stderr, p.stderr
    assert state(src, "mig")[0] == "running"
    assert [(e["state"], e["reason"]) for e in event_log(src, "mig", "state-changed")][-1] == \
        ("running", "booted")


def read_event_stream(hvd, seconds, ready):
    """The raw text of hvd's event stream for seconds (ready is set once it is connected)."""
    import http.client
    import urllib.parse
    u = urllib.parse.urlparse(hvd.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=seconds)
    conn.request("GET", "/api/v1/events", headers={"Authorization": f"Bearer {hvd.token}"})
    resp = conn.getresponse()
    ready.set()
    text, end = b"", time.monotonic() + seconds
    try:
        while time.monotonic() < end and b"migrated to http" not in text:
            text += resp.fp.read1(65536)
    except OSError:
        pass
    conn.close()
    return text.decode(errors="replace")


def test_progress_on_the_event_stream(pair, workdir):
    src, dst = pair("src"), pair("dst")
    create(src, "mig")
    src.hvctl("start", "mig", check=True)
    ready, out = threading.Event(), {}
    t = threading.Thread(target=lambda: out.update(text=read_event_stream(src, 30, ready)))
    t.start()
    assert ready.wait(10)
    p = migrate(src, "mig", dst, workdir)
    assert p.returncode == 0, p.stderr
    t.join(40)
    events = [json.loads(line[6:]) for line in out["text"].splitlines()
              if line.startswith("data: {")]
    progress = [e for e in events if e.get("event") == "migration-progress"]
    assert progress, out
    assert progress[-1]["domain"] == "mig" and progress[-1]["to"] == dst.url, progress[-1]
    assert {"phase", "iteration", "pages_sent", "bytes_sent", "dirty_pages",
            "expected_downtime_ms"} <= set(progress[-1]), progress[-1]


def test_progress_signal_on_dbus(pair, workdir):
    import subprocess
    src, dst = pair("src"), pair("dst")
    create(src, "mig")
    src.hvctl("start", "mig", check=True)
    monitor = subprocess.Popen(
        ["dbus-monitor", "--address", src.bus.address,
         "type='signal',interface='org.hvd1.Domain',member='MigrationProgress'"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(0.5)
        p = migrate(src, "mig", dst, workdir)  # hvctl's default client: D-Bus Migrate
        assert p.returncode == 0, p.stderr
        time.sleep(0.5)
    finally:
        monitor.terminate()
    out = monitor.communicate(timeout=10)[0]
    assert "member=MigrationProgress" in out, out
    assert 'string "precopy"' in out and 'string "stop-and-copy"' in out, out


def test_bad_input_on_every_surface(pair, workdir):
    import dbus
    src, dst = pair("src"), pair("dst")
    create(src, "mig")
    status, _, body = http_migrate(src, "mig", dst)
    assert status == 409 and "only a running domain can be migrated" in body["detail"], body
    src.hvctl("start", "mig", check=True)
    path = "/api/v1/domains/mig/actions/migrate"
    for fields, why in [
            ({}, "'to' must be a string"),
            ({"to": 5}, "'to' must be a string"),
            ({"to": "ftp://192.0.2.1:1"}, "it must be http://ADDRESS:PORT"),
            ({"to": "http://example.com:80"}, "is not an IP address"),
            ({"to": "http://127.0.0.1"}, "it has no :PORT"),
            ({"to": "http://127.0.0.1:99999"}, "the port must be 1..65535"),
            ({"to": "http://127.0.0.1:80/api"}, "with nothing after it"),
            ({"to": dst.url, "downtime_ms": 0}, "'downtime_ms' must be an integer 1..60000"),
            ({"to": dst.url, "timeout_s": "x"}, "'timeout_s' must be an integer 1..86400"),
            ({"to": dst.url, "bandwidth_mib_s": -1}, "'bandwidth_mib_s' must be an integer"),
            ({"to": dst.url, "token": 3}, "'token' must be a string"),
            ({"to": dst.url, "speed": 1}, "unknown field 'speed'")]:
        status, _, body = src.request("POST", path, fields)
        assert status == 400 and why in body["detail"], (fields, status, body)
    status, _, body = src.request("POST", path, {"to": dst.url}, token=False)
    assert status == 401, body
    status, _, body = src.request("GET", path)
    assert status == 405, body
    status, _, body = src.request("POST", "/api/v1/domains/nope/actions/migrate", {"to": dst.url})
    assert status == 404, body
    status, _, body = src.request("POST", "/api/v1/domains/mig/actions/migrate-cancel", {})
    assert status == 409 and "no migration of 'mig' is under way" in body["detail"], body
    status, _, body = src.request("POST", "/api/v1/domains/mig/actions/migrate-cancel", {"x": 1})
    assert status == 400, body

    # The target's admission checks what it is given.
    good = {"name": "inc", "uuid": "6a1c3c3e-5b1c-4f7e-9a51-2b3c4d5e6f70", "driver": "minihv",
            "mode": "pv", "kernel": "counter", "memory_mib": 16}
    for body_in, status_want, why in [
            ({}, 400, "'domain' must be an object"),
            ({"domain": 1}, 400, "'domain' must be an object"),
            ({"domain": good, "extra": 1}, 400, "unknown field 'extra'"),
            ({"domain": {**good, "name": "bad name"}}, 400, "name"),
            ({"domain": {**good, "network": "nonet"}}, 404, "nonet"),
            # kvm domains migrate too: one the target cannot define is refused for its settings
            ({"domain": {**good, "driver": "kvm"}}, 400, "must be an absolute path for the kvm driver"),
            ({"domain": {**good, "memory_mib": 1 << 21}}, 409, "memory")]:
        status, _, body = dst.request("POST", "/api/v1/migrations", body_in)
        assert status == status_want and why in body["detail"], (body_in, status, body)
    status, _, body = dst.request("POST", "/api/v1/migrations", {"domain": good}, token=False)
    assert status == 401, body
    # An admission whose stream never comes is dropped again.
    status, _, body = dst.request("POST", "/api/v1/migrations", {"domain": good})
    assert status == 201 and len(body["ticket"]) == 64 and body["port"] > 0, body
    assert "inc" in domain_names(dst)
    status, _, again = dst.request("POST", "/api/v1/migrations", {"domain": good})
    assert status == 409 and "coming in already" in again["detail"], again
    import socket
    with socket.create_connection(("127.0.0.1", body["port"]), timeout=5) as s:
        s.sendall(b"0" * 64 + b"\n")  # a wrong ticket
    wait_for(lambda: "inc" not in domain_names(dst), timeout=10, what="the admission to go")

    # D-Bus.
    d = src.domain("mig")
    with pytest.raises(dbus.DBusException) as exc:
        d.Migrate("ftp://192.0.2.1:1", "", 0, 0, 0, timeout=30)
    assert exc.value.get_dbus_name() == "org.hvd1.Error.InvalidArgument"
    assert "http://ADDRESS:PORT" in exc.value.get_dbus_message()
    with pytest.raises(dbus.DBusException) as exc:
        d.Migrate(dst.url, "", 0, 100000, 0, timeout=30)
    assert exc.value.get_dbus_name() == "org.hvd1.Error.InvalidArgument"
    with pytest.raises(dbus.DBusException) as exc:
        d.MigrateCancel()
    assert exc.value.get_dbus_name() == "org.hvd1.Error.InvalidState"

    # hvctl.
    for args, code, why in [
            (("migrate", "mig"), 2, "needs --to URL"),
            (("migrate", "mig", "--to", dst.url, "--downtime-ms", "0"), 2, "--downtime-ms"),
            (("migrate", "mig", "--to", dst.url, "--timeout", "x"), 2, "--timeout"),
            (("migrate", "mig", "--cancel", "--to", dst.url), 2, "--cancel takes no other"),
            (("migrate", "--to", dst.url), 2, "exactly one domain NAME"),
            (("migrate", "nope", "--to", dst.url), 3, "nope"),
            (("migrate", "mig", "--to", dst.url, "--token-file", "/nonexistent"), 1,
             "cannot read the token file")]:
        p = src.hvctl(*args)
        assert p.returncode == code and why in p.stderr, (args, p.returncode, p.stderr)
    p = src.hvctl("--url", src.url, "--token-file", str(src.state_dir / "http-token"),
                  "migrate", "mig", "--to", "http://example.com:1")
    assert p.returncode == 2 or p.returncode == 1, p.stderr
    assert "is not an IP address" in p.stderr

    # Nothing moved.
    assert state(src, "mig") == ("running", "booted")
    assert domain_names(dst) == []


def test_destroy_during_a_migration(pair, workdir):
    """A destroy wins over a migration under way: the source ends shutoff/destroyed (never
    running again on its own), the target drops what it admitted."""
    src, dst = pair("src"), pair("dst")
    start_slow(src)
    proc = migrate_in_background(src, "mig", dst, workdir)
    src.hvctl("destroy", "mig", check=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, (out, err)
    assert state(src, "mig") == ("shutoff", "destroyed")
    states = [(e["state"], e["reason"]) for e in event_log(src, "mig", "state-changed")]
    assert states[-2:] == [("migrating", "migrated"), ("shutoff", "destroyed")], states
    wait_for(lambda: "mig" not in domain_names(dst), timeout=30, what="the target to drop it")


def test_hvctl_over_http_migrates_and_back(pair, workdir):
    """hvctl --url (the HTTP client) migrates too, and the domain comes back to the source,
    which admits it into the definition it kept (same UUID, shutoff/migrated)."""
    src, dst = pair("src"), pair("dst")
    create(src, "mig")
    src.hvctl("start", "mig", check=True)
    first = wait_counting(src, "mig", 2)
    p = src.hvctl("--url", src.url, "--token-file", str(src.state_dir / "http-token"),
                  "migrate", "mig", "--to", dst.url, "--token-file", token_file(dst, workdir),
                  "--downtime-ms", "50", "--timeout", "30")
    assert p.returncode == 0, p.stderr
    assert state(dst, "mig") == ("running", "migrated")
    p = migrate(dst, "mig", src, workdir)
    assert p.returncode == 0, p.stderr
    assert state(src, "mig") == ("running", "migrated")
    assert state(dst, "mig") == ("shutoff", "migrated")
    wait_for(lambda: max(counts(console(src, "mig")) or [0]) > first + 2, timeout=30,
             what="counting on back home")
    assert domain_names(src) == ["mig"] and not list((src.state_dir / "incoming").glob("*"))
