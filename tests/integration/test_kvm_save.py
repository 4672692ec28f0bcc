"""Saved state of kvm domains on a real libvirtd with QEMU (TCG): a managed save and the start that
resumes it (the guest does not boot again), start --fresh, a snapshot round trip, restores
refused for corrupt, truncated or mismatched images with nothing changed, and hvd killed with -9
during a save."""
import hashlib
import json
import os
import subprocess
import threading
import time

import pytest

from hvd_harness import wait_for
from kvm_fixtures import (console, create, kvm_hvd, libvirt_cache, libvirtd,  # noqa: F401
                          state, wait_console, wait_state)

HELLO = "hello mode="
BUTTON = "power button pressed"


def images(hvd, name=None):
    rows = hvd.db_query("SELECT d.name, i.kind, i.name, i.size_bytes, i.contents, i.path "
                        "FROM images i LEFT JOIN domains d ON d.uuid = i.domain_uuid")
    return [r for r in rows if name is None or r[0] == name]


def image_files(hvd):
    top = hvd.state_dir / "images"
    return sorted(str(p) for p in top.glob("*/*")) if top.exists() else []


def assert_files_match_rows(hvd):
    """Every recorded image has its file, and every file under images/ is recorded."""
    assert image_files(hvd) == sorted(r[5] for r in images(hvd))


def libvirt_domains(libvirtd):
    return libvirtd.virsh("list", "--all", "--name").stdout.split()


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def booted(hvd, name):
    return console(hvd, name).count(HELLO)


def saved(hvd, libvirtd, name, mode="pv", *args):
    """A domain that booted once and was saved; returns its image's path."""
    create(hvd, name, "--mode", mode, *args)
    hvd.hvctl("start", name, check=True)
    wait_console(hvd, name, HELLO)
    p = hvd.hvctl("save", name)
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, name) == ("shutoff", "saved")
    assert name not in libvirt_domains(libvirtd)
    [(_, kind, _, size, _, path)] = images(hvd, name)
    assert kind == "managed-save" and size > 0 and os.path.exists(path)
    return path


def assert_continues(hvd, name):
    """The guest runs on from where it was: it did not boot again, and it still answers its
    power button (a graceful stop)."""
    assert state(hvd, name)[0] == "running"
    assert booted(hvd, name) == 1, console(hvd, name)
    hvd.hvctl("stop", name, check=True)
    wait_console(hvd, name, BUTTON)
    wait_state(hvd, name, ("shutoff", "shutdown"))
    assert booted(hvd, name) == 1
    # libvirt's news of the saved instance (paused, then gone) was not taken for a new run
    assert "started outside hvd" not in hvd.read_log()


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_save_and_start_resume_the_guest(kvm_hvd, libvirtd, workdir, mode):
    hvd = kvm_hvd
    # with a disk (vda in pv mode, hda in full mode), which the save leaves alone
    disk = workdir / "s.img"
    disk.write_bytes(b"\0" * (1 << 20))
    saved(hvd, libvirtd, "s", mode, "--disk", str(disk))
    assert list(workdir.glob("s.img*")) == [disk]  # no disk snapshot beside it
    assert_files_match_rows(hvd)
    p = hvd.hvctl("start", "s")
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert images(hvd, "s") == [] and image_files(hvd) == []
    assert_continues(hvd, "s")


def test_start_fresh_boots_anew(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    saved(hvd, libvirtd, "f")
    hvd.hvctl("start", "f", "--fresh", check=True)
    assert state(hvd, "f") == ("running", "booted")
    wait_console(hvd, "f", HELLO, count=2)
    assert images(hvd, "f") == [] and image_files(hvd) == []
    hvd.hvctl("destroy", "f", check=True)


def test_snapshot_create_list_revert_delete(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    create(hvd, "n")
    hvd.hvctl("start", "n", check=True)
    wait_console(hvd, "n", HELLO)
    p = hvd.hvctl("snapshot", "create", "n", "base")
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, "n")[0] == "running"
    time.sleep(0.5)  # libvirt's news of the pause for the snapshot, should it come late
    assert state(hvd, "n")[0] == "running"
    events = hvd.db_query("SELECT event, detail FROM events WHERE domain = 'n'")
    assert [e for e, _ in events] == ["created", "state-changed", "state-changed",
                                      "snapshot-created"], events
    [snap] = hvd.hvctl_json("snapshot", "list", "n")
    assert snap["name"] == "base" and snap["size_bytes"] > 0
    assert snap["disks"] == "referenced, not copied"
    # a snapshot of a paused domain leaves it paused
    hvd.hvctl("pause", "n", check=True)
    hvd.hvctl("snapshot", "create", "n", "paused", check=True)
    assert state(hvd, "n") == ("paused", "user")
    # revert: the running instance goes, the snapshot's runs (the guest does not boot again)
    p = hvd.hvctl("snapshot", "revert", "n", "base")
    assert p.returncode == 0, p.stderr + hvd.read_log()
    assert state(hvd, "n")[0] == "running" and booted(hvd, "n") == 1
    assert len(images(hvd, "n")) == 2  # a revert keeps the snapshot
    hvd.hvctl("snapshot", "delete", "n", "paused", check=True)
    assert [s["name"] for s in hvd.hvctl_json("snapshot", "list", "n")] == ["base"]
    assert_files_match_rows(hvd)
    assert_continues(hvd, "n")
    # from shut off, a revert starts the domain from the snapshot
    hvd.hvctl("snapshot", "revert", "n", "base", check=True)
    assert state(hvd, "n")[0] == "running" and booted(hvd, "n") == 1
    hvd.hvctl("destroy", "n", check=True)
    hvd.hvctl("snapshot", "delete", "n", "base", check=True)
    assert images(hvd) == [] and image_files(hvd) == []


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "mismatched"])
def test_a_bad_image_is_refused_and_nothing_changes(kvm_hvd, libvirtd, damage):
    hvd = kvm_hvd
    path = saved(hvd, libvirtd, "b")
    if damage == "corrupt":
        with open(path, "r+b") as f:  # libvirt's header: its magic and version
            f.write(b"\xff" * 24)
    elif damage == "truncated":
        os.truncate(path, os.path.getsize(path) // 2)
    else:
        hvd.hvctl("set", "b", "--memory", "32", check=True)
    digest = sha(path)
    p = hvd.hvctl("start", "b")
    assert p.returncode == 1, p.stdout
    assert "cannot restore 'b'" in p.stderr, p.stderr
    if damage == "mismatched":
        assert "64 MiB of memory" in p.stderr and "the domain has 32 MiB" in p.stderr, p.stderr
    else:
        assert "corrupt or truncated" in p.stderr, p.stderr
    assert state(hvd, "b") == ("shutoff", "saved")
    assert sha(path) == digest and len(images(hvd, "b")) == 1
    assert "b" not in libvirt_domains(libvirtd)
    assert hvd.hvctl_json("info", "b").get("pid", 0) == 0
    if damage == "mismatched":
        hvd.hvctl("set", "b", "--memory", "64", check=True)
        hvd.hvctl("start", "b", check=True)
        assert_continues(hvd, "b")
    else:
        hvd.hvctl("start", "b", "--fresh", check=True)
        wait_console(hvd, "b", HELLO, count=2)
        hvd.hvctl("destroy", "b", check=True)
    assert image_files(hvd) == []


def kill9_during(hvd, verb, delay):
    """Runs hvctl VERB k, kills hvd with -9 after delay seconds and starts it again."""
    t = threading.Thread(target=lambda: hvd.hvctl(verb, "k"))
    t.start()
    time.sleep(delay)
    hvd.kill9()
    t.join(30)
    time.sleep(1)  # libvirtd finishes what it was asked
    hvd.start()
    wait_for(lambda: state(hvd, "k")[0] != "starting", what="k to settle")


# A save of the 64 MiB test guest takes about 0.2 s here: before, during and after it.
@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3])
def test_kill9_during_a_save_and_a_restore_leaves_nothing_half_made(kvm_hvd, libvirtd, delay):
    hvd = kvm_hvd
    create(hvd, "k")
    hvd.hvctl("start", "k", check=True)
    wait_console(hvd, "k", HELLO)
    # the domain as it was (running, or paused as the save left it), or saved with its image;
    # no file without its row, no row without its file
    kill9_during(hvd, "save", delay)
    st = state(hvd, "k")
    assert st[0] in ("running", "paused") or st == ("shutoff", "saved"), st
    assert_files_match_rows(hvd)
    if st[0] == "paused":
        hvd.hvctl("resume", "k", check=True)
    if st[0] != "shutoff":
        hvd.hvctl("save", "k", check=True)
    assert state(hvd, "k") == ("shutoff", "saved") and len(images(hvd, "k")) == 1
    assert_files_match_rows(hvd)
    # during the restore: running (the image consumed), or still saved with its image intact
    path = images(hvd, "k")[0][5]
    digest = sha(path)
    kill9_during(hvd, "start", delay)
    st = state(hvd, "k")
    assert st[0] == "running" or st == ("shutoff", "saved"), st
    assert_files_match_rows(hvd)
    if st[0] == "running":
        assert images(hvd, "k") == []
    else:
        assert sha(path) == digest
        hvd.hvctl("start", "k", check=True)
    assert_continues(hvd, "k")
    assert libvirt_domains(libvirtd) == []


def qemu_img_info(path):
    p = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_clone_gets_a_qcow2_overlay_and_boots(kvm_hvd, libvirtd, workdir, fmt):
    hvd = kvm_hvd
    disk = workdir / f"orig.{'qcow2' if fmt == 'qcow2' else 'img'}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(disk), "4M"], check=True,
                   timeout=30)
    before = sha(disk)
    create(hvd, "o", "--disk", str(disk))
    # not while it runs (its disk becomes the clones' backing file), nor from a snapshot
    hvd.hvctl("start", "o", check=True)
    p = hvd.hvctl("clone", "o", "c")
    assert p.returncode == 1 and "clone it once it is shut off" in p.stderr, p.stderr
    hvd.hvctl("snapshot", "create", "o", "s", check=True)
    p = hvd.hvctl("clone", "o", "c", "--snapshot", "s")
    assert p.returncode == 1 and "cannot start clones from a snapshot" in p.stderr, p.stderr
    hvd.hvctl("destroy", "o", check=True)
    assert [d["name"] for d in hvd.hvctl_json("list", "--all")] == ["o"]

    p = hvd.hvctl("clone", "o", "c", "--count", "2")
    assert p.returncode == 0, p.stderr + hvd.read_log()
    orig = hvd.hvctl_json("info", "o")
    for name in ("c-1", "c-2"):
        info = hvd.hvctl_json("info", name)
        assert info["uuid"] != orig["uuid"] and info["state"] == "shutoff"
        overlay = info["disk"]
        assert overlay == str(hvd.state_dir / "disks" / f"{info['uuid']}.qcow2")
        meta = qemu_img_info(overlay)
        assert meta["format"] == "qcow2" and meta["backing-filename"] == str(disk)
        assert meta["backing-filename-format"] == fmt
    hvd.hvctl("start", "c-1", check=True)
    wait_console(hvd, "c-1", HELLO)
    xml = libvirtd.domain_xml("c-1")
    src = xml.find("devices/disk/source").get("file")
    assert src == hvd.hvctl_json("info", "c-1")["disk"]
    assert xml.find("devices/disk/driver").get("type") == "qcow2"
    hvd.hvctl("destroy", "c-1", check=True)
    assert sha(disk) == before  # the original is the clones' backing file, never written

    # over HTTP the same: the answer comes once the overlay is made and the clone defined
    status, _, body = hvd.request("POST", "/api/v1/domains/o/clone", {"name": "h"})
    assert status in (200, 201), body
    assert body["clones"] == ["h"], body
    assert qemu_img_info(hvd.hvctl_json("info", "h")["disk"])["backing-filename"] == str(disk)
    status, _, body = hvd.request("POST", "/api/v1/domains/o/clone",
                                  {"name": "h2", "snapshot": "s"})
    assert status == 400 and "cannot start clones from a snapshot" in body["detail"], body
    # a clone's disk goes with it; a clone of a clone is refused
    p = hvd.hvctl("clone", "c-2", "cc")
    assert p.returncode == 1 and "clone its original instead" in p.stderr, p.stderr
    overlay = hvd.hvctl_json("info", "c-2")["disk"]
    hvd.hvctl("delete", "c-2", check=True)
    assert not os.path.exists(overlay)
    # a disk no domain names (an hvd that died before defining its clone) goes at start-up
    stray = hvd.state_dir / "disks" / "stray.qcow2"
    stray.write_bytes(b"")
    hvd.restart()
    assert not stray.exists()
    assert os.path.exists(hvd.hvctl_json("info", "c-1")["disk"])
