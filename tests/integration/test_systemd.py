"""The systemd units and D-Bus files install with meson and pass systemd-analyze verify."""
import os
import shutil
import subprocess

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
    for rel in ["lib/systemd/system/hvd.service", "share/dbus-1/system.d/org.hvd1.conf",
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
