"""The graphical console of kvm domains through hvd, on a real libvirtd with QEMU (TCG): a
WebSocket on hvd's HTTP listener relays the domain's VNC display (a unix socket QEMU serves),
and a VNC client's first steps (RFB version, security None, ServerInit, a framebuffer update)
work through it. Requests that cannot have the display are refused with clear errors."""
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

from kvm_fixtures import (KVM_CONFIG, create, kvm_hvd, libvirt_cache, libvirtd,  # noqa: F401
                          libvirtd_nobody, wait_console, wait_state)
from hvd_harness import wait_for
from ws_client import HandshakeRefused, WebSocket, close_reason, rfb_handshake

# The sizes of QEMU's standard VGA before a guest driver changes the mode: text mode (SeaBIOS,
# a Multiboot guest's screen) or the 640x480 graphics mode.
VGA_SIZES = {(720, 400), (640, 480)}


def vnc_path(name):
    return f"/api/v1/domains/{name}/vnc"


def open_vnc(hvd, name, **kw):
    kw.setdefault("token", hvd.token)
    return WebSocket(hvd.url, vnc_path(name), **kw)


def refused(hvd, name, **kw):
    with pytest.raises(HandshakeRefused) as info:
        open_vnc(hvd, name, **kw)
    return info.value


def full_update(ws, width, height, bytes_per_pixel):
    """Asks for the whole screen (raw encoding, the default) and returns its pixels."""
    ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
    for _ in range(50):
        msg = ws.recv_bytes(1)[0]
        if msg == 0:
            break
        assert msg in (2, 3), f"unexpected RFB server message {msg}"  # bell, cut text
        if msg == 3:
            ws.recv_bytes(3)
            ws.recv_bytes(struct.unpack(">I", ws.recv_bytes(4))[0])
    ws.recv_bytes(1)
    rects = struct.unpack(">H", ws.recv_bytes(2))[0]
    pixels = b""
    for _ in range(rects):
        x, y, w, h, enc = struct.unpack(">HHHHi", ws.recv_bytes(12))
        assert enc == 0, f"encoding {enc} (only raw was offered)"
        pixels += ws.recv_bytes(w * h * bytes_per_pixel)
    return pixels


def test_vnc_over_websocket(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    create(hvd, "kvnc", "--mode", "full")
    hvd.hvctl("start", "kvnc", check=True)
    wait_console(hvd, "kvnc", "hello mode=full")

    # libvirt was given a VNC display on a unix socket under hvd's runtime directory, no TCP.
    xml = libvirtd.virsh("dumpxml", "kvnc").stdout
    assert "<graphics type='vnc' socket='" in xml and str(hvd.runtime_dir / "vnc") in xml, xml
    assert "port=" not in xml.split("<graphics", 1)[1].split("</graphics>", 1)[0]

    ws = open_vnc(hvd, "kvnc")
    assert ws.headers.get("sec-websocket-protocol") == "binary"
    init = rfb_handshake(ws)
    assert init["version"].startswith("RFB 003.008")
    assert (init["width"], init["height"]) in VGA_SIZES, init
    assert init["name"] == "QEMU (kvnc)", init
    assert init["bits_per_pixel"] == 32, init

    # A whole screen (over a MiB raw) comes through the bounded buffers, and is not blank:
    # SeaBIOS's text is on it.
    pixels = full_update(ws, init["width"], init["height"], 4)
    assert len(pixels) == init["width"] * init["height"] * 4
    assert len({pixels[i:i + 4] for i in range(0, len(pixels), 4)}) > 1, "the screen is blank"

    # A ping is answered; hvd's loop serves others while a client is slow to read.
    ws.send_frame(0x9, b"are you there")
    ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, init["width"], init["height"]))
    started = time.monotonic()
    status, _, _ = hvd.request("GET", "/api/v1/host")
    assert status == 200 and time.monotonic() - started < 5
    for _ in range(100):
        op, payload = ws.recv_frame()
        if op == 0xA:
            assert payload == b"are you there"
            break
    else:
        raise AssertionError("no pong")
    ws.close()

    # The Authorization header works as well as ?access_token=.
    ws = open_vnc(hvd, "kvnc", token=None, headers={"Authorization": f"Bearer {hvd.token}"})
    assert rfb_handshake(ws)["name"] == "QEMU (kvnc)"

    # hvd is killed and started again: the running domain's display is where it was.
    ws.sock.close()
    hvd.proc.kill()
    hvd.proc.wait()
    hvd.start()
    ws = open_vnc(hvd, "kvnc")
    assert rfb_handshake(ws)["name"] == "QEMU (kvnc)"

    # The domain stops under a session: the client is told with a close frame.
    hvd.hvctl("destroy", "kvnc", check=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        op, payload = ws.recv_frame()
        if op == 0x8:
            assert close_reason(payload).startswith("1001"), close_reason(payload)
            break
    else:
        raise AssertionError("no close frame after the domain stopped")
    ws.sock.close()

    # Shut off: no display to connect to.
    e = refused(hvd, "kvnc")
    assert e.status == 409 and "shutoff" in e.body and "start it first" in e.body, e.body


def test_vnc_refusals(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    create(hvd, "kvref", "--mode", "pv")
    hvd.hvctl("start", "kvref", check=True)
    wait_console(hvd, "kvref", "hello mode=pv")

    # No token, or a wrong one: 401, from loopback too (keyboard and mouse are changes).
    e = refused(hvd, "kvref", token=None)
    assert e.status == 401 and "access_token" in e.body, e.body
    e = refused(hvd, "kvref", token="0" * 64)
    assert e.status == 401 and "not valid" in e.body, e.body

    # A plain GET is told to upgrade.
    status, headers, body = hvd.request("GET", vnc_path("kvref"))
    assert status == 426 and headers.get("Upgrade") == "websocket", (status, headers)
    assert "WebSocket" in body["detail"], body
    # A subprotocol other than binary (noVNC's old base64) is refused.
    e = refused(hvd, "kvref", protocol="base64")
    assert e.status == 400 and "binary" in e.body, e.body

    # An unknown domain.
    e = refused(hvd, "nosuch")
    assert e.status == 404 and "nosuch" in e.body, e.body

    # A minihv domain has text consoles only.
    hvd.hvctl("create", "mecho", "--driver", "minihv", "--kernel", "echo", "--memory", "2",
              check=True)
    e = refused(hvd, "mecho")
    assert e.status == 409 and "no graphical console" in e.body, e.body

    # Frames a client must not send end the session with the right close code.
    ws = open_vnc(hvd, "kvref")
    ws.recv_bytes(12)
    ws.send_frame(0x2, b"RFB 003.008\n", mask=False)
    op, payload = ws.recv_frame()
    assert op == 0x8 and close_reason(payload).startswith("1002"), (op, payload)
    ws.sock.close()

    ws = open_vnc(hvd, "kvref")
    ws.send_frame(0x1, b"text")
    while True:
        op, payload = ws.recv_frame()
        if op == 0x8:
            assert close_reason(payload).startswith("1003"), close_reason(payload)
            break
    ws.sock.close()

    # The domain still has its display for well-behaved clients.
    ws = open_vnc(hvd, "kvref")
    assert rfb_handshake(ws)["name"] == "QEMU (kvref)"

    # hvd stops cleanly under an open session, and tells its client why the display went.
    hvd.stop()
    op, payload = ws.recv_frame()
    assert op == 0x8 and close_reason(payload) == "1001 hvd is stopping", (op, payload)
    ws.sock.close()


def test_vnc_session_outlives_idle_timeout(libvirtd, make_hvd):
    """A viewer looking at a still screen sends nothing for long: the upgraded connection is the
    bridge's, and HTTP's idle and request deadlines do not end it."""
    hvd = make_hvd(config=KVM_CONFIG + "[http]\nidle-timeout = 1\nrequest-timeout = 1\n",
                   kvm_uri=libvirtd.uri).start()
    create(hvd, "kidle", "--mode", "full")
    hvd.hvctl("start", "kidle", check=True)
    wait_console(hvd, "kidle", "hello mode=full")
    ws = open_vnc(hvd, "kidle")
    version = ws.recv_bytes(12)
    time.sleep(4)
    ws.send(version)
    n = ws.recv_bytes(1)[0]
    assert 1 in ws.recv_bytes(n)
    ws.close()


class RawRfb:
    """A VNC viewer's TCP connection, with the calls rfb_handshake makes."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)

    def recv_bytes(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def send(self, data):
        self.sock.sendall(data)


def test_hvctl_vnc(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    token_file = str(hvd.state_dir / "http-token")
    http = ["--url", hvd.url, "--token-file", token_file]
    create(hvd, "kview", "--mode", "full")

    # Off: nothing to show yet.
    p = hvd.hvctl(*http, "vnc", "kview")
    assert p.returncode == 1 and "start it first" in p.stderr, p.stderr
    hvd.hvctl("start", "kview", check=True)
    wait_console(hvd, "kview", "hello mode=full")

    p = hvd.hvctl(*http, "vnc", "kview", check=True)
    assert f"{hvd.url}/#/domains/kview" in p.stdout, p.stdout
    assert f"ws://{hvd.url[7:]}/api/v1/domains/kview/vnc" in p.stdout, p.stdout
    assert "hvctl vnc kview --listen" in p.stdout
    info = hvd.hvctl_json(*http, "vnc", "kview")
    assert info["websocket"].endswith("/api/v1/domains/kview/vnc") and info["protocol"] == "vnc"
    # Over D-Bus too, with the HTTP address given.
    p = hvd.hvctl("--url", hvd.url, "vnc", "kview", check=True)
    assert "/#/domains/kview" in p.stdout

    # A minihv domain has no display; --listen stays on loopback.
    hvd.hvctl("create", "mview", "--driver", "minihv", "--kernel", "echo", "--memory", "2",
              check=True)
    p = hvd.hvctl(*http, "vnc", "mview")
    assert p.returncode == 1 and "no graphical console" in p.stderr, p.stderr
    p = hvd.hvctl(*http, "vnc", "kview", "--listen", "0.0.0.0:5999")
    assert p.returncode == 2 and "loopback only" in p.stderr, p.stderr
    p = hvd.hvctl("--url", hvd.url, "--token-file", "/nonexistent", "vnc", "kview",
                  "--listen", "0")
    assert p.returncode == 1 and "token" in p.stderr, p.stderr

    # --listen: a desktop VNC viewer's TCP connection reaches the display through hvd.
    relay = subprocess.Popen([str(hvd.hvctl_binary), *http, "vnc", "kview", "--listen", "0"],
                             env=hvd.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        line = relay.stdout.readline()
        m = re.match(r"Listening on 127\.0\.0\.1:(\d+) ", line)
        assert m, line + relay.stderr.read()
        port = int(m.group(1))
        for _ in range(2):  # one viewer after another
            viewer = RawRfb(port)
            init = rfb_handshake(viewer)
            assert init["name"] == "QEMU (kview)" and (init["width"], init["height"]) in VGA_SIZES
            pixels = full_update(viewer, init["width"], init["height"], 4)
            assert len(pixels) == init["width"] * init["height"] * 4
            viewer.sock.close()
    finally:
        relay.send_signal(signal.SIGINT)
        assert relay.wait(timeout=10) == 0, relay.stderr.read()


def test_vnc_with_qemu_as_another_user(libvirtd_nobody, make_hvd):
    """libvirt runs QEMU as nobody: the domain's socket directory is given to that user, and
    where that user cannot reach it the domain runs without a display, which says why."""
    hvd = make_hvd(config=KVM_CONFIG, kvm_uri=libvirtd_nobody.uri).start()
    wait_for(lambda: hvd.hvctl_json("host")["drivers"]["kvm"]["available"], timeout=60,
             what="the kvm driver")
    create(hvd, "knobody", "--mode", "full")
    hvd.hvctl("start", "knobody", check=True)
    wait_console(hvd, "knobody", "hello mode=full")
    ws = open_vnc(hvd, "knobody")
    assert rfb_handshake(ws)["name"] == "QEMU (knobody)"
    ws.close()
    hvd.hvctl("destroy", "knobody", check=True)

    mode = hvd.runtime_dir.stat().st_mode & 0o777
    hvd.runtime_dir.chmod(0o700)
    try:
        hvd.hvctl("start", "knobody", check=True)
        wait_console(hvd, "knobody", "hello mode=full", count=2)
        e = refused(hvd, "knobody")
        assert e.status == 409 and "uid 65534, which cannot reach" in e.body, e.body
        hvd.hvctl("destroy", "knobody", check=True)
    finally:
        hvd.runtime_dir.chmod(mode)
