"""The domain page's Save, Snapshot and Clone buttons in a real headless Chromium: runs
saved-state.test.mjs (playwright-core) against a private hvd with a running counter domain."""
import os
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts" / "web-saved-state"


def test_saved_state_buttons(hvd):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("/dev/kvm is not usable here")
    node = shutil.which("node")
    if not node or not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("node and playwright-core are needed: run 'npm ci' in tests/web")
    hvd.hvctl("create", "snapweb", "--driver", "minihv", "--kernel", "counter", "--memory", "16",
              check=True)
    hvd.hvctl("start", "snapweb", check=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([node, str(HERE / "saved-state.test.mjs"), hvd.url, hvd.token, "snapweb",
                        str(ARTIFACTS)], cwd=HERE, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{p.stdout}\n{p.stderr}\nhvd's log:\n{hvd.read_log()[-3000:]}"
    assert "passed" in p.stdout
