"""hvd's VNC WebSocket bridge without QEMU, so that it runs under AddressSanitizer too: a kvm
domain on libvirt's test driver "runs" in hvd itself, and the test serves its display socket
(RUNTIME/vnc/<uuid>/vnc.sock) with a fake RFB server. Bytes cross the bridge unchanged both
ways, in volumes far beyond its buffers, and every way a session ends is clean."""
import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from hvd_harness import wait_for
from ws_client import HandshakeRefused, WebSocket, close_reason

GREETING = b"RFB 003.008\n"


class FakeDisplay:
    """Listens on a domain's VNC socket; each connection gets the greeting, then the server
    sends `send` bytes (a deterministic stream) and records what it receives."""

    def __init__(self, path, send=0, backlog=4, accept_delay=0):
        self.path = str(path)
        self.send = send
        self.accept_delay = accept_delay
        self.received = bytearray()
        self.conns = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(backlog)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            time.sleep(self.accept_delay)
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        try:
            conn.sendall(GREETING + stream(self.send))
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                self.received += data
        except OSError:
            return

    def hang_up(self):
        conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self):
        if self.listener.fileno() < 0:
            return
        self.listener.close()
        self.hang_up()
        os.unlink(self.path)


def stream(n):
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(block.to_bytes(8, "big")).digest()
        block += 1
    return bytes(out[:n])


def serve_display(hvd):
    """Starts a kvm domain (test driver); returns a maker of fake displays for it."""
    hvd.hvctl("create", "tvnc", "--driver", "kvm", "--kernel", "/vmlinuz", "--memory", "64",
              check=True)
    hvd.hvctl("start", "tvnc", check=True)
    uuid = hvd.hvctl_json("info", "tvnc")["uuid"]
    path = hvd.runtime_dir / "vnc" / uuid / "vnc.sock"
    assert path.parent.is_dir(), "hvd made no socket directory for the domain"
    assert path.parent.parent.stat().st_mode & 0o777 == 0o711
    made = []

    def make(**kw):
        d = FakeDisplay(path, **kw)
        made.append(d)
        return d
    return make, made


@pytest.fixture
def display(hvd):
    """A running kvm domain (test driver) whose display the test serves."""
    make, made = serve_display(hvd)
    yield make
    for d in made:
        d.close()


def open_vnc(hvd, **kw):
    kw.setdefault("token", hvd.token)
    return WebSocket(hvd.url, "/api/v1/domains/tvnc/vnc", **kw)


def test_no_display_until_one_listens(hvd, display):
    with pytest.raises(HandshakeRefused) as e:
        open_vnc(hvd)
    assert e.value.status == 409 and "has no VNC display" in e.value.body, e.value.body


def test_bytes_cross_unchanged_both_ways(hvd, display):
    size = 3 * 1024 * 1024 + 17  # far beyond the bridge's 64 KiB each way
    fake = display(send=size)
    ws = open_vnc(hvd)
    assert ws.recv_bytes(len(GREETING)) == GREETING
    # The client reads nothing for a while: hvd stops reading the display and stays responsive.
    time.sleep(0.5)
    started = time.monotonic()
    status, _, _ = hvd.request("GET", "/api/v1/host")
    assert status == 200 and time.monotonic() - started < 2
    got = ws.recv_bytes(size)
    assert got == stream(size)

    sent = stream(2 * 1024 * 1024)
    for i in range(0, len(sent), 30000):
        ws.send(sent[i:i + 30000])
    wait_for(lambda: len(fake.received) >= len(sent), timeout=20, what="the client's bytes")
    assert bytes(fake.received) == sent
    # A fragmented message (continuation frames) reaches the display as its bytes.
    ws.send_frame(0x2, b"frag", fin=False)
    ws.send_frame(0x0, b"mented", fin=True)
    wait_for(lambda: fake.received.endswith(b"fragmented"), timeout=5, what="the fragments")
    ws.close()


def test_viewers_at_once_wait_for_a_busy_display(hvd, display):
    """QEMU listens with a short backlog: viewers that find it full are connected once there
    is room (hvd tries again for 2 s after the upgrade); past that, the session ends with 1013
    (try again later)."""
    slow = display(backlog=1, accept_delay=0.2)
    sessions = [open_vnc(hvd) for _ in range(4)]
    for s in sessions:
        assert s.recv_bytes(len(GREETING)) == GREETING
        s.close()
    slow.close()

    display(backlog=1, accept_delay=60)  # accepts nothing: two connections wait, then it is full
    waiting = [open_vnc(hvd) for _ in range(2)]
    started = time.monotonic()
    late = open_vnc(hvd)
    op, payload = late.recv_frame()
    assert op == 0x8 and close_reason(payload).startswith("1013 "), close_reason(payload)
    assert "takes no more connections" in close_reason(payload)
    assert 1.5 < time.monotonic() - started < 10
    for s in waiting + [late]:
        s.sock.close()


def test_every_end_is_clean(hvd, display):
    fake = display()
    # The display hangs up: the client is told.
    ws = open_vnc(hvd)
    assert ws.recv_bytes(len(GREETING)) == GREETING
    fake.hang_up()
    op, payload = ws.recv_frame()
    assert op == 0x8 and close_reason(payload).startswith("1001"), close_reason(payload)
    ws.sock.close()

    # A frame too large is refused with 1009; an unmasked one with 1002.
    ws = open_vnc(hvd)
    ws.recv_bytes(len(GREETING))
    ws.sock.sendall(bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 20) + b"\0\0\0\0")
    op, payload = ws.recv_frame()
    assert op == 0x8 and close_reason(payload).startswith("1009"), close_reason(payload)
    ws.sock.close()

    # The client goes away in the middle of a frame; then a client never reads the close.
    ws = open_vnc(hvd)
    ws.sock.sendall(bytes([0x82, 0x85, 1, 2, 3]))
    ws.sock.close()
    ws = open_vnc(hvd)
    ws.send_frame(0x1, b"text")  # refused: hvd sends its close, which nobody reads
    # Clients that leave right after asking, before or after the answer went out.
    import base64
    import urllib.parse
    u = urllib.parse.urlparse(hvd.url)
    for _ in range(20):
        raw = socket.create_connection((u.hostname, u.port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall((f"GET /api/v1/domains/tvnc/vnc?access_token={hvd.token} HTTP/1.1\r\n"
                     f"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n").encode())
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
    # Sessions that are gone leave hvd serving.
    wait_for(lambda: hvd.request("GET", "/api/v1/host")[0] == 200, timeout=5, what="hvd")

    # Many sessions at once, then hvd stops under the open ones and tells them.
    sessions = [open_vnc(hvd) for _ in range(8)]
    for s in sessions:
        assert s.recv_bytes(len(GREETING)) == GREETING
    hvd.stop()
    for s in sessions:
        op, payload = s.recv_frame()
        assert op == 0x8 and close_reason(payload) == "1001 hvd is stopping"
        s.sock.close()
    ws.sock.close()


def test_over_tls(make_hvd, workdir):
    """With [http] tls-cert/tls-key the display is a wss:// WebSocket (libmicrohttpd relays the
    upgraded connection's TLS on hvd's loop)."""
    import ssl
    import subprocess
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate here: {p.stderr.strip()}")
    h = make_hvd(config=f"[http]\ntls-cert = {cert}\ntls-key = {key}\n").start()
    make, made = serve_display(h)
    try:
        make(send=300000)
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        ws = open_vnc(h, ssl_context=ctx)
        assert ws.recv_bytes(len(GREETING)) == GREETING
        assert ws.recv_bytes(300000) == stream(300000)
        ws.send(b"over tls")
        wait_for(lambda: made[0].received == b"over tls", timeout=10, what="the bytes")
        ws.close()
    finally:
        for d in made:
            d.close()
