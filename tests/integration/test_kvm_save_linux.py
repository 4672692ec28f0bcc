"""A managed save and restore of a real Linux guest through hvd's kvm driver (QEMU, TCG): after the
restore the guest runs on in the same boot, with what it kept in memory (a file on its tmpfs).
Then, in the same boot, a snapshot of its qcow2 disk and memory: a revert brings back the files
the guest had on its disk and its tmpfs at the snapshot, and drops those written since."""
import os
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
    raw = linux_guest.build_disk(workdir / "lsave.img")
    disk = workdir / "lsave.qcow2"  # a snapshot keeps a qcow2 disk's state too
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk)],
                   check=True, timeout=60)
    raw.unlink()
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

    # a snapshot holds the disk and memory of one moment; a revert brings both back
    shell(hvd, "lsave", "echo one > /m1; echo mem1 > /tmp/t1; sync; echo wrote-$((1+1))",
          "wrote-2")
    p = hvd.hvctl("snapshot", "create", "lsave", "s", timeout=120)
    assert p.returncode == 0, p.stderr + hvd.read_log()
    [snap] = hvd.hvctl_json("snapshot", "list", "lsave")
    assert snap["contents"] == "memory+vcpu+devices+disk", snap
    shell(hvd, "lsave", "echo two > /m2; echo mem2 > /tmp/t2; sync; echo wrote-$((1+2))",
          "wrote-3")
    p = hvd.hvctl("snapshot", "revert", "lsave", "s", timeout=120)
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, "lsave")[0] == "running"
    # dropping the guest's caches makes it read its root directory from the disk again
    out = shell(hvd, "lsave", "echo 3 > /proc/sys/vm/drop_caches; echo id=$(cat "
                "/proc/sys/kernel/random/boot_id) d1=$(cat /m1) t1=$(cat /tmp/t1) "
                "d2=$(cat /m2 2>/dev/null || echo $((0))none) "
                "t2=$(cat /tmp/t2 2>/dev/null || echo $((0))none) end=$((2*3))", "end=6")
    assert f"id={boot_id} d1=one t1=mem1 d2=0none t2=0none end=6" in out, out
    assert len(UP.findall(console(hvd, "lsave"))) == 1, "the guest booted again"
    hvd.hvctl("destroy", "lsave", check=True)
    [(path,)] = hvd.db_query("SELECT path FROM images WHERE name = 's'")
    assert os.path.exists(path + ".disk.qcow2")
    hvd.hvctl("snapshot", "delete", "lsave", "s", check=True)
    assert not os.path.exists(path) and not os.path.exists(path + ".disk.qcow2")
    assert hvd.hvctl_json("snapshot", "list", "lsave") == []
