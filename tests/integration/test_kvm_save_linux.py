"""A managed save and restore of a real Linux guest through hvd's kvm driver (QEMU, TCG): after the
restore the guest runs on in the same boot, with what it kept in memory (a file on its tmpfs)."""
import re
import subprocess

import pytest

import linux_guest
from clients import PtyProcess
from hvd_harness import wait_for
from kvm_fixtures import console, kvm_hvd, libvirt_cache, libvirtd, state  # noqa: F401

BOOT_TIMEOUT = 90  # a stock kernel under TCG, on a busy machine
UP = re.compile(r"hvd-guest: up .* boot=([0-9a-f-]+)")


@pytest.fixture(autouse=True)
def needs_linux():
    lack = linux_guest.missing()
    if lack:
        pytest.skip(f"the Linux guest needs {', '.join(lack)} (scripts/install-deps.sh check)")


def shell(hvd, name, command, until):
    """Logs in on the serial console, runs command and returns what it printed up to until."""
    term = PtyProcess([str(hvd.hvctl_binary), "console", name], hvd.env())
    assert b"escape character is ^]" in term.read_until(b"escape character is ^]", timeout=10)
    for _ in range(10):
        term.type(b"\r")
        if b"login:" in term.read_until(b"login:", timeout=3):
            break
    else:
        raise AssertionError("no login prompt")
    term.type(b"root\r")
    assert b"hvd-guest# " in term.read_until(b"hvd-guest# ", timeout=15)
    term.type(command.encode() + b"\r")
    out = term.read_until(until.encode(), timeout=20)
    assert until.encode() in out, out
    term.type(b"exit\r")
    term.read_until(b"login:", timeout=10)
    term.type(b"\x1d")
    term.read_until(b"Detached.")
    assert term.wait() == 0
    return out.decode(errors="replace")


def test_linux_guest_resumes_in_the_same_boot(kvm_hvd, libvirtd, workdir):
    hvd = kvm_hvd
    disk = linux_guest.build_disk(workdir / "lsave.img")
    p = subprocess.run([str(hvd.hvctl_binary), "create", "lsave", "--driver", "kvm", "--mode",
                        "pv", "--memory", "384", "--kernel", linux_guest.kernel(),
                        "--initrd", linux_guest.initrd(), "--disk", str(disk),
                        "--cmdline", linux_guest.cmdline("pv")],
                       env=hvd.env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    hvd.hvctl("start", "lsave", check=True, timeout=60)
    wait_for(lambda: UP.search(console(hvd, "lsave")), timeout=BOOT_TIMEOUT, interval=0.2,
             what="the Linux guest to boot")
    boot_id = UP.search(console(hvd, "lsave")).group(1)
    shell(hvd, "lsave", "echo kept-$((6*7)) > /tmp/mark; echo written", "written")

    p = hvd.hvctl("save", "lsave", timeout=120)
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, "lsave") == ("shutoff", "saved")
    p = hvd.hvctl("start", "lsave", timeout=120)
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, "lsave")[0] == "running"

    out = shell(hvd, "lsave", "echo id=$(cat /proc/sys/kernel/random/boot_id) $(cat /tmp/mark)",
                "kept-42")
    assert f"id={boot_id} kept-42" in out, out
    assert len(UP.findall(console(hvd, "lsave"))) == 1, "the guest booted again"
    hvd.hvctl("destroy", "lsave", check=True)
