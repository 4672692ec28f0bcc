"""Fixtures of the web suite: a private D-Bus and an hvd that serves the build tree's
dashboard."""
import os
import pathlib
import shutil
import signal
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


@pytest.fixture
def hvd(build, bus, workdir):
    """hvd on loopback with the dashboard of the build tree, kvm on libvirt's test driver."""
    h = Hvd(build, bus, workdir / "hvd", config=f"[http]\nweb-dir = {build}/web\n")
    h.start()
    yield h
    stop_domains(h)
