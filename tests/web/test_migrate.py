"""The domain page's Migrate action in a real headless Chromium: runs migrate.test.mjs
(playwright-core) against a private source hvd with a running counter domain and a second hvd on
loopback as the target. A slow migration shows its progress live and is cancelled (the domain
runs on at the source); a second one, with the token from a file, arrives on the target."""
import os
import pathlib
import shutil
import subprocess

import pytest

from hvd_harness import Bus, Hvd, wait_for

HERE = pathlib.Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts" / "web-migrate"
# 8 MiB of pages the guest writes again at every tick: at 4 MiB/s a pass takes seconds.
SLOW = "period_ms=20 fill dirty_pages=64"


@pytest.fixture
def target(build, workdir):
    """A second hvd, on its own bus, that the domain migrates to."""
    bus = Bus(workdir / "bus-target")
    bus.start()
    h = Hvd(build, bus, workdir / "target")
    try:
        h.start()
        yield h
    finally:
        try:
            h.stop()
        finally:
            bus.stop()


def info(hvd, name):
    status, _, body = hvd.request("GET", f"/api/v1/domains/{name}")
    return body if status == 200 else None


def test_migrate_button_shows_progress_cancels_and_moves(hvd, target, workdir):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("/dev/kvm is not usable here")
    node = shutil.which("node")
    if not node or not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("node and playwright-core are needed: run 'npm ci' in tests/web")
    hvd.hvctl("create", "migweb", "--driver", "minihv", "--kernel", "counter", "--memory", "16",
              "--cmdline", SLOW, check=True)
    hvd.hvctl("start", "migweb", check=True)
    token_file = workdir / "target-token"
    token_file.write_text(target.token + "\n")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([node, str(HERE / "migrate.test.mjs"), hvd.url, hvd.token, "migweb",
                        target.url, target.token, str(token_file), str(ARTIFACTS)],
                       cwd=HERE, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (f"{p.stdout}\n{p.stderr}\nsource's log:\n{hvd.read_log()[-3000:]}"
                               f"\ntarget's log:\n{target.read_log()[-2000:]}")
    assert "passed" in p.stdout
    # What the page said, as both hosts record it.
    src, dst = info(hvd, "migweb"), wait_for(lambda: info(target, "migweb"), timeout=10,
                                              what="the domain on the target")
    assert (src["state"], src["reason"]) == ("shutoff", "migrated")
    assert (dst["state"], dst["reason"]) == ("running", "migrated")
    assert src["uuid"] == dst["uuid"]
