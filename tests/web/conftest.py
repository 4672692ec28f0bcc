"""Fixtures of the web suite: the integration suite's build tree, scratch directory and private
D-Bus, and an hvd that serves the build tree's dashboard."""
import pathlib
import sys

import pytest

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE_ROOT / "tests" / "integration"))

from fixtures import build, bus, no_sanitizer_report, sanitizer_dir, workdir  # noqa: E402,F401
from hvd_harness import Hvd, outside_address  # noqa: E402


@pytest.fixture
def hvd(build, bus, workdir):
    """hvd with the dashboard of the build tree, kvm on libvirt's test driver; on loopback and,
    where the machine has one, on an address beyond it (hvd.remote_url, else None)."""
    if not (build / "web" / "index.html").exists():
        pytest.fail(f"the dashboard is not in {build}/web: run 'npm ci' in web/ (or "
                    "scripts/install-deps.sh build) and build again")
    addr = outside_address()
    listen = "127.0.0.1:0" + (f",{addr}:0" if addr else "")
    h = Hvd(build, bus, workdir / "hvd", config=f"[http]\nweb-dir = {build}/web\n", http=listen)
    h.start()
    urls = (h.runtime_dir / "http-url").read_text().split()
    h.remote_url = urls[1] if addr else None
    yield h
    h.stop()  # and the minihv guests it started, which outlive hvd by design
