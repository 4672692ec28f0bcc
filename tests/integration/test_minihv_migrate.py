"""Live migration between two minihv processes driven through their control sockets: a running
guest (pv and full mode) moves while it writes memory and its console and carries on where it
was on the target; a migration that fails midway (target killed, connection closed, cancelled)
leaves the source running; malformed or mismatched streams are refused by the target before any
guest code runs."""
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

from minihv_helpers import (STATUS_HOST_ERROR, STATUS_POWEROFF, ControlClient, Domain,
                            assert_no_sanitizer_report, require_kvm, sanitizer_env, vmm)

STATUS_MIGRATED = 7
RECORD = struct.Struct("<IIQ")
REC_HELLO, REC_PAGES, REC_STATE, REC_ACCEPT, REC_READY, REC_ERROR = range(1, 7)
SETTINGS_AT = 16  # the hello's SnapshotHeader, after magic, version and reserved
COUNTER = re.compile(r"counter: (\d+) t=(\d+)\n")


@pytest.fixture(autouse=True)
def _kvm():
    require_kvm()


def counts(text):
    return [(int(n), int(t)) for n, t in COUNTER.findall(text)]


def socket_pair(transport):
    """Two connected stream sockets: a socketpair, or both ends of a loopback TCP connection."""
    if transport == "unix":
        return socket.socketpair()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        a = socket.create_connection(lst.getsockname(), timeout=5)
        b, _ = lst.accept()
        return a, b


class Target:
    """`minihv run --incoming FD`, FD being one end of a connected socket (now owned)."""

    def __init__(self, build, tmp_path, sock, extra=(), asan=False, tag="t-"):
        self.control = tmp_path / f"{tag}control.sock"
        self.console = tmp_path / f"{tag}console.log"
        self.ready_r, w = os.pipe()
        fd = sock.fileno()
        cmd = [str(vmm(build, asan)), "run", "--control", str(self.control), "--console",
               str(self.console), "--ready-fd", str(w), "--incoming", str(fd), *map(str, extra)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     pass_fds=(w, fd), env=sanitizer_env() if asan else None)
        os.close(w)
        sock.close()

    def wait_ready(self, timeout=30):
        ready, _, _ = select.select([self.ready_r], [], [], timeout)
        return os.read(self.ready_r, 64) if ready else b""

    def wait_console(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.console.exists() and needle in self.console.read_text(errors="replace"):
                return self.console.read_text(errors="replace")
            time.sleep(0.02)
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        raise TimeoutError(f"{needle!r} not on the target's console; got {text!r}")

    def wait(self, timeout=30):
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"the target did not end within {timeout} s: {err.decode()}")
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
        if self.ready_r >= 0:
            os.close(self.ready_r)
            self.ready_r = -1


def migrate_send(client, sock, **options):
    """Sends migrate-send with sock (closed here) and returns (events, reply)."""
    line = ('{"cmd":"migrate-send","id":7%s}\n' % "".join(
        f',"{k}":{v if not isinstance(v, str) else chr(34) + v + chr(34)}'
        for k, v in options.items())).encode()
    socket.send_fds(client.sock, [line], [sock.fileno()])
    sock.close()
    events = []
    while True:
        msg = client.read_json()
        if "event" not in msg:
            return events, msg
        events.append(msg)


def source(build, tmp_path, mode, cmdline, asan=False, memory=64):
    return Domain(build, tmp_path, "counter", mode, asan=asan, tag="s-",
                  extra=("--memory", str(memory), "--cmdline", cmdline))


def check_continues(before, after, mode):
    """The numbers go on from the last one the source printed: never from 1, never repeated."""
    assert "counter: start" not in after
    seq = counts(before + after)  # a line cut by the pause is completed on the target
    assert [n for n, _ in seq] == list(range(1, len(seq) + 1)), seq
    cut = len(counts(before))
    assert cut < len(seq)
    gap_ms = seq[cut][1] - seq[cut - 1][1]
    # the guest's clock neither jumps nor goes back: one period plus the downtime at most
    assert 0 <= gap_ms < 1000, (mode, seq[cut - 2:cut + 2])


@pytest.mark.parametrize("mode,transport", [("pv", "unix"), ("full", "tcp")])
def test_a_counting_guest_that_writes_memory_moves_and_carries_on(build, tmp_path, mode,
                                                                  transport):
    asan = mode == "pv"
    # guest memory rewritten (pv: 64 pages every 10 ms; full mode, whose checks take longer:
    # 128 pages every 100 ms), each page stamped with the tick that wrote it: the guest checks
    # every stamp at every tick, so a page that did not follow it to the target crashes it there
    cmdline = "period_ms=10 dirty_pages=64" if mode == "pv" else "period_ms=100 dirty_pages=128"
    src = source(build, tmp_path, mode, cmdline, asan=asan)
    tgt = None
    try:
        src.wait_console("counter: 20 ", timeout=30)  # pages written over and over
        a, b = socket_pair(transport)
        tgt = Target(build, tmp_path, b, asan=asan)
        c = src.client()
        c.sock.settimeout(60)
        events, reply = migrate_send(c, a)
        assert reply["ok"], reply
        assert reply["id"] == 7 and reply["state"] == "migrated"
        assert reply["pages_sent"] >= 2048 and reply["downtime_ms"] > 0
        phases = [e["phase"] for e in events]
        assert phases[0] == "accepted" and "precopy" in phases
        assert phases[-2:] == ["stop-and-copy", "completed"]
        pre = [e for e in events if e["phase"] == "precopy"]
        for key in ("iteration", "pages_sent", "dirty_pages", "dirty_rate_pages_s",
                    "expected_downtime_ms", "throughput_mib_s"):
            assert key in pre[0], pre[0]
        status, err = src.wait()
        assert status == STATUS_MIGRATED, err
        assert err.strip().endswith("minihv: migrated to the target")
        assert_no_sanitizer_report(err)
        assert tgt.wait_ready() == b"ready\n"

        before = src.console.read_text()
        last = counts(before)[-1][0]
        after = tgt.wait_console(f"counter: {last + 20} ")
        check_continues(before, after, mode)
        assert "holds the stamp" not in after
        t = ControlClient(tgt.control)
        info = t.request({"cmd": "info"})
        assert info["ok"] and info["mode"] == mode, info
        assert t.request({"cmd": "shutdown"})["ok"]
        status, err = tgt.wait()
        assert status == STATUS_POWEROFF, err
        assert_no_sanitizer_report(err)
        assert "counter: stopped at" in tgt.console.read_text()
    finally:
        src.kill()
        if tgt:
            tgt.kill()


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_the_echo_guest_still_echoes_on_the_target(build, tmp_path, mode):
    src = Domain(build, tmp_path, "echo", mode, tag="s-")
    tgt = None
    try:
        src.wait_console("echo: ready", timeout=30)
        con = src.client()
        assert con.request({"cmd": "console"})["ok"]
        con.send_raw(b"before\n")
        con.read_until(b"before\n", timeout=30)
        a, b = socket_pair("tcp")
        tgt = Target(build, tmp_path, b)
        events, reply = migrate_send(src.client(), a, downtime_ms=50)
        assert reply["ok"], reply
        assert src.wait()[0] == STATUS_MIGRATED
        assert tgt.wait_ready() == b"ready\n"
        c2 = ControlClient(tgt.control)
        assert c2.request({"cmd": "console"})["ok"]
        c2.send_raw(b"after migration\n")
        c2.read_until(b"after migration\n", timeout=30)
        c2.send_raw(b"quit\n")
        tgt.wait_console("echo: bye")
        status, err = tgt.wait()
        assert status == STATUS_POWEROFF, err
        assert "echo: ready" not in tgt.console.read_text()  # not booted again
    finally:
        src.kill()
        if tgt:
            tgt.kill()


def slow_migration(build, tmp_path, asan=False):
    """A source whose 8 MiB of filled memory go out at 2 MiB/s, and its target."""
    src = source(build, tmp_path, "pv", "period_ms=100 fill", asan=asan)
    src.wait_console("counter: 2 ", timeout=30)
    a, b = socket_pair("unix")
    tgt = Target(build, tmp_path, b)
    c = src.client()
    c.sock.settimeout(60)
    line = b'{"cmd":"migrate-send","id":"slow","bandwidth_mib_s":2}\n'
    socket.send_fds(c.sock, [line], [a.fileno()])
    a.close()
    while True:  # until memory is on its way
        ev = c.read_json()
        assert "event" in ev, ev
        if ev["phase"] == "accepted":
            break
    time.sleep(0.5)
    return src, tgt, c


def read_reply(c):
    events = []
    while True:
        msg = c.read_json()
        if "event" not in msg:
            return events, msg
        events.append(msg)


def assert_still_counting(src):
    last = counts(src.console.read_text())[-1][0]
    src.wait_console(f"counter: {last + 3} ", timeout=30)
    c = src.client()
    assert c.request({"cmd": "info"})["state"] == "running"
    assert c.request({"cmd": "shutdown"})["ok"]
    status, err = src.wait()
    assert status == STATUS_POWEROFF, err
    return err


def test_a_target_killed_midway_leaves_the_source_running(build, tmp_path):
    src, tgt, c = slow_migration(build, tmp_path, asan=True)
    try:
        # while it runs, the guest's run state is the migration's
        other = src.client()
        r = other.request({"cmd": "pause"})
        assert not r["ok"] and "a migration is in progress" in r["error"]
        tgt.proc.send_signal(signal.SIGKILL)
        events, reply = read_reply(c)
        assert not reply["ok"] and reply["id"] == "slow"
        assert reply["state"] == "running"
        assert "the target closed the connection" in reply["error"], reply
        assert events[-1]["phase"] == "failed"
        err = assert_still_counting(src)
        assert_no_sanitizer_report(err)
    finally:
        src.kill()
        tgt.kill()


def test_a_closed_connection_leaves_the_source_running(build, tmp_path):
    src = source(build, tmp_path, "full", "period_ms=100")
    try:
        src.wait_console("counter: 2 ", timeout=30)
        a, b = socket_pair("tcp")
        c = src.client()
        line = b'{"cmd":"migrate-send"}\n'
        socket.send_fds(c.sock, [line], [a.fileno()])
        a.close()
        rec = b.recv(RECORD.size, socket.MSG_WAITALL)
        assert RECORD.unpack(rec)[0] == REC_HELLO
        b.close()  # no target: the connection closes before it accepts
        events, reply = read_reply(c)
        assert not reply["ok"] and reply["state"] == "running"
        assert "the target closed the connection" in reply["error"], reply
        assert_still_counting(src)
    finally:
        src.kill()


def test_migrate_cancel_aborts_and_the_target_gives_up(build, tmp_path):
    src, tgt, c = slow_migration(build, tmp_path)
    try:
        other = src.client()
        assert other.request({"cmd": "migrate-cancel"})["ok"]
        events, reply = read_reply(c)
        assert not reply["ok"]
        assert "cancelled by a control client" in reply["error"], reply
        r = other.request({"cmd": "migrate-cancel"})
        assert not r["ok"] and r["error"] == "no migration is in progress"
        status, err = tgt.wait()
        assert status == STATUS_HOST_ERROR
        assert "cannot receive the migration: the source gave up: cancelled by a control client" \
            in err, err
        assert not tgt.console.exists() or "counter" not in tgt.console.read_text()
        assert_still_counting(src)
    finally:
        src.kill()
        tgt.kill()


def test_migrate_send_requests_that_cannot_be_served_are_refused(build, tmp_path):
    src = source(build, tmp_path, "pv", "period_ms=100", memory=16)
    try:
        src.wait_console("counter: 1 ", timeout=30)
        c = src.client()
        r = c.request({"cmd": "migrate-send"})
        assert not r["ok"] and "needs a connected socket to the target" in r["error"]
        for bad, field in ((b'"downtime_ms":0', "downtime_ms"), (b'"timeout_s":"x"', "timeout_s"),
                           (b'"on_limit":"maybe"', "on_limit"),
                           (b'"max_iterations":-1', "max_iterations"),
                           (b'"bandwidth_mib_s":-2', "bandwidth_mib_s")):
            r = c.request(b'{"cmd":"migrate-send",' + bad + b"}")
            assert not r["ok"] and f'"{field}"' in r["error"], r
        r = c.request({"cmd": "migrate-send", "speed": 1})
        assert not r["ok"] and 'unknown field "speed"' in r["error"]
        with open(os.devnull, "rb") as f:
            socket.send_fds(c.sock, [b'{"cmd":"migrate-send"}\n'], [f.fileno()])
        r = read_reply(c)[1]
        assert not r["ok"] and "not a connected stream socket" in r["error"], r
        assert c.request({"cmd": "pause"})["ok"]
        a, b = socket.socketpair()
        r = migrate_send(c, a)[1]
        b.close()
        assert not r["ok"] and "needs a running domain" in r["error"], r
        assert c.request({"cmd": "resume"})["ok"]
    finally:
        src.kill()


def captured_hello(build, tmp_path):
    """A real HELLO record, taken from a source that is then left running."""
    src = source(build, tmp_path, "pv", "period_ms=100", memory=16)
    src.wait_console("counter: 1 ", timeout=30)
    a, b = socket.socketpair()
    c = src.client()
    socket.send_fds(c.sock, [b'{"cmd":"migrate-send"}\n'], [a.fileno()])
    a.close()
    b.settimeout(10)
    head = b.recv(RECORD.size, socket.MSG_WAITALL)
    kind, _, length = RECORD.unpack(head)
    assert kind == REC_HELLO
    payload = b.recv(length, socket.MSG_WAITALL)
    b.close()
    assert not read_reply(c)[1]["ok"]
    src.kill()
    return head + payload


def record(kind, payload=b"", reserved=0, length=None):
    return RECORD.pack(kind, reserved, len(payload) if length is None else length) + payload


def pages(gpa, count, data_pages=None):
    data = b"\xaa" * 4096 * (count if data_pages is None else data_pages)
    return record(REC_PAGES, struct.pack("<QII", gpa, count, 0) + data)


def patch(blob, offset, data):
    return blob[:offset] + data + blob[offset + len(data):]


def refused(build, tmp_path, stream, extra=(), tag="r-"):
    """Feeds stream to a target; returns (its stderr, the ERROR message it sent back)."""
    a, b = socket.socketpair()
    tgt = Target(build, tmp_path, b, extra=extra, tag=tag)
    try:
        a.settimeout(30)
        try:
            a.sendall(stream)
            a.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it read everything
        back = b""
        try:
            while chunk := a.recv(65536):
                back += chunk
        except ConnectionResetError:
            pass
        status, err = tgt.wait()
        assert status == STATUS_HOST_ERROR, err
        assert tgt.wait_ready() == b""
        assert not tgt.console.exists() or tgt.console.read_text() == ""
        message = None
        while back:
            kind, _, length = RECORD.unpack(back[:RECORD.size])
            if kind == REC_ERROR:
                message = back[RECORD.size:RECORD.size + length].decode()
            back = back[RECORD.size + length:]
        return err, message
    finally:
        a.close()
        tgt.kill()


def test_malformed_and_mismatched_streams_are_refused(build, tmp_path):
    hello = captured_hello(build, tmp_path)
    body = hello[RECORD.size:]
    mem = 16 << 20
    cases = [
        (b"", [], "the stream ended in the middle of a record header"),
        (b"GET / HTTP/1.1\r\n\r\n", [], "unknown record type"),
        (record(REC_PAGES, b"x" * 16), [], "the stream starts with record type 2, not a hello"),
        (record(REC_HELLO, body[:100]), [], "a hello of 100 bytes"),
        (record(REC_HELLO, body, reserved=1), [], "reserved bits"),
        (record(REC_HELLO, patch(body, 0, b"NOTMINIH")), [], "bad magic"),
        (record(REC_HELLO, patch(body, 8, struct.pack("<I", 9))), [],
         "migration stream version 9, this minihv reads version 1"),
        (record(REC_HELLO, patch(body, SETTINGS_AT + 12, struct.pack("<I", 999))), [],
         "guest ABI 999"),
        (record(REC_HELLO, patch(body, SETTINGS_AT + 32, struct.pack("<Q", 12345))), [],
         "impossible memory size 12345"),
        (hello, ["--memory", "32"], "holds 16 MiB of memory, not 32"),
        (hello, ["--mode", "full"], "pv-mode domain, not full"),
        (hello, ["--vcpus", "2"], "holds 1 vCPUs, not 2"),
        (hello + pages(mem, 1), [], "lie outside 16777216 bytes of memory"),
        (hello + pages(mem - 4096, 2), [], "lie outside"),
        (hello + pages(2 ** 64 - 4096, 1), [], "lie outside"),
        (hello + pages(4097, 1), [], "lie outside"),
        (hello + pages(0, 0, data_pages=0), [], "a pages record of 0 pages"),
        (hello + pages(0, 257, data_pages=0), [], "a pages record of 257 pages"),
        (hello + pages(0, 2, data_pages=1), [], "a pages record of 2 pages carries 4096 bytes"),
        (hello + pages(1 << 20, 4)[:5000], [], "the stream ended in the middle of guest pages"),
        (hello + record(REC_STATE, b"\0" * 4096), [], "bad magic"),
        (hello + record(REC_STATE, b"", length=1 << 40), [], "a state record of"),
        (hello + record(REC_ACCEPT), [], "unexpected record type 4"),
        (hello + record(REC_ERROR, b"disk on fire"), [], "the source gave up: disk on fire"),
        (hello + record(REC_PAGES, reserved=5), [], "reserved bits"),
        (hello, [], "the stream ended in the middle of a record header"),
    ]
    for i, (stream, extra, expected) in enumerate(cases):
        err, message = refused(build, tmp_path, stream, extra, tag=f"r{i}-")
        assert "minihv: cannot receive the migration: " in err, (i, err)
        assert expected in err, (i, expected, err)
        if stream:
            assert message and expected in message, (i, message)


def test_a_state_whose_settings_differ_from_the_hello_is_refused(build, tmp_path):
    """A real stream whose HELLO is patched to another (possible) memory size: the pages fit,
    the STATE's checksummed header does not match the hello."""
    src = source(build, tmp_path, "pv", "period_ms=100", memory=16)
    try:
        src.wait_console("counter: 1 ", timeout=30)
        a, b = socket.socketpair()
        relay_src, relay_tgt = socket.socketpair()
        tgt = Target(build, tmp_path, relay_tgt)
        c = src.client()
        socket.send_fds(c.sock, [b'{"cmd":"migrate-send"}\n'], [a.fileno()])
        a.close()
        b.settimeout(10)
        relay_src.settimeout(10)
        head = b.recv(RECORD.size, socket.MSG_WAITALL)
        body = b.recv(RECORD.unpack(head)[2], socket.MSG_WAITALL)
        relay_src.sendall(head + patch(body, SETTINGS_AT + 32, struct.pack("<Q", 32 << 20)))
        # relay both ways until the target ends
        socks = [b, relay_src]
        while socks:
            ready, _, _ = select.select(socks, [], [], 10)
            assert ready, "the relay stalled"
            for s in ready:
                data = s.recv(1 << 20)
                peer = relay_src if s is b else b
                if not data:
                    socks = []
                    break
                try:
                    peer.sendall(data)
                except OSError:
                    socks = []
        status, err = tgt.wait()
        assert status == STATUS_HOST_ERROR
        assert "the state's settings differ from the hello's" in err, err
        b.close()
        relay_src.close()
        reply = read_reply(c)[1]
        assert not reply["ok"]
        assert ("the target refused: the state's settings differ" in reply["error"]
                or "closed the connection" in reply["error"]), reply
        assert_still_counting(src)
    finally:
        src.kill()


def relay_until_ready(src_end, tgt_end):
    """Relays a migration both ways until the target says READY, which is kept from the source.
    Returns whether READY came."""
    pending = b""
    socks = [src_end, tgt_end]
    while True:
        ready, _, _ = select.select(socks, [], [], 20)
        assert ready, "the relay stalled"
        for s in ready:
            data = s.recv(1 << 20)
            if not data:
                return False
            if s is src_end:
                tgt_end.sendall(data)
                continue
            pending += data
            while len(pending) >= RECORD.size:
                kind, _, length = RECORD.unpack(pending[:RECORD.size])
                if len(pending) < RECORD.size + length:
                    break
                if kind == REC_READY:
                    return True
                src_end.sendall(pending[:RECORD.size + length])
                pending = pending[RECORD.size + length:]


@pytest.mark.parametrize("word", ["error", "close"])
def test_the_target_runs_the_guest_only_when_the_source_hands_over(build, tmp_path, word):
    """After READY the source decides: an ERROR keeps the guest off the target; the end of the
    stream (the source exiting 'migrated') lets it run."""
    src = source(build, tmp_path, "pv", "period_ms=100", memory=16)
    tgt = None
    try:
        src.wait_console("counter: 2 ", timeout=30)
        a, relay_src = socket.socketpair()
        relay_tgt, b = socket.socketpair()
        tgt = Target(build, tmp_path, b)
        c = src.client()
        socket.send_fds(c.sock, [b'{"cmd":"migrate-send"}\n'], [a.fileno()])
        a.close()
        assert relay_until_ready(relay_src, relay_tgt)
        time.sleep(0.3)
        assert not tgt.console.exists() or "counter" not in tgt.console.read_text()
        if word == "error":
            relay_tgt.sendall(record(REC_ERROR, b"changed my mind"))
            status, err = tgt.wait()
            assert status == STATUS_HOST_ERROR
            assert "cannot receive the migration: the source gave up: changed my mind" in err
            assert tgt.wait_ready() == b""
            assert not tgt.console.exists() or "counter" not in tgt.console.read_text()
        else:
            relay_tgt.close()
            assert tgt.wait_ready() == b"ready\n"
            last = counts(src.console.read_text())[-1][0]
            tgt.wait_console(f"counter: {last + 2} ")
            assert ControlClient(tgt.control).request({"cmd": "shutdown"})["ok"]
            assert tgt.wait()[0] == STATUS_POWEROFF
    finally:
        src.kill()
        if tgt:
            tgt.kill()


@pytest.mark.parametrize("on_limit", ["fail", "stop-and-copy"])
def test_a_budget_that_cannot_be_met_fails_or_stops_and_copies_at_the_limit(build, tmp_path,
                                                                           on_limit):
    # 25 pages rewritten every 10 ms never fit a budget of a microsecond
    src = source(build, tmp_path, "pv", "period_ms=10 dirty_pages=25")
    tgt = None
    try:
        src.wait_console("counter: 5 ", timeout=30)
        a, b = socket_pair("unix")
        tgt = Target(build, tmp_path, b)
        c = src.client()
        c.sock.settimeout(60)
        events, reply = migrate_send(c, a, downtime_ms=0.001, max_iterations=3,
                                     on_limit=on_limit)
        passes = [e for e in events if e["phase"] == "precopy"]
        assert len(passes) == 4, events  # the full pass and 3 more
        assert all(e["expected_downtime_ms"] > 0.001 for e in passes)
        if on_limit == "fail":
            assert not reply["ok"] and reply["state"] == "running", reply
            assert "did not fit the downtime budget of 0.001 ms within the iteration limit" \
                in reply["error"]
            status, err = tgt.wait()
            assert status == STATUS_HOST_ERROR and "the source gave up: the dirty pages" in err
            assert_still_counting(src)
        else:
            assert reply["ok"] and reply["iterations"] == 4, reply
            assert src.wait()[0] == STATUS_MIGRATED
            assert tgt.wait_ready() == b"ready\n"
            last = counts(src.console.read_text())[-1][0]
            tgt.wait_console(f"counter: {last + 5} ")
            assert ControlClient(tgt.control).request({"cmd": "shutdown"})["ok"]
            assert tgt.wait()[0] == STATUS_POWEROFF
    finally:
        src.kill()
        if tgt:
            tgt.kill()


def test_incoming_usage_errors(build, tmp_path):
    guest_path = build / "drivers/minihv/guest/counter-pv.elf"
    a, b = socket.socketpair()
    fd = str(b.fileno())
    try:
        for args, message in (
                (["--incoming", "99"], "--incoming: '99' is not an open file descriptor"),
                (["--incoming", "1"], "--incoming: '1' is not an open file descriptor"),
                (["--incoming", fd, str(guest_path)],
                 "--incoming: no GUEST image with a migrated one"),
                (["--incoming", fd, "--restore", "x.img"], "--restore and --incoming"),
                (["--incoming", fd, "--cmdline", "x"], "a migrated guest keeps the command line"),
                (["--incoming", fd, "--ready-fd", fd], "--incoming names the descriptor")):
            r = subprocess.run([str(vmm(build)), "run", *args], capture_output=True, text=True,
                               timeout=20, pass_fds=(b.fileno(),))
            assert r.returncode == 2, (args, r.stderr)
            assert message in r.stderr, (args, r.stderr)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_a_guest_with_a_network_device_answers_ping_on_the_target_tap(build, tmp_path, mode):
    """Each side in a network namespace of its own, with a tap of the same name and address:
    the guest (its address and MAC kept) answers ping on the source, then on the target."""
    from net_helpers import GUEST_ADDR, HERE, HOST_ADDR, PREFIX, Netns, require_net

    require_net()
    helper = ["/usr/bin/python3", str(HERE / "tap_exec.py"), "--name", "mhv0", "--address",
              f"{HOST_ADDR}/{PREFIX}", "--"]
    ns1, ns2 = Netns(), Netns()
    src = tgt = None

    def ping(ns):
        r = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "5", GUEST_ADDR], timeout=60)
        assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr

    try:
        sctl = tmp_path / "s.sock"
        src = subprocess.Popen(ns1.cmd([*helper, vmm(build), "run", "--mode", mode, "--net-fd",
                                        "{fd}", "--control", sctl, "--console", os.devnull,
                                        "--cmdline", f"ip={GUEST_ADDR}/{PREFIX}",
                                        build / f"drivers/minihv/guest/udpecho-{mode}.elf"]),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not sctl.exists():
            assert time.monotonic() < deadline and src.poll() is None, "no source"
            time.sleep(0.05)
        ping(ns1)
        a, b = socket.socketpair()
        tctl = tmp_path / "t.sock"
        tgt = subprocess.Popen(ns2.cmd([*helper, vmm(build), "run", "--net-fd", "{fd}",
                                        "--control", tctl, "--console", os.devnull,
                                        "--incoming", b.fileno()]),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               pass_fds=(b.fileno(),))
        b.close()
        c = ControlClient(sctl)
        c.sock.settimeout(60)
        events, reply = migrate_send(c, a)
        assert reply["ok"], reply
        assert src.wait(timeout=30) == STATUS_MIGRATED
        ping(ns2)
        t = ControlClient(tctl)
        assert t.request({"cmd": "destroy"})["ok"]
        tgt.wait(timeout=30)
    finally:
        for p in (src, tgt):
            if p and p.poll() is None:
                p.kill()
            if p:
                p.communicate()
        ns1.close()
        ns2.close()
