"""The dashboard in a real headless Chromium: runs dashboard.test.mjs (playwright-core) against
a private hvd; screenshots and the page's console log go to tests/artifacts/web/."""
import os
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts" / "web"


def test_dashboard_in_chromium(hvd):
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed (scripts/install-deps.sh check installs it)")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is missing: run 'npm ci' in tests/web "
                    "(scripts/install-deps.sh check does)")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        pytest.fail(f"no Chromium at {chromium} (Debian package chromium; or set CHROMIUM)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    args = [node, str(HERE / "dashboard.test.mjs"), hvd.url, hvd.token, str(ARTIFACTS)]
    if hvd.remote_url:
        args.append(hvd.remote_url)
    else:
        print("the step from beyond loopback is skipped: this machine has no other address")
    p = subprocess.run(args, cwd=HERE, capture_output=True, text=True, timeout=150)
    print(p.stdout)
    print(p.stderr)
    shutil.copy(hvd.log_path, ARTIFACTS / "hvd.log")
    print(f"screenshots, the page's console log and hvd's log are in {ARTIFACTS}")
    assert p.returncode == 0, f"the browser test failed:\n{p.stdout}\n{p.stderr}\n" \
                              f"hvd's log:\n{hvd.read_log()[-4000:]}"
    shots = sorted(f.name for f in ARTIFACTS.glob("*.png"))
    assert len(shots) >= 8 and not any("failure" in s for s in shots), shots
