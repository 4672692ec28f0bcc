"""The HTTP API under hostile clients: half-open and trickling requests, connection floods,
idle kept-alive connections, the per-address limit beyond loopback, and what all that costs the
log; and the long-lived clients (event streams, console sessions) the timeouts must spare. Every
client uses loopback; the per-address test's address beyond loopback lives in a network
namespace of the test's own."""
import ctypes
import http.client
import os
import re
import resource
import shutil
import socket
import threading
import time
import urllib.parse

import pytest

from clients import EventStream, PtyProcess
from hvd_harness import Hvd, wait_for

HALF_REQUEST = b"GET /api/v1/host HTTP/1.1\r\nHost: hvd\r\nX-Never-Ends: "


@pytest.fixture(autouse=True)
def enough_file_descriptors():
    """Thousands of client sockets need a higher soft limit than the usual 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 2600:
        pytest.skip(f"RLIMIT_NOFILE's hard limit ({hard}) is too low for the floods here")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def address(url):
    u = urllib.parse.urlparse(url)
    return u.hostname, u.port


def half_open(url, n):
    """n connections, each with half a request sent and nothing more."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(address(url), timeout=10)
        s.sendall(HALF_REQUEST)
        socks.append(s)
    return socks


def closed_by_server(s):
    """True when the server has closed s (end of stream or reset); False while it is open."""
    s.setblocking(False)
    try:
        data = s.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)
    return data == b"" or closed_by_server(s)


def count_open(socks):
    return sum(not closed_by_server(s) for s in socks)


def close_all(socks):
    for s in socks:
        s.close()


def timed_request(h, *args, **kwargs):
    """(status, seconds) of one request on a new connection."""
    start = time.monotonic()
    status = h.request(*args, timeout=10, **kwargs)[0]
    return status, time.monotonic() - start


def test_half_open_requests_do_not_shut_others_out_and_are_closed(make_hvd):
    h = make_hvd(config="[http]\nrequest-timeout = 3\n").start()
    opened = time.monotonic()
    socks = half_open(h.url, 2000)
    try:
        status, took = timed_request(h, "GET", "/api/v1/host")
        assert status == 200 and took < 0.5, took
        status, took = timed_request(h, "POST", "/api/v1/domains", {"name": "during-flood"})
        assert status == 201 and took < 0.5, took
        # The flood is really held: it is hvd, not the flood's own end, that closes it.
        if time.monotonic() - opened < 2.5:
            assert count_open(socks) > 1900
        wait_for(lambda: count_open(socks) == 0, timeout=3 + 2 + 3, interval=0.2,
                 what="hvd to close the half-open connections")
        # Within request-timeout plus the two-second grace for clients that keep trickling.
        assert time.monotonic() - opened < 3 + 2 + 2
        assert time.monotonic() - opened > 2.5
    finally:
        close_all(socks)
    assert h.request("GET", "/api/v1/domains/during-flood")[0] == 200


def test_a_full_listener_makes_room_for_newcomers(make_hvd):
    # The timeouts are long here: only making room can let the newcomer in.
    h = make_hvd(config="[http]\nmax-connections = 64\nrequest-timeout = 60\n").start()
    socks = half_open(h.url, 600)
    try:
        status, took = timed_request(h, "GET", "/api/v1/host")
        assert status == 200 and took < 0.5, took
        wait_for(lambda: count_open(socks) <= 64, timeout=5, interval=0.2,
                 what="the listener to hold at most max-connections")
        # The newest ones are those still held.
        assert count_open(socks[-32:]) >= 16
    finally:
        close_all(socks)
    assert "HTTP: http://127.0.0.1:" in h.read_log() and "is full (64 connections)" in h.read_log()


def test_a_trickling_request_is_cut_at_its_deadline(make_hvd):
    h = make_hvd(config="[http]\nrequest-timeout = 2\n").start()
    s = socket.create_connection(address(h.url), timeout=10)
    start = time.monotonic()
    s.sendall(HALF_REQUEST)
    cut = None
    try:
        while time.monotonic() - start < 10:
            time.sleep(0.2)
            try:
                s.sendall(b"x")  # one byte at a time: never silent for long
            except OSError:
                cut = time.monotonic() - start
                break
            if closed_by_server(s):
                cut = time.monotonic() - start
                break
    finally:
        s.close()
    assert cut is not None, "hvd kept a request that never ended for 10 s"
    assert 1.8 < cut < 2 + 2 + 1, cut


def kept_alive(h):
    """A socket that has had one full request and response and stays open for the next one."""
    s = socket.create_connection(address(h.url), timeout=10)
    s.sendall(b"GET /api/v1/host HTTP/1.1\r\nHost: hvd\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += s.recv(65536)
    assert head.startswith(b"HTTP/1.1 200") and b"close" not in head.lower()
    return s


def test_idle_keep_alive_connections_are_closed_after_idle_timeout(make_hvd):
    h = make_hvd(config="[http]\nrequest-timeout = 1\nidle-timeout = 3\n").start()
    s = kept_alive(h)
    answered = time.monotonic()
    try:
        time.sleep(2)  # past request-timeout: idle connections are not held to it
        assert not closed_by_server(s)
        wait_for(lambda: closed_by_server(s), timeout=5, interval=0.1,
                 what="hvd to close the idle connection")
        assert 2.8 < time.monotonic() - answered < 3 + 2 + 0.5
    finally:
        s.close()


def test_event_stream_outlives_both_timeouts(make_hvd):
    h = make_hvd(config="[http]\nrequest-timeout = 1\nidle-timeout = 2\n").start()
    stream = EventStream(h)
    try:
        time.sleep(4)  # no event meanwhile: the stream is silent for longer than either timeout
        assert h.request("POST", "/api/v1/domains", {"name": "late"})[0] == 201
        wait_for(lambda: [e for e in stream.of("lifecycle") if e["data"]["domain"] == "late"],
                 timeout=5, what="the event on the stream opened 4 s ago")
        assert stream.thread.is_alive()
    finally:
        stream.close()


@pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                    reason="/dev/kvm is not usable here")
def test_console_session_over_http_outlives_both_timeouts(make_hvd):
    # Over HTTP, hvctl console is the event stream (output) and a POST per input (kept alive).
    h = make_hvd(config="[http]\nrequest-timeout = 1\nidle-timeout = 2\n").start()
    assert h.request("POST", "/api/v1/domains", {"name": "tty", "driver": "minihv",
                                                 "kernel": "echo", "memory_mib": 16})[0] == 201
    assert h.request("POST", "/api/v1/domains/tty/actions/start")[0] == 200
    wait_for(lambda: "echo: ready" in h.request("GET", "/api/v1/domains/tty/console")[2],
             what="the guest's greeting")
    term = PtyProcess([str(h.hvctl_binary), "--url", h.url, "--token-file",
                       str(h.state_dir / "http-token"), "console", "tty"], h.env())
    try:
        assert b"escape character is ^]" in term.read_until(b"^]")

        def echoed():
            # hvctl may print its banner before its event stream is open: type until the echo
            # comes back.
            term.type(b"first\r")
            return b"first" in term.read_until(b"first", timeout=0.5)
        wait_for(echoed, timeout=10, what="the first echo")
        time.sleep(4)  # quiet for longer than either timeout
        term.type(b"second line\r")
        assert b"second line" in term.read_until(b"second line")
        term.type(b"\x1d")
        assert b"Detached." in term.read_until(b"Detached.")
    except BaseException:
        term.kill()
        raise
    assert term.wait() == 0


def http_log_lines(h):
    return [line for line in h.read_log().splitlines()
            if "HTTP" in line or "libmicrohttpd" in line]


def test_a_flood_costs_a_few_log_lines_not_one_each(make_hvd):
    h = make_hvd(config="[http]\nrequest-timeout = 1\n").start()
    before = len(http_log_lines(h))
    socks = half_open(h.url, 1000)
    # Half of them give up by themselves (libmicrohttpd complains about each incomplete
    # request); hvd closes the other half at their deadline.
    close_all(socks[:500])
    try:
        wait_for(lambda: count_open(socks[500:]) == 0, timeout=8, interval=0.2,
                 what="the half-open connections to be closed")
        summaries = lambda: [l for l in http_log_lines(h) if "were not logged" in l]  # noqa: E731
        wait_for(summaries, timeout=15, interval=0.2, what="the line about suppressed messages")
    finally:
        close_all(socks)
    lines = http_log_lines(h)[before:]
    assert len(lines) <= 12, "\n".join(lines)
    suppressed = sum(int(re.search(r"(\d+) more messages", l).group(1)) for l in summaries())
    assert suppressed + len(lines) >= 900, "\n".join(lines)
    assert h.request("GET", "/api/v1/host")[0] == 200


# An address beyond loopback that stays on this machine: hvd runs in a network namespace of its
# own, whose loopback interface also has this (documentation) address, and the clients join it.
NAMESPACE_ADDRESS = "198.51.100.1"
NAMESPACE_SETUP = (f"ip link set lo up && ip addr add {NAMESPACE_ADDRESS}/32 dev lo && "
                   'exec "$@"')
CLONE_NEWNET = 0x40000000


class NamespacedHvd(Hvd):
    """hvd in a new network namespace: loopback only, with NAMESPACE_ADDRESS on it as well."""

    def command(self):
        return ["unshare", "--net", "--", "sh", "-c", NAMESPACE_SETUP, "sh", *super().command()]


def in_network_namespace(pid, fn):
    """Runs fn() on a thread that has joined pid's network namespace; returns what it returns.
    Sockets it makes belong to that namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    outcome = {}

    def run():
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into hvd's network namespace")
            outcome["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_connections_per_address_are_limited_beyond_loopback(build, bus, workdir):
    if not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("needs unshare and ip to give hvd a network namespace")
    h = NamespacedHvd(build, bus, workdir / "hvd", http=f"{NAMESPACE_ADDRESS}:0,127.0.0.1:0",
                      config="[http]\nmax-connections-per-address = 4\n")
    try:
        h.start()
        outside, loopback = (h.runtime_dir / "http-url").read_text().split()
        assert outside.startswith(f"http://{NAMESPACE_ADDRESS}:")

        def clients():
            held = half_open(outside, 4)
            local = half_open(loopback, 20)  # loopback is not limited
            try:
                extra = socket.create_connection(address(outside), timeout=10)
                extra.sendall(HALF_REQUEST)
                wait_for(lambda: closed_by_server(extra), timeout=2,
                         what="hvd to refuse the fifth")
                extra.close()
                time.sleep(0.3)
                assert count_open(held) == 4 and count_open(local) == 20
                # One ends: once hvd has seen it go, its place is free again (for a client with
                # the token: reads from beyond loopback need it).
                held.pop().close()
                wait_for(lambda: served(outside, h.token), timeout=2, interval=0.05,
                         what="a request in the freed place")
            finally:
                close_all(held + local)

        in_network_namespace(h.proc.pid, clients)
        assert (f"refused a connection from {NAMESPACE_ADDRESS}, which already has 4"
                in h.read_log())
    finally:
        h.stop()


def served(url, token):
    """True when a GET with the token is answered 200 on a new connection to url."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/host", headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status == 200
    except ConnectionError:
        return False
    finally:
        conn.close()
