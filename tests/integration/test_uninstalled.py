"""An hvd run from its build tree without configuration finds the minihv program, the guests
and the dashboard of that tree; a copy elsewhere keeps the installed locations."""
import shutil
import subprocess
import urllib.request

from hvd_harness import NotifySocket, wait_for


def check_config(binary, conf):
    """The effective configuration of binary with an empty configuration file, as key: value."""
    conf.write_text("")
    p = subprocess.run([str(binary), "--config", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return dict(line.split(" = ", 1) for line in p.stdout.splitlines() if " = " in line)


def test_defaults_point_into_the_build_tree(build, tmp_path):
    values = check_config(build / "hvd" / "hvd", tmp_path / "hvd.conf")
    assert values["binary"] == f"{build}/drivers/minihv/vmm/minihv"
    assert values["guest-dir"] == f"{build}/drivers/minihv/guest"
    assert values["web-dir"] == f"{build}/web"
    # the same program outside its build tree: the installed locations
    copy = tmp_path / "hvd"
    shutil.copy(build / "hvd" / "hvd", copy)
    values = check_config(copy, tmp_path / "hvd.conf")
    assert not values["binary"].startswith(str(build)), values["binary"]
    assert values["binary"].endswith("/bin/minihv")
    assert not values["guest-dir"].startswith(str(build))
    assert values["web-dir"].endswith("/share/hvd/web")


def test_uninstalled_hvd_runs_minihv_and_serves_the_dashboard(build, bus, workdir):
    state, run = workdir / "state", workdir / "run"
    notify = NotifySocket(workdir / "notify.sock")
    log = open(workdir / "hvd.log", "w")
    # --http only so that it never collides with another hvd on this machine's default port.
    proc = subprocess.Popen([str(build / "hvd" / "hvd"), "--state-dir", str(state),
                             "--runtime-dir", str(run), "--bus-address", bus.address,
                             "--http", "127.0.0.1:0"],
                            env={"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(notify.path)},
                            stdout=log, stderr=subprocess.STDOUT)

    def hvctl(*args):
        return subprocess.run([str(build / "hvctl" / "hvctl"), "--bus-address", bus.address,
                               *args], capture_output=True, text=True, timeout=60)
    try:
        def ready():
            assert proc.poll() is None, (workdir / "hvd.log").read_text()
            return ("READY", "1") in notify.fields()
        wait_for(ready, timeout=15, what="hvd to be ready")
        host = hvctl("host")
        assert "minihv  available" in host.stdout, host.stdout + host.stderr

        p = hvctl("create", "hi", "--driver", "minihv", "--kernel", "hello", "--memory", "8")
        assert p.returncode == 0, p.stderr
        assert hvctl("start", "hi").returncode == 0
        wait_for(lambda: "Hello from minihv (pv mode)" in hvctl("console", "hi", "--tail",
                                                                  "20").stdout,
                 what="hello's greeting")

        url = (run / "http-url").read_text().split()[0]
        with urllib.request.urlopen(url + "/", timeout=10) as resp:
            assert resp.status == 200
            body = resp.read().decode()
        assert body == (build / "web" / "index.html").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        subprocess.run(["pkill", "-KILL", "-f", f"control {run}/minihv/"], capture_output=True)
        notify.close()
        log.close()
    assert proc.returncode == 0, (workdir / "hvd.log").read_text()
