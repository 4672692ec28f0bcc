"""minihv saves a running domain into an image and restores it (pv and full mode): the guest goes
on where it was, corrupt, truncated or mismatched images are refused, and clones of one image
share its memory."""
import hashlib
import os
import re
import socket
import struct
import subprocess
import time

import pytest

from minihv_helpers import (MODES, STATUS_HOST_ERROR, STATUS_POWEROFF, ControlClient, Domain,
                            assert_no_sanitizer_report, guest, require_kvm, vmm)

STATUS_SAVED = 6
HEADER = struct.Struct("<8sIIIIII QQQQQQQQQQ")  # up to and including disk_sectors
FORMAT_VERSION_OFFSET = 8
ABI_VERSION_OFFSET = 12
CHECKSUM_OFFSET = 64


@pytest.fixture(autouse=True)
def _kvm():
    require_kvm()


def header(image):
    with open(image, "rb") as f:
        return HEADER.unpack(f.read(HEADER.size))


def mem_offset(image):
    return header(image)[10]


def save_cli(build, dom, image, then=None):
    cmd = [str(vmm(build)), "save", "--control", str(dom.control), str(image)]
    if then:
        cmd[2:2] = ["--then", then]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def save_with_fd(dom, image, then="stop"):
    """The control request itself, with the image's descriptor passed by SCM_RIGHTS."""
    c = dom.client()
    fd = os.open(image, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        line = ('{"cmd":"save","then":"%s"}\n' % then).encode()
        socket.send_fds(c.sock, [line], [fd])
    finally:
        os.close(fd)
    reply = c.read_json()
    while "event" in reply:
        reply = c.read_json()
    return reply


COUNTER = re.compile(r"counter: (\d+) t=(\d+)\n")


def counts(text):
    return [(int(n), int(t)) for n, t in COUNTER.findall(text)]


def saved_counter(build, tmp_path, mode, extra=()):
    """Runs the counter until it printed a few numbers and saves it with then=stop."""
    dom = Domain(build, tmp_path, "counter", mode, extra=("--memory", "16", *extra), tag="a-")
    dom.wait_console("counter: 3 ", timeout=30)
    image = tmp_path / "counter.img"
    r = save_cli(build, dom, image, then="stop")
    assert r.returncode == 0, r.stderr
    assert '"ok":true' in r.stdout
    status, err = dom.wait()
    assert status == STATUS_SAVED, err
    assert err.strip().endswith("minihv: saved to an image")
    return dom, image


@pytest.mark.parametrize("mode", MODES)
def test_counter_continues_after_restore(build, tmp_path, mode):
    first, image = saved_counter(build, tmp_path, mode)
    before = first.console.read_text()
    time.sleep(2)
    dom = Domain(build, tmp_path, None, restore=image, tag="b-", asan=(mode == "pv"))
    try:
        last_n = counts(before)[-1][0]
        dom.wait_console(f"counter: {last_n + 3} ", timeout=30)
        after = dom.console.read_text()
        assert "counter: start" not in after  # not booted again
        seq = counts(before + after)  # a line cut by the save is completed after the restore
        assert [n for n, _ in seq] == list(range(1, len(seq) + 1))
        cut = len(counts(before))
        gap_ms = seq[cut][1] - seq[cut - 1][1]
        if mode == "pv":
            # the guest's monotonic clock continues from the save point
            assert gap_ms < 1000, seq
        else:
            # full mode reads the TSC, which on this KVM is the host's: it tracks wall time
            assert gap_ms >= 2000, seq
        c = dom.client()
        assert c.request({"cmd": "shutdown"})["ok"]
        status, err = dom.wait()
        assert status == STATUS_POWEROFF, err
        assert_no_sanitizer_report(err)
    finally:
        dom.kill()


@pytest.mark.parametrize("mode", MODES)
def test_echo_still_echoes_after_restore(build, tmp_path, mode):
    dom = Domain(build, tmp_path, "echo", mode, tag="a-")
    dom.wait_console("echo: ready", timeout=30)
    c = dom.client()
    assert c.request({"cmd": "console"})["ok"]
    c.send_raw(b"before\n")
    c.read_until(b"before\n", timeout=30)
    image = tmp_path / "echo.img"
    reply = save_with_fd(dom, image)
    assert reply["ok"], reply
    assert reply["state"] == "saved"
    assert dom.wait()[0] == STATUS_SAVED

    dom2 = Domain(build, tmp_path, None, restore=image, tag="b-", asan=True)
    try:
        c2 = dom2.client()
        assert c2.request({"cmd": "console"})["ok"]
        c2.send_raw(b"after restore\n")
        c2.read_until(b"after restore\n", timeout=30)
        c2.send_raw(b"quit\n")
        dom2.wait_console("echo: bye", timeout=30)
        status, err = dom2.wait()
        assert status == STATUS_POWEROFF, err
        assert_no_sanitizer_report(err)
        assert "echo: ready" not in dom2.console.read_text()
    finally:
        dom2.kill()


def expected_sector(s):
    data = bytearray((s * 31 + i * 7) & 0xFF for i in range(512))
    text = f"minihv-blk sector {s}\n".encode()
    data[: len(text)] = text
    return bytes(data)


@pytest.mark.parametrize("mode", MODES)
def test_blk_disk_is_referenced_and_intact_after_restore(build, tmp_path, mode):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (64 * 512))
    dom = Domain(build, tmp_path, "blk", mode, tag="a-",
                 extra=("--disk", disk, "--cmdline", "sectors=16 hold"))
    dom.wait_console("blk: OK", timeout=60)
    image = tmp_path / "blk.img"
    r = save_cli(build, dom, image, then="stop")
    assert r.returncode == 0, r.stderr
    assert dom.wait()[0] == STATUS_SAVED
    # the image names the disk and does not hold it
    assert str(disk).encode() in image.read_bytes()[:8192]
    assert header(image)[16] == 64  # disk_sectors

    dom2 = Domain(build, tmp_path, None, restore=image, tag="b-")
    try:
        assert dom2.client().request({"cmd": "shutdown"})["ok"]
        dom2.wait_console("blk: OK: verified again after the hold", timeout=60)
        status, err = dom2.wait()
        assert status == STATUS_POWEROFF, err
    finally:
        dom2.kill()
    data = disk.read_bytes()
    for s in range(16):
        assert data[s * 512:(s + 1) * 512] == expected_sector(s)


def test_a_disk_of_another_size_is_refused(build, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (64 * 512))
    dom = Domain(build, tmp_path, "blk", "pv", tag="a-",
                 extra=("--disk", disk, "--cmdline", "sectors=16 hold"))
    dom.wait_console("blk: OK", timeout=60)
    before = disk.read_bytes()
    r = save_cli(build, dom, disk, then="stop")
    assert r.returncode == STATUS_HOST_ERROR and "the target is the domain's disk" in r.stderr
    assert disk.read_bytes() == before
    image = tmp_path / "blk.img"
    assert save_cli(build, dom, image, then="stop").returncode == 0
    dom.wait()
    other = tmp_path / "other.img"
    other.write_bytes(b"\0" * (32 * 512))
    r = restore(build, image, "--disk", other)
    assert r.returncode == STATUS_HOST_ERROR
    assert "has 32 sectors, the saved domain's had 64" in r.stderr


def test_a_vcpu_the_guest_never_started_is_restored_idle(build, tmp_path):
    first, image = saved_counter(build, tmp_path, "pv", extra=("--vcpus", "2"))
    assert header(image)[5] == 2
    r = restore(build, image, "--vcpus", "1")
    assert r.returncode == STATUS_HOST_ERROR and "the image holds 2 vCPUs, not 1" in r.stderr
    dom = Domain(build, tmp_path, None, restore=image, tag="b-", extra=("--vcpus", "2"))
    try:
        last = counts(first.console.read_text())[-1][0]
        dom.wait_console(f"counter: {last + 2} ", timeout=30)
        assert dom.client().request({"cmd": "stats"})["ok"]
        assert dom.client().request({"cmd": "destroy"})["ok"]
        dom.wait()
    finally:
        dom.kill()


def test_save_then_resume_keeps_the_domain_running(build, tmp_path):
    dom = Domain(build, tmp_path, "counter", "pv", extra=("--memory", "16"))
    try:
        dom.wait_console("counter: 2 ", timeout=30)
        image = tmp_path / "live.img"
        r = save_cli(build, dom, image, then="resume")
        assert r.returncode == 0, r.stderr
        n = counts(dom.console.read_text())[-1][0]
        dom.wait_console(f"counter: {n + 2} ", timeout=30)
        c = dom.client()
        assert c.request({"cmd": "info"})["state"] == "running"
        # a paused domain saved without "then" stays paused
        assert c.request({"cmd": "pause"})["ok"]
        r = save_cli(build, dom, tmp_path / "paused.img")
        assert r.returncode == 0, r.stderr
        assert c.request({"cmd": "info"})["state"] == "paused"
        assert c.request({"cmd": "destroy"})["ok"]
        dom.wait()
    finally:
        dom.kill()


def test_save_requests_that_cannot_be_served_are_refused(build, tmp_path):
    dom = Domain(build, tmp_path, "counter", "pv", extra=("--memory", "16"))
    try:
        c = dom.client()
        r = c.request({"cmd": "save"})
        assert not r["ok"] and "file descriptor" in r["error"]
        r = c.request({"cmd": "save", "then": "later"})
        assert not r["ok"] and '"then" must be' in r["error"]
        r = c.request({"cmd": "save", "path": "/tmp/x"})
        assert not r["ok"] and 'unknown field "path"' in r["error"]
        # a descriptor that is no regular file
        rd, wr = os.pipe()
        socket.send_fds(c.sock, [b'{"cmd":"save"}\n'], [wr])
        os.close(rd)
        os.close(wr)
        r = c.read_json()
        assert not r["ok"] and "not a regular file" in r["error"]
        for name, flags in (("ro.img", os.O_RDONLY), ("append.img", os.O_WRONLY | os.O_APPEND)):
            path = tmp_path / name
            path.write_bytes(b"keep")
            fd = os.open(path, flags)
            socket.send_fds(c.sock, [b'{"cmd":"save"}\n'], [fd])
            os.close(fd)
            r = c.read_json()
            assert not r["ok"] and "open read-only or for appending" in r["error"], r
            assert path.read_bytes() == b"keep"
        assert c.request({"cmd": "info"})["state"] == "running"
        assert c.request({"cmd": "destroy"})["ok"]
        dom.wait()
    finally:
        dom.kill()


def test_a_restored_domain_never_saves_over_its_own_image(build, tmp_path):
    _, image = saved_counter(build, tmp_path, "pv")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    dom = Domain(build, tmp_path, None, restore=image, tag="b-")
    try:
        r = save_cli(build, dom, image, then="stop")
        assert r.returncode == STATUS_HOST_ERROR
        assert "the image this domain runs from" in r.stderr
        assert hashlib.sha256(image.read_bytes()).hexdigest() == digest
        # and a second generation saved elsewhere restores too
        again = tmp_path / "again.img"
        assert save_cli(build, dom, again, then="stop").returncode == 0
        assert dom.wait()[0] == STATUS_SAVED
    finally:
        dom.kill()
    dom3 = Domain(build, tmp_path, None, restore=again, tag="c-")
    try:
        dom3.wait_console("counter: ", timeout=30)
        assert dom3.client().request({"cmd": "destroy"})["ok"]
        dom3.wait()
    finally:
        dom3.kill()


def restore(build, image, *extra, console=None):
    cmd = [str(vmm(build)), "run", *map(str, extra), "--restore", str(image)]
    if console:
        cmd[2:2] = ["--console", str(console)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def patched(tmp_path, image, name, offset, data, fix_checksum=False):
    out = tmp_path / name
    blob = bytearray(image.read_bytes())
    blob[offset:offset + len(data)] = data
    if fix_checksum:
        h = header(image)
        state_end = h[8] + h[9]
        blob[CHECKSUM_OFFSET:CHECKSUM_OFFSET + 8] = b"\0" * 8
        s = 0xCBF29CE484222325
        for b in bytes(blob[:state_end]):
            s = ((s ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        blob[CHECKSUM_OFFSET:CHECKSUM_OFFSET + 8] = struct.pack("<Q", s)
    out.write_bytes(bytes(blob))
    return out


def test_corrupt_truncated_and_mismatched_images_are_refused(build, tmp_path):
    _, image = saved_counter(build, tmp_path, "pv")
    state_offset = header(image)[8]
    size = image.stat().st_size
    trunc = tmp_path / "truncated.img"
    trunc.write_bytes(image.read_bytes()[:mem_offset(image) + 4096])
    short = tmp_path / "short.img"
    short.write_bytes(image.read_bytes()[:100])
    cases = [
        (patched(tmp_path, image, "magic.img", 0, b"NOTMINIH"), "bad magic"),
        (patched(tmp_path, image, "state.img", state_offset + 40, b"\xff\xfe"),
         "checksum mismatch"),
        (patched(tmp_path, image, "version.img", FORMAT_VERSION_OFFSET, struct.pack("<I", 9)),
         "image format version 9, this minihv reads version 1"),
        (patched(tmp_path, image, "abi.img", ABI_VERSION_OFFSET, struct.pack("<I", 1)),
         "saved with guest ABI 1"),
        (trunc, f"truncated: the file has {mem_offset(image) + 4096} bytes, the image needs "
                f"{size}"),
        (short, "truncated: shorter than the 4096-byte header"),
        # a consistent header whose state sections do not fit its settings
        (patched(tmp_path, image, "mode.img", 20, struct.pack("<I", 1), fix_checksum=True),
         "does not fit the settings"),
    ]
    for bad, message in cases:
        console = tmp_path / f"{bad.name}.console"
        r = restore(build, bad, console=console)
        assert r.returncode == STATUS_HOST_ERROR, (bad, r.stderr)
        assert f"minihv: cannot restore {bad}: " in r.stderr, r.stderr
        assert message in r.stderr, (bad, r.stderr)
        assert not console.exists()  # refused before anything was set up
    mismatches = [
        (("--memory", "32"), "the image holds 16 MiB of memory, not 32"),
        (("--mode", "full"), "the image is of a pv-mode domain, not full"),
        (("--vcpus", "2"), "the image holds 1 vCPUs, not 2"),
        (("--disk", image), "the saved domain had no disk"),
    ]
    for extra, message in mismatches:
        r = restore(build, image, *extra)
        assert r.returncode == STATUS_HOST_ERROR, r.stderr
        assert message in r.stderr, r.stderr
    r = restore(build, tmp_path / "missing.img")
    assert r.returncode == STATUS_HOST_ERROR
    assert "cannot open: No such file or directory" in r.stderr
    r = subprocess.run([str(vmm(build)), "run", "--restore", str(image),
                        str(guest(build, "counter", "pv"))], capture_output=True, text=True)
    assert r.returncode == 2 and "no GUEST image with a saved one" in r.stderr


def smaps_of_image(pid, image):
    """Rss, Pss and Private_Dirty (KiB) of the mapping of image in process pid."""
    fields, inside = {}, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = line.rstrip().endswith(str(image))
            elif inside and line.split(":")[0] in ("Rss", "Pss", "Private_Dirty"):
                key = line.split(":")[0]
                fields[key] = fields.get(key, 0) + int(line.split()[1])
    return fields


def test_twenty_clones_share_the_image_pages(build, tmp_path):
    _, image = saved_counter(build, tmp_path, "pv", extra=("--cmdline", "fill period_ms=100"))
    clones = []
    try:
        for i in range(20):
            clones.append(Domain(build, tmp_path, None, restore=image, tag=f"clone{i}-"))
        for d in clones:
            d.wait_console("counter: 8 ", timeout=60)  # each on its own console
        time.sleep(0.5)
        mem_kib = 16 * 1024
        for d in clones:
            m = smaps_of_image(d.proc.pid, image)
            # the 8 MiB the guest filled before the save are mapped in every clone (it reads them)
            assert m["Rss"] >= 8 * 1024, m
            # ... but shared: written pages (stack, data, page tables) stay under 10 %
            assert m["Private_Dirty"] <= mem_kib // 10, m
            assert m["Pss"] <= m["Rss"] // 4, m
        total_pss = sum(smaps_of_image(d.proc.pid, image)["Pss"] for d in clones)
        print(f"20 clones: guest memory PSS {total_pss} KiB in all, "
              f"{total_pss / 20:.0f} KiB each (guest memory {mem_kib} KiB)")
        assert total_pss < 3 * 8 * 1024
        for d in clones:
            text = d.console.read_text()
            assert "counter: start" not in text
        for d in clones:
            assert d.client().request({"cmd": "destroy"})["ok"]
        for d in clones:
            d.wait()
    finally:
        for d in clones:
            d.kill()


@pytest.mark.parametrize("mode", MODES)
def test_dirty_log_counts_the_pages_the_guest_writes(build, tmp_path, mode):
    dom = Domain(build, tmp_path, "counter", mode,
                 extra=("--memory", "16", "--cmdline", "dirty period_ms=50"))
    try:
        dom.wait_console("counter: 2 ", timeout=30)
        c = dom.client()
        r = c.request({"cmd": "dirty"})
        assert r == {"ok": True, "started": True, "dirty_pages": 0, "pages": 4096}
        dom.wait_console("counter: 6 ", timeout=30)
        r = c.request({"cmd": "dirty"})
        # every tick writes the 2048 pages of the guest's 8 MiB buffer again
        assert 2048 <= r["dirty_pages"] <= 4096, r
        assert not r["started"]
        assert c.request({"cmd": "pause"})["ok"]
        c.request({"cmd": "dirty"})  # what was written before the pause
        time.sleep(0.3)
        assert c.request({"cmd": "dirty"})["dirty_pages"] == 0  # a paused guest writes nothing
        assert c.request({"cmd": "resume"})["ok"]
        time.sleep(0.3)
        assert c.request({"cmd": "dirty"})["dirty_pages"] >= 2048
        assert c.request({"cmd": "destroy"})["ok"]
        dom.wait()
    finally:
        dom.kill()
