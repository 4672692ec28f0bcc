"""The dashboard's Cluster view in a real headless Chromium: two hvd hosts on a one-member etcd on
loopback; the browser script asks for etcd to stop (a file in the artifacts directory) to see the
page report the cluster unavailable. Screenshots and the page's console go to
tests/artifacts/web-cluster/."""
import os
import pathlib
import shutil
import subprocess
import time

import pytest

from cluster_helpers import ClusterHost, EtcdCluster
from minihv_helpers import require_kvm

HERE = pathlib.Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts" / "web-cluster"


def test_cluster_view_in_chromium(build, workdir):
    require_kvm()
    node = shutil.which("node")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not node or not (HERE / "node_modules" / "playwright-core").is_dir() or \
            not os.access(chromium, os.X_OK):
        pytest.fail("node, playwright-core (npm ci in tests/web) and chromium are needed "
                    "(scripts/install-deps.sh check)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    etcd = EtcdCluster(workdir / "etcd", n=1).start()
    web = f"[http]\nweb-dir = {build}/web\n"
    hosts = [ClusterHost(build, workdir / name, name, etcd.endpoints, extra=web)
             for name in ("a", "b")]
    try:
        for h in hosts:
            h.start()
        proc = subprocess.Popen([node, HERE / "cluster.test.mjs", hosts[0].url, hosts[0].token,
                                 ARTIFACTS], cwd=HERE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if (ARTIFACTS / "STOP").exists() and etcd.members[0].proc.poll() is None:
                etcd.stop()
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
        print(out)
        assert proc.returncode == 0, f"the browser test failed:\n{out}\n" \
                                     f"hvd's log:\n{hosts[0].read_log()[-3000:]}"
    finally:
        for h in hosts:
            h.shutdown()
        etcd.stop()
