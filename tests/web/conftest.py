"""Fixtures of the web suite: a private D-Bus and an hvd that serves the build tree's
dashboard."""
import os
import pathlib
import shutil
import signal
import socket
import sys
import tempfile

import pytest

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE_ROOT / "tests" / "integration"))

from hvd_harness import Bus, Hvd, build_dir  # noqa: E402


@pytest.fixture(scope="session")
def build():
    path = build_dir()
    if not (path / "build.ninja").exists():
        pytest.fail(f"no meson build in {path}: run 'make build' first")
    if not (path / "web" / "index.html").exists():
        pytest.fail(f"the dashboard is not in {path}/web: run 'npm ci' in web/ (or "
                    "scripts/install-deps.sh build) and build again")
    return path


@pytest.fixture
def workdir():
    path = pathlib.Path(tempfile.mkdtemp(prefix="hvd-web-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bus(workdir):
    b = Bus(workdir / "bus")
    b.start()
    yield b
    b.stop()


def stop_domains(h):
    """Domains outlive hvd by design: a test stops those it leaves running (a failed test
    too), then any minihv process of this hvd that is still there."""
    try:
        if h.proc and h.proc.poll() is None:
            for d in h.request("GET", "/api/v1/domains", timeout=10)[2]:
                if d["state"] != "shutoff":
                    h.request("POST", f"/api/v1/domains/{d['name']}/actions/destroy", timeout=10)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    h.stop()
    marker = f"--control\0{h.runtime_dir}/minihv/".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker in f.read():
                    os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def outside_address():
    """An IPv4 address of this machine that is not loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


@pytest.fixture
def hvd(build, bus, workdir):
    """hvd with the dashboard of the build tree, kvm on libvirt's test driver; on loopback and,
    where the machine has one, on an address beyond it (hvd.remote_url, else None)."""
    addr = outside_address()
    listen = "127.0.0.1:0" + (f",{addr}:0" if addr else "")
    h = Hvd(build, bus, workdir / "hvd", config=f"[http]\nweb-dir = {build}/web\n", http=listen)
    h.start()
    urls = (h.runtime_dir / "http-url").read_text().split()
    h.remote_url = urls[1] if addr else None
    yield h
    stop_domains(h)
