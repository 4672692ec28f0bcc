"""Live migration of kvm domains between two hvds, each with its own private libvirtd (separate
mount and network namespaces; QEMU's stream passes over a unix socket beside the target's
libvirt socket): a running TCG guest moves and keeps its UUID and its console follows it, and a refused
admission or a target libvirtd that is gone leaves the source running."""
import os
import subprocess
import time

import pytest

from hvd_harness import Bus, Hvd, wait_for
from kvm_fixtures import (KVM_CONFIG, create, libvirt_cache, state,  # noqa: F401
                          wait_console, wait_state)
from libvirtd_harness import Libvirtd

HELLO = "hello mode="
BUTTON = "power button pressed"


@pytest.fixture
def pair(build, workdir, libvirt_cache):  # noqa: F811
    """Two hvds, each with its own bus and libvirtd: start(name) gives (hvd, libvirtd)."""
    made = []

    def start(name):
        lv = Libvirtd(workdir / f"libvirt-{name}", libvirt_cache)
        made.append(lv)
        lv.start()
        bus = Bus(workdir / f"bus-{name}")
        made.append(bus)
        bus.start()
        h = Hvd(build, bus, workdir / name, config=KVM_CONFIG, kvm_uri=lv.uri)
        made.append(h)
        h.start()
        return h, lv

    yield start
    for thing in reversed(made):
        thing.stop()


def token_file(hvd, workdir):
    path = workdir / f"token-{hvd.dir.name}"
    path.write_text(hvd.token + "\n")
    return str(path)


def migrate(src, name, dst, workdir):
    return src.hvctl("migrate", name, "--to", dst.url, "--token-file", token_file(dst, workdir),
                     timeout=120)


def running_guest(src, name, *args):
    create(src, name, *args)
    src.hvctl("start", name, check=True)
    wait_console(src, name, HELLO)


def test_running_guest_moves_with_its_uuid(pair, workdir):
    (src, src_lv), (dst, dst_lv) = pair("src"), pair("dst")
    running_guest(src, "mig")
    p = migrate(src, "mig", dst, workdir)
    assert p.returncode == 0, p.stderr + src.read_log() + dst.read_log()
    assert "migrated to" in p.stdout
    assert state(src, "mig") == ("shutoff", "migrated")
    wait_state(dst, "mig", ("running", "migrated"), timeout=30)
    uuid = src.hvctl_json("info", "mig")["uuid"]
    assert dst.hvctl_json("info", "mig")["uuid"] == uuid
    assert "mig" in dst_lv.virsh("list", "--name").stdout.split()
    assert "mig" not in src_lv.virsh("list", "--name").stdout.split()
    # The guest runs on there, without booting again, and its console follows: it answers the
    # power button of a graceful stop on the target.
    dst.hvctl("stop", "mig", check=True)
    text = wait_console(dst, "mig", BUTTON, timeout=30)
    assert HELLO not in text, text
    wait_state(dst, "mig", ("shutoff", "shutdown"))


def test_refused_admission_leaves_the_source_running(pair, workdir):
    (src, _), (dst, _) = pair("src"), pair("dst")
    running_guest(src, "mig")
    # The target has a different domain of that name already.
    create(dst, "mig")
    p = migrate(src, "mig", dst, workdir)
    assert p.returncode != 0
    assert "the target refused it" in p.stderr, p.stderr
    assert state(src, "mig")[0] == "running"


def test_target_libvirtd_gone_leaves_the_source_running(pair, workdir):
    (src, src_lv), (dst, dst_lv) = pair("src"), pair("dst")
    running_guest(src, "mig")
    dst_lv.kill_libvirtd()
    p = migrate(src, "mig", dst, workdir)
    assert p.returncode != 0
    assert state(src, "mig")[0] == "running", p.stderr
    assert "mig" in src_lv.virsh("list", "--name").stdout.split()
    wait_for(lambda: "mig" not in dst.hvctl("list").stdout, timeout=60,
             what="the target to drop what it admitted")


def test_cancel_leaves_the_source_running(pair, workdir):
    (src, src_lv), (dst, dst_lv) = pair("src"), pair("dst")
    running_guest(src, "mig")
    # 1 MiB/s for 64 MiB of guest: long enough to cancel midway.
    proc = subprocess.Popen(
        [str(src.hvctl_binary), "migrate", "mig", "--to", dst.url, "--token-file",
         token_file(dst, workdir), "--bandwidth", "1"], env=src.env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: state(src, "mig")[0] == "migrating", timeout=30, what="migrating")
        src.hvctl("migrate", "mig", "--cancel", check=True)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0
    assert "the migration to" in err and "cancel" in err.lower(), err
    wait_state(src, "mig", ("running", "booted"), timeout=30)
    assert "mig" in src_lv.virsh("list", "--name").stdout.split()
    assert "mig" not in dst_lv.virsh("list", "--name").stdout.split()
    # The target saw the source let go and removed what it admitted (not after its 600 s).
    wait_for(lambda: "mig" not in dst.hvctl("list").stdout, timeout=30,
             what="the target to drop what it admitted")


def event_log(hvd, name, kind):
    status, _, body = hvd.request("GET", f"/api/v1/events/log?domain={name}&limit=1000")
    assert status == 200, body
    rows = body["events"] if isinstance(body, dict) else body
    return [e for e in rows if e.get("event") == kind]


def test_progress_downtime_budget_and_time_limit_abort(pair, workdir):
    (src, src_lv), (dst, dst_lv) = pair("src"), pair("dst")
    # 16 MiB of random bytes loaded into the guest's memory (a Multiboot module), at 1 MiB/s:
    # the migration cannot end within its 4 s limit. Progress comes meanwhile, the budget is
    # libvirt's while it runs, and the limit aborts it.
    module = workdir / "random.bin"
    module.write_bytes(os.urandom(16 << 20))
    running_guest(src, "mig", "--initrd", str(module))
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(src.hvctl_binary), "migrate", "mig", "--to", dst.url, "--token-file",
         token_file(dst, workdir), "--bandwidth", "1", "--downtime-ms", "50", "--timeout", "4"],
        env=src.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = wait_for(lambda: event_log(src, "mig", "migration-progress"), timeout=20,
                         what="the first progress event")
        downtime = src_lv.virsh("migrate-getmaxdowntime", "mig").stdout.strip()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    took = time.monotonic() - t0
    assert proc.returncode != 0
    assert "the time limit of 4 s was reached" in err, err
    assert took < 20, f"the time limit of 4 s took {took:.1f} s to end the migration"
    assert downtime == "50", downtime
    progress = event_log(src, "mig", "migration-progress")
    last = progress[-1]
    # The figures minihv's migrations give, plus libvirt's own data counts.
    assert {"phase", "iteration", "pages_sent", "bytes_sent", "dirty_pages",
            "expected_downtime_ms", "elapsed_ms", "data_remaining_bytes"} <= set(last), last
    assert last["to"] == dst.url and first[0]["phase"] == "precopy", progress
    assert last["bytes_sent"] > 0 and last["data_remaining_bytes"] > 0, last
    # The guest runs on here, and the target let go of what it admitted.
    wait_state(src, "mig", ("running", "booted"), timeout=30)
    assert "mig" in src_lv.virsh("list", "--name").stdout.split()
    assert "mig" not in dst_lv.virsh("list", "--name").stdout.split()
    wait_for(lambda: "mig" not in dst.hvctl("list").stdout, timeout=30,
             what="the target to drop what it admitted")
