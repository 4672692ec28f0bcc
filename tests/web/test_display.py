"""A kvm guest's screen in a real headless Chromium: display.test.mjs opens the dashboard's
Display of a domain running under a private libvirtd (QEMU, TCG), and checks that noVNC drew the
guest's screen on the canvas at the size of its framebuffer, with the pixels that a VNC client
reading the same display straight through hvd's WebSocket sees (SeaBIOS's text and the guest's
greeting). Screenshots go to tests/artifacts/web-display/."""
import os
import pathlib
import shutil
import struct
import subprocess
import time

import pytest

from hvd_harness import Hvd
from kvm_fixtures import KVM_CONFIG, create, libvirt_cache, libvirtd, wait_console  # noqa: F401
from ws_client import WebSocket, rfb_handshake

HERE = pathlib.Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts" / "web-display"


def framebuffer(hvd, name):
    """The guest's screen as RGBA bytes, read over hvd's WebSocket as a VNC client would."""
    ws = WebSocket(hvd.url, f"/api/v1/domains/{name}/vnc", token=hvd.token)
    init = rfb_handshake(ws)
    width, height = init["width"], init["height"]
    # 32 bits true colour, little-endian, red in the lowest byte: the bytes are R, G, B, X.
    ws.send(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 0, 8, 16))
    ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
    assert ws.recv_bytes(1) == b"\0"
    ws.recv_bytes(1)
    pixels = bytearray(width * height * 4)
    for _ in range(struct.unpack(">H", ws.recv_bytes(2))[0]):
        x, y, w, h, enc = struct.unpack(">HHHHi", ws.recv_bytes(12))
        assert enc == 0
        data = ws.recv_bytes(w * h * 4)
        for row in range(h):
            start = ((y + row) * width + x) * 4
            pixels[start:start + w * 4] = data[row * w * 4:(row + 1) * w * 4]
    ws.close()
    for i in range(3, len(pixels), 4):
        pixels[i] = 255
    return width, height, bytes(pixels)


def green_pixels(width, pixels):
    """Pixels of the guest's greeting: bright green text from row 12 of the 720x400 text mode
    (16 pixels a row), as tests/guests/hello-multiboot.S writes it."""
    count = 0
    for y in range(12 * 16, 14 * 16):
        row = pixels[y * width * 4:(y + 1) * width * 4]
        count += sum(1 for x in range(0, len(row), 4)
                     if row[x + 1] > 200 and row[x] < 120 and row[x + 2] < 120)
    return count


@pytest.fixture
def display_hvd(build, bus, workdir, libvirtd):
    if not (build / "web" / "vendor" / "novnc" / "core" / "rfb.js").exists():
        pytest.fail(f"noVNC is not in {build}/web: run 'npm ci' in web/ and build again")
    h = Hvd(build, bus, workdir / "hvd",
            config=KVM_CONFIG + f"[http]\nweb-dir = {build}/web\n", kvm_uri=libvirtd.uri)
    h.start()
    yield h
    h.stop()


def test_display_in_chromium(display_hvd):
    hvd = display_hvd
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed (scripts/install-deps.sh check installs it)")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is missing: run 'npm ci' in tests/web")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        pytest.fail(f"no Chromium at {chromium} (Debian package chromium; or set CHROMIUM)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    create(hvd, "web-vga", "--mode", "full")
    hvd.hvctl("start", "web-vga", check=True)
    wait_console(hvd, "web-vga", "hello mode=full")
    time.sleep(1)  # SeaBIOS's last words are on the screen well before the guest greets
    width, height, pixels = framebuffer(hvd, "web-vga")
    assert len(set(pixels[i:i + 4] for i in range(0, len(pixels), 4))) > 1, "blank screen"
    assert green_pixels(width, pixels) > 100, "the guest's greeting is not on its screen"
    (ARTIFACTS / "framebuffer.rgba").write_bytes(pixels)

    args = [node, str(HERE / "display.test.mjs"), hvd.url, hvd.token, "web-vga", str(width),
            str(height), str(ARTIFACTS / "framebuffer.rgba"), str(ARTIFACTS)]
    p = subprocess.run(args, cwd=HERE, capture_output=True, text=True, timeout=120)
    print(p.stdout)
    print(p.stderr)
    shutil.copy(hvd.log_path, ARTIFACTS / "hvd.log")
    assert p.returncode == 0, f"the browser test failed:\n{p.stdout}\n{p.stderr}\n" \
                              f"hvd's log:\n{hvd.read_log()[-4000:]}"
    shots = sorted(f.name for f in ARTIFACTS.glob("*.png"))
    assert "02-display-open.png" in shots and not any("failure" in s for s in shots), shots
