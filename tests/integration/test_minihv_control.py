"""The control socket: every verb, several clients, console attach, malformed requests."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from minihv_helpers import (MODES, STATUS_DESTROYED, STATUS_POWEROFF, STATUS_REBOOT,
                            ControlClient, Domain, guest, last_line, require_kvm, vmm)


@pytest.fixture(autouse=True)
def _kvm():
    require_kvm()


@pytest.fixture
def echo_pv(build, tmp_path):
    d = Domain(build, tmp_path, "echo", "pv")
    d.wait_console("echo: ready")
    yield d
    d.kill()


def test_info_describes_the_domain(build, tmp_path, echo_pv):
    info = echo_pv.client().request({"cmd": "info"})
    assert info["ok"] is True
    assert info["pid"] == echo_pv.proc.pid
    assert info["mode"] == "pv" and info["vcpus"] == 1 and info["memory_mib"] == 32
    assert info["guest"] == str(build / "drivers/minihv/guest/echo-pv.elf")
    assert info["state"] == "running" and info["disk"] is None
    assert info["console"] == str(echo_pv.console)
    assert info["control"] == str(echo_pv.control)
    assert abs(info["start_time"] - time.time()) < 60
    with open(f"/proc/{echo_pv.proc.pid}/stat") as f:
        assert info["start_time_ticks"] == int(f.read().rsplit(")", 1)[1].split()[19])


def test_stats_counts_exits_devices_and_memory(echo_pv):
    c = echo_pv.client()
    c.request({"cmd": "console"})
    c.send_raw(b"abc\n")
    c.read_until(b"abc\n")
    s = ControlClient(echo_pv.control).request({"cmd": "stats"})
    assert s["ok"] is True
    assert s["exits"]["io"] >= 3 and s["exits"]["total"] == sum(
        v for k, v in s["exits"].items() if k != "total")
    assert s["devices"]["hypercall:console"] >= 3  # greeting, echo, reads
    assert s["devices"]["uart"] == 0  # a pv guest never touches emulated devices
    assert s["console"]["in_bytes"] == 4
    assert s["run_time_ns"] > 0 and s["vcpus"][0]["run_time_ns"] == s["run_time_ns"]
    mem = s["memory"]
    assert mem["guest_bytes"] == 32 << 20
    assert 0 < mem["guest_resident_bytes"] <= mem["guest_bytes"]
    assert mem["vmm_rss_bytes"] > 0
    assert 0 < mem["vmm_overhead_bytes"] < 4 << 20
    assert s["bad_requests"] == {"guest": 0, "control": 0}


def test_pause_stops_the_guest_and_resume_restarts_it(echo_pv):
    c = echo_pv.client()
    con = echo_pv.client()
    con.request({"cmd": "console"})
    assert c.request({"cmd": "pause"}) == {"ok": True}
    assert c.request({"cmd": "info"})["state"] == "paused"
    r = c.request({"cmd": "pause"})
    assert r == {"ok": False, "error": "the domain is already paused"}
    ran = c.request({"cmd": "stats"})["run_time_ns"]
    con.send_raw(b"while paused\n")
    time.sleep(0.3)
    assert c.request({"cmd": "stats"})["run_time_ns"] == ran
    assert "while paused" not in echo_pv.console.read_text()
    assert c.request({"cmd": "resume"}) == {"ok": True}
    con.read_until(b"while paused\n")
    assert c.request({"cmd": "info"})["state"] == "running"
    assert c.request({"cmd": "resume"}) == {"ok": False, "error": "the domain is not paused"}


@pytest.mark.parametrize("mode", MODES)
def test_shutdown_asks_the_guest_which_powers_off(build, tmp_path, mode):
    d = Domain(build, tmp_path, "echo", mode)
    try:
        d.wait_console("echo: ready")
        c = d.client()
        assert c.request({"cmd": "shutdown", "timeout_s": 10}) == {"ok": True, "timeout_s": 10.0}
        status, err = d.wait()
    finally:
        d.kill()
    assert status == STATUS_POWEROFF
    assert "echo: shutdown requested, powering off" in d.console.read_text()
    assert last_line(err) == "minihv: guest powered off"


def test_shutdown_destroys_a_guest_that_ignores_it(build, tmp_path):
    d = Domain(build, tmp_path, "bench", "pv", extra=("--cmdline", "cpu=1000000000000"))
    try:
        d.wait_console("bench: mode=pv")
        t0 = time.monotonic()
        assert d.client().request({"cmd": "shutdown", "timeout_s": 0.5})["ok"] is True
        status, err = d.wait()
        took = time.monotonic() - t0
    finally:
        d.kill()
    assert status == STATUS_DESTROYED
    assert 0.4 < took < 5
    assert last_line(err) == ("minihv: destroyed: the guest did not power off within 0.5 s "
                              "of a shutdown request")


def test_destroy_ends_the_domain_and_tells_every_client(echo_pv):
    watcher = echo_pv.client()
    assert watcher.request({"cmd": "info"})["ok"]
    assert echo_pv.client().request({"cmd": "destroy"}) == {"ok": True}
    assert watcher.read_json() == {"event": "stopped", "status": 5, "status_name": "destroyed",
                                   "reason": "destroyed by a control client"}
    status, err = echo_pv.wait()
    assert status == STATUS_DESTROYED
    assert last_line(err) == "minihv: destroyed by a control client"


def test_reboot_exits_with_the_reboot_status(echo_pv):
    assert echo_pv.client().request({"cmd": "reboot"}) == {"ok": True}
    status, err = echo_pv.wait()
    assert status == STATUS_REBOOT
    assert last_line(err) == "minihv: reboot requested by a control client"


def test_sigterm_destroys(echo_pv):
    echo_pv.proc.send_signal(signal.SIGTERM)
    status, err = echo_pv.wait()
    assert status == STATUS_DESTROYED
    assert last_line(err) == "minihv: destroyed by signal TERM"


@pytest.mark.parametrize("mode", MODES)
def test_console_attach_is_a_bidirectional_stream(build, tmp_path, mode):
    d = Domain(build, tmp_path, "echo", mode)
    try:
        d.wait_console("echo: ready")
        a, b = d.client(), d.client()
        # the reply says what info does: whom a client re-attaching reached
        ra, rb = a.request({"cmd": "console"}), b.request({"cmd": "console"})
        assert ra["ok"] and ra["pid"] == d.proc.pid and ra["mode"] == mode
        assert rb["ok"] and rb["start_time_ticks"] == ra["start_time_ticks"] > 0
        a.send_raw(b"from a\n")
        a.read_until(b"from a\n")
        b.read_until(b"from a\n")  # every attached client sees the output
        b.send_raw(b"from b\n")
        a.read_until(b"from b\n")
        a.close()
        b.send_raw(b"quit\n")
        b.read_until(b"echo: bye")
        status, _ = d.wait()
    finally:
        d.kill()
    assert status == STATUS_POWEROFF


def test_several_clients_at_once(echo_pv):
    clients = [echo_pv.client() for _ in range(8)]
    for c in clients:
        c.send_raw(b'{"cmd":"info","id":7}\n')
    for c in clients:
        r = c.read_json()
        assert r["ok"] and r["id"] == 7 and r["state"] == "running"


MALFORMED = [
    (b"not json", "invalid JSON"),
    (b'{"cmd":"info"', "invalid JSON"),
    (b'{"cmd":"info"} trailing', "invalid JSON"),
    (b"[1,2,3]", "a request must be a JSON object"),
    (b'"info"', "invalid JSON"),
    (b"{}", 'a request needs a string field "cmd"'),
    (b'{"cmd":7}', 'a request needs a string field "cmd"'),
    (b'{"cmd":"explode"}', 'unknown command "explode"'),
    (b'{"cmd":"pause","force":true}', 'unknown field "force" for command "pause"'),
    (b'{"cmd":"info","cmd":"stats"}', "invalid JSON"),
    (b'{"cmd":"shutdown","timeout_s":"soon"}', '"timeout_s" must be a number'),
    (b'{"cmd":"shutdown","timeout_s":-1}', '"timeout_s" must be a number'),
    (b'{"cmd":"shutdown","timeout_s":1e9}', '"timeout_s" must be a number'),
    (b"\xff\xfe\x00garbage", "invalid JSON"),
    (b"x" * 5000, "request line longer than 4096 bytes"),
]


def test_malformed_requests_get_an_error_line_and_the_connection_stays_usable(echo_pv):
    c = echo_pv.client()
    for line, message in MALFORMED:
        r = c.request(line)
        assert r["ok"] is False, line
        assert message in r["error"], (line, r)
    assert c.request({"cmd": "info", "id": "after"})["id"] == "after"
    stats = c.request({"cmd": "stats"})
    assert stats["bad_requests"]["control"] == len(MALFORMED)
    assert echo_pv.proc.poll() is None


def test_overlong_line_in_pieces_and_blank_lines(echo_pv):
    c = echo_pv.client()
    c.send_raw(b"\n\r\n   \n")  # blank lines are ignored
    for _ in range(3):
        c.send_raw(b"y" * 2000)
    c.send_raw(b"\n")
    assert c.read_json()["error"] == "request line longer than 4096 bytes"
    assert c.request({"cmd": "info"})["ok"] is True


def test_a_client_that_vanishes_mid_request_does_no_harm(echo_pv):
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(echo_pv.control))
        s.sendall(b'{"cmd":"sta')
        s.close()
    assert echo_pv.client().request({"cmd": "info"})["ok"] is True


def test_too_many_clients_are_turned_away(echo_pv):
    clients = [echo_pv.client() for _ in range(32)]
    assert clients[-1].request({"cmd": "info"})["ok"]
    extra = ControlClient(echo_pv.control)
    assert extra.read_json() == {"ok": False, "error": "too many control clients"}
    clients[0].close()
    deadline = time.monotonic() + 5
    while True:  # the slot frees once minihv has seen the hang-up
        reply = ControlClient(echo_pv.control).request({"cmd": "info"})
        if reply["ok"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert reply["ok"]


def test_stale_socket_is_replaced_but_a_live_one_is_not(build, tmp_path):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "control.sock"))
    stale.close()  # a socket file with nobody behind it
    d = Domain(build, tmp_path, "echo", "pv")
    try:
        assert d.client().request({"cmd": "info"})["ok"]
        with pytest.raises(AssertionError, match="is in use by another process"):
            Domain(build, tmp_path, "echo", "pv")
        assert os.stat(d.control).st_mode & 0o077 == 0  # owner only
        assert d.client().request({"cmd": "info"})["ok"]
    finally:
        d.kill()


def test_control_requests_do_not_leak_into_the_console(echo_pv):
    c = echo_pv.client()
    c.request({"cmd": "stats"})
    assert json.dumps({"cmd": "stats"}) not in echo_pv.console.read_text()


def test_sigterm_ends_a_guest_blocked_on_a_full_console_pipe(build):
    # nobody reads minihv's stdout: the guest's console writes block on a full pipe
    p = subprocess.Popen([str(vmm(build)), "run", "--cmdline", "console=100000000",
                          str(guest(build, "bench", "pv"))], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == STATUS_DESTROYED
    assert last_line(err.decode()) == "minihv: destroyed by signal TERM"
