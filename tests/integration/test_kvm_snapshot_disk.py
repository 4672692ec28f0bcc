"""Snapshots of kvm domains with a qcow2 disk keep the disk too (a copy beside the memory image,
made by a libvirt backup job while the guest is paused): listed as such, sized with the copy,
removed with the snapshot; a raw disk stays referenced; a copy that cannot be made leaves no half
snapshot and the guest running; hvd killed with -9 during such a snapshot leaves none either.
On a real libvirtd with QEMU (TCG) and the test guest; test_kvm_snapshot_disk_linux.py shows a
revert bringing a Linux guest's files back."""
import os
import subprocess
import threading
import time

import pytest

from hvd_harness import wait_for
from kvm_fixtures import (console, create, kvm_hvd, libvirt_cache, libvirtd,  # noqa: F401
                          state, wait_console)

HELLO = "hello mode="
COPY = ".disk.qcow2"


def images(hvd, name):
    return hvd.db_query("SELECT i.name, i.size_bytes, i.contents, i.path FROM images i "
                        "JOIN domains d ON d.uuid = i.domain_uuid WHERE d.name = ?", name)


def image_files(hvd):
    top = hvd.state_dir / "images"
    return sorted(str(p) for p in top.glob("*/*")) if top.exists() else []


def assert_files_match_rows(hvd, name):
    """Every recorded image has its file (and its disk copy when it holds the disk), and every
    file under images/ belongs to a recorded image."""
    expected = []
    for _, _, contents, path in images(hvd, name):
        expected.append(path)
        if contents.endswith("+disk"):
            expected.append(path + COPY)
    assert image_files(hvd) == sorted(expected)


def qcow2_disk(workdir, name):
    disk = workdir / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "8M"], check=True,
                   timeout=30)
    return disk


def running(hvd, name, mode="pv", *args):
    create(hvd, name, "--mode", mode, *args)
    hvd.hvctl("start", name, check=True)
    wait_console(hvd, name, HELLO)


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_a_snapshot_keeps_a_qcow2_disk_and_delete_removes_it(kvm_hvd, libvirtd, workdir, mode):
    hvd = kvm_hvd
    running(hvd, "q", mode, "--disk", str(qcow2_disk(workdir, "q")))
    p = hvd.hvctl("snapshot", "create", "q", "s1")
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, "q")[0] == "running"
    time.sleep(0.5)  # libvirt's news of the pause for the snapshot, should it come late
    assert state(hvd, "q")[0] == "running"
    events = hvd.db_query("SELECT event FROM events WHERE domain = 'q'")
    assert [e for (e,) in events] == ["created", "state-changed", "state-changed",
                                      "snapshot-created"], events
    [snap] = hvd.hvctl_json("snapshot", "list", "q")
    assert snap["contents"] == "memory+vcpu+devices+disk", snap
    assert snap["disks"] == "copied with the snapshot", snap
    [(_, size, _, path)] = images(hvd, "q")
    copy = path + COPY
    assert os.path.exists(path) and os.path.exists(copy)
    on_disk = sum(os.stat(f).st_blocks * 512 for f in (path, copy))
    assert snap["size_bytes"] == size == on_disk
    assert_files_match_rows(hvd, "q")
    text = hvd.hvctl("snapshot", "list", "q", check=True).stdout
    assert "memory+vcpu+devices+disk" in text, text
    # the copy is a qcow2 image of the disk's size
    info = subprocess.run(["qemu-img", "info", "-U", str(copy)], capture_output=True, text=True,
                          timeout=30).stdout
    assert "file format: qcow2" in info and "8 MiB" in info, info
    # a revert of the running domain restores disk and memory: it runs on without a new boot
    p = hvd.hvctl("snapshot", "revert", "q", "s1")
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, "q")[0] == "running" and console(hvd, "q").count(HELLO) == 1
    # the copy goes back only over the disk it was taken of
    hvd.hvctl("destroy", "q", check=True)
    other = qcow2_disk(workdir, "other")
    hvd.hvctl("set", "q", "--disk", str(other), check=True)
    p = hvd.hvctl("snapshot", "revert", "q", "s1")
    assert p.returncode == 1 and "holds a copy of the disk" in p.stderr, p.stderr
    assert state(hvd, "q")[0] == "shutoff"
    hvd.hvctl("set", "q", "--disk", str(workdir / "q.qcow2"), check=True)
    hvd.hvctl("snapshot", "delete", "q", "s1", check=True)
    assert hvd.hvctl_json("snapshot", "list", "q") == []
    assert not os.path.exists(path) and not os.path.exists(copy) and image_files(hvd) == []
    wait_for(lambda: images(hvd, "q") == [], timeout=5, what="the deletion to be committed")


def test_a_raw_disk_stays_referenced(kvm_hvd, libvirtd, workdir):
    hvd = kvm_hvd
    disk = workdir / "r.img"
    disk.write_bytes(b"\0" * (1 << 20))
    running(hvd, "r", "pv", "--disk", str(disk))
    hvd.hvctl("snapshot", "create", "r", "s", check=True)
    [snap] = hvd.hvctl_json("snapshot", "list", "r")
    assert snap["contents"] == "memory+vcpu+devices", snap
    assert snap["disks"] == "referenced, not copied", snap
    assert_files_match_rows(hvd, "r")
    assert not any(f.endswith(COPY) for f in image_files(hvd))
    hvd.hvctl("destroy", "r", check=True)


def test_a_disk_copy_that_fails_leaves_no_snapshot(kvm_hvd, libvirtd, workdir):
    hvd = kvm_hvd
    running(hvd, "f", "pv", "--disk", str(qcow2_disk(workdir, "f")))
    hvd.hvctl("snapshot", "create", "f", "good", check=True)
    [(_, _, _, good)] = images(hvd, "f")
    # libvirt cannot write the copy where a directory stands
    blocker = os.path.join(os.path.dirname(good), "snapshot-bad.img.tmp" + COPY)
    os.mkdir(blocker)
    try:
        p = hvd.hvctl("snapshot", "create", "f", "bad")
        assert p.returncode == 1, p.stdout
        assert "copying its disk" in p.stderr, p.stderr
    finally:
        os.rmdir(blocker)
    assert state(hvd, "f")[0] == "running"
    assert [r[0] for r in images(hvd, "f")] == ["good"]
    assert [s["name"] for s in hvd.hvctl_json("snapshot", "list", "f")] == ["good"]
    assert_files_match_rows(hvd, "f")
    # the guest runs on: it answers its power button
    hvd.hvctl("stop", "f", check=True)
    wait_console(hvd, "f", "power button pressed")
    wait_for(lambda: state(hvd, "f")[0] == "shutoff", timeout=15, what="f to stop")


@pytest.mark.parametrize("delay", [0.1, 0.4])
def test_kill9_during_a_disk_snapshot_leaves_nothing_half_made(kvm_hvd, libvirtd, workdir,
                                                                delay):
    hvd = kvm_hvd
    running(hvd, "k", "pv", "--disk", str(qcow2_disk(workdir, "k")))
    t = threading.Thread(target=lambda: hvd.hvctl("snapshot", "create", "k", "s"))
    t.start()
    time.sleep(delay)
    hvd.kill9()
    t.join(30)
    time.sleep(1)  # libvirtd finishes what it was asked
    hvd.start()
    wait_for(lambda: state(hvd, "k")[0] != "starting", what="k to settle")
    rows = images(hvd, "k")
    # the snapshot whole (image and disk copy, recorded), or nothing of it
    assert rows == [] or [r[2] for r in rows] == ["memory+vcpu+devices+disk"], rows
    assert_files_match_rows(hvd, "k")
    st = state(hvd, "k")
    assert st[0] in ("running", "paused"), st
    if st[0] == "paused":  # hvd died while the guest was paused for the snapshot
        hvd.hvctl("resume", "k", check=True)
    if rows:
        hvd.hvctl("snapshot", "delete", "k", "s", check=True)
    p = hvd.hvctl("snapshot", "create", "k", "s")
    assert p.returncode == 0, p.stderr + hvd.read_log()
    wait_for(lambda: len(images(hvd, "k")) == 1, timeout=5, what="the snapshot to be committed")
    assert_files_match_rows(hvd, "k")
    hvd.hvctl("destroy", "k", check=True)
