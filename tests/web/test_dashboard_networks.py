"""The dashboard's Networks view and a domain's network panel in a real headless Chromium: hvd
runs in a network namespace of the test's own (its bridge and the guest's tap live there) and
so do node and Chromium, which reach hvd on that namespace's loopback and the guest on the
bridge. Screenshots and the page's console go to tests/artifacts/web-networks/."""
import os
import pathlib
import shutil
import subprocess

import pytest

from minihv_helpers import require_kvm
from net_helpers import Netns, require_net
from netns_hvd import NetnsHvd

HERE = pathlib.Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts" / "web-networks"


def test_networks_view_in_chromium(build, bus, workdir):
    require_net()
    require_kvm()
    node = shutil.which("node")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not node or not (HERE / "node_modules" / "playwright-core").is_dir() or \
            not os.access(chromium, os.X_OK):
        pytest.fail("node, playwright-core (npm ci in tests/web) and chromium are needed "
                    "(scripts/install-deps.sh check)")
    if not shutil.which("nft"):
        pytest.skip("nft (nftables) is not installed")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    ns = Netns()
    h = NetnsHvd(build, bus, workdir / "hvd", ns, config=f"[http]\nweb-dir = {build}/web\n",
                 http="127.0.0.1:0")
    try:
        h.start()
        p = subprocess.run(ns.cmd([node, HERE / "networks.test.mjs", h.url, h.token, ARTIFACTS]),
                           cwd=HERE, capture_output=True, text=True, timeout=150)
        print(p.stdout)
        print(p.stderr)
        shutil.copy(h.log_path, ARTIFACTS / "hvd.log")
        assert p.returncode == 0, f"the browser test failed:\n{p.stdout}\n{p.stderr}\n" \
                                  f"hvd's log:\n{h.read_log()[-4000:]}"
        assert h.hvctl_json("network", "list") == []
    finally:
        h.stop()
        ns.close()
