"""The systemd units and D-Bus files install with meson and pass systemd-analyze verify."""
import os
import shutil
import subprocess
import time

import pytest


@pytest.fixture(scope="module")
def installed(build, tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    subprocess.run(["meson", "install", "-C", str(build), "--destdir", str(dest), "--quiet"],
                   check=True, capture_output=True)
    prefix = subprocess.run(["meson", "introspect", "--buildoptions", str(build)],
                            capture_output=True, text=True, check=True).stdout
    import json
    opts = {o["name"]: o["value"] for o in json.loads(prefix)}
    return dest, dest / opts["prefix"].lstrip("/"), opts


def test_installed_files(installed):
    dest, root, opts = installed
    for rel in ["lib/systemd/system/hvd.service", "lib/systemd/system/hvd.socket",
                "share/dbus-1/system.d/org.hvd1.conf",
                "share/dbus-1/system-services/org.hvd1.service", "lib/sysusers.d/hvd.conf",
                "lib/tmpfiles.d/hvd.conf", "share/dbus-1/interfaces/org.hvd1.xml",
                "share/man/man8/hvd.8", "share/man/man1/hvctl.1", "lib/hvd/hvd-kvm.so",
                "lib/hvd/guests/hello-pv.elf", "lib/hvd/guests/echo-full.elf"]:
        assert (root / rel).exists(), rel
    assert (root / opts["sbindir"] / "hvd").exists()
    assert (root / opts["bindir"] / "hvctl").exists()


def test_unit_verifies(installed, tmp_path):
    dest, root, opts = installed
    unit = (root / "lib/systemd/system/hvd.service").read_text()
    assert "Type=notify" in unit and "KillMode=process" in unit and "WatchdogSec=" in unit
    assert "Restart=on-failure" in unit
    # systemd-analyze checks that ExecStart exists: point it at the staged binary.
    staged = unit.replace(f"ExecStart={opts['prefix']}/{opts['sbindir']}/hvd",
                          f"ExecStart={root}/{opts['sbindir']}/hvd")
    assert staged != unit
    (tmp_path / "hvd.service").write_text(staged)
    env = dict(os.environ, MANPATH=str(root / "share/man"))
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "hvd.service")],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout + p.stderr


def test_dbus_policy_is_well_formed(installed):
    import xml.etree.ElementTree as ET
    dest, root, opts = installed
    policy = ET.parse(root / "share/dbus-1/system.d/org.hvd1.conf").getroot()
    owners = [p for p in policy.iter("allow") if p.get("own") == "org.hvd1"]
    assert owners, "nobody may own org.hvd1"


def test_socket_unit_verifies(installed, tmp_path):
    dest, root, opts = installed
    for name in ("hvd.service", "hvd.socket"):
        text = (root / "lib/systemd/system" / name).read_text()
        text = text.replace(f"ExecStart={opts['prefix']}/{opts['sbindir']}/hvd",
                            f"ExecStart={root}/{opts['sbindir']}/hvd")
        (tmp_path / name).write_text(text)
    env = dict(os.environ, MANPATH=str(root / "share/man"))
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "hvd.socket")],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_socket_activation(make_hvd, tmp_path):
    """hvd serves the listening socket systemd passes (LISTEN_FDS), not its own setting."""
    if not shutil.which("systemd-socket-activate"):
        pytest.skip("systemd-socket-activate is not installed")
    import socket as s
    probe = s.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    h = make_hvd(http="none")
    cmd = h.command

    def activated():
        # The tool passes on only what it is told to (as systemd would set these).
        return ["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                "-E", "DBUS_SYSTEM_BUS_ADDRESS", "-E", "NOTIFY_SOCKET", *cmd()]

    h.command = activated
    h.start(wait=False)
    # Like systemd, the tool starts hvd when the first client connects: that client is served.
    # (The tool itself needs a moment to bind the port, which systemd holds from boot.)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    deadline = time.monotonic() + 10
    while True:
        try:
            conn.connect()
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    conn.request("GET", "/api/v1/host")
    assert conn.getresponse().status == 200
    h.wait_ready()
    assert (h.runtime_dir / "http-url").read_text().split()[0] == f"http://127.0.0.1:{port}"
    assert h.request("GET", "/api/v1/host")[0] == 200
