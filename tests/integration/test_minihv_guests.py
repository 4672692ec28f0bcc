"""minihv runs every guest in both modes with the documented console output and exit status."""
import calendar
import re
import struct
import time

import pytest

from minihv_helpers import (MODES, STATUS_CRASH, STATUS_HOST_ERROR, STATUS_POWEROFF,
                            STATUS_REBOOT, Domain, guest, last_line, require_kvm, run)


@pytest.fixture(autouse=True)
def _kvm():
    require_kvm()


@pytest.mark.parametrize("mode", MODES)
def test_hello_prints_greeting_and_powers_off(build, mode):
    r = run(build, guest(build, "hello", mode), "--mode", mode)
    assert r.returncode == STATUS_POWEROFF, r.stderr
    assert f"Hello from minihv ({mode} mode)" in r.stdout
    assert last_line(r.stderr) == "minihv: guest powered off"


@pytest.mark.parametrize("mode", MODES)
def test_clock_prints_the_host_time(build, mode):
    before = int(time.time())
    r = run(build, guest(build, "clock", mode), "--mode", mode)
    after = int(time.time())
    assert r.returncode == STATUS_POWEROFF, r.stderr
    m = re.search(r"clock: (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC \((\w+) mode\)", r.stdout)
    assert m, r.stdout
    assert m.group(7) == mode
    shown = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    assert before - 2 <= shown <= after + 2
    unix = int(re.search(r"unix time (\d+)", r.stdout).group(1))
    assert unix == shown


def expected_sector(s):
    data = bytearray((s * 31 + i * 7) & 0xFF for i in range(512))
    text = f"minihv-blk sector {s}\n".encode()
    data[: len(text)] = text
    return bytes(data)


@pytest.mark.parametrize("mode", MODES)
def test_blk_writes_a_pattern_the_host_can_read(build, tmp_path, mode):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    r = run(build, guest(build, "blk", mode), "--mode", mode, "--disk", disk,
            "--cmdline", "sectors=40 start=100")
    assert r.returncode == STATUS_POWEROFF, r.stdout + r.stderr
    assert "blk: OK: 40 sectors written, read back and verified" in r.stdout
    image = disk.read_bytes()
    for s in range(100, 140):
        assert image[s * 512:(s + 1) * 512] == expected_sector(s), f"sector {s}"
    assert image[:100 * 512] == b"\0" * (100 * 512)
    assert image[140 * 512:] == b"\0" * (len(image) - 140 * 512)


@pytest.mark.parametrize("mode", MODES)
def test_blk_without_a_disk_fails_as_a_crash(build, mode):
    r = run(build, guest(build, "blk", mode), "--mode", mode)
    assert r.returncode == STATUS_CRASH
    assert "blk: FAIL: no disk" in r.stdout
    assert "guest crashed" in last_line(r.stderr)


@pytest.mark.parametrize("mode", MODES)
def test_echo_echoes_until_quit(build, tmp_path, mode):
    d = Domain(build, tmp_path, "echo", mode)
    try:
        c = d.client()
        assert c.request({"cmd": "console"})["ok"]
        c.send_raw(b"ping 123\n")
        c.read_until(b"ping 123\n")
        c.send_raw(b"quit\n")
        c.read_until(b"echo: bye")
        status, err = d.wait()
    finally:
        d.kill()
    assert status == STATUS_POWEROFF, err
    text = d.console.read_text()
    assert f"echo: ready ({mode} mode)" in text
    assert "ping 123\n" in text and "echo: bye" in text


@pytest.mark.parametrize("mode", MODES)
def test_guest_reboot_request_exits_with_reboot_status(build, tmp_path, mode):
    d = Domain(build, tmp_path, "echo", mode)
    try:
        c = d.client()
        c.request({"cmd": "console"})
        c.send_raw(b"reboot\n")
        status, err = d.wait()
    finally:
        d.kill()
    assert status == STATUS_REBOOT
    assert last_line(err) == "minihv: guest asked for a reboot"


@pytest.mark.parametrize("mode", MODES)
def test_guest_panic_exits_with_crash_status(build, tmp_path, mode):
    d = Domain(build, tmp_path, "echo", mode)
    try:
        c = d.client()
        c.request({"cmd": "console"})
        c.send_raw(b"crash\n")
        status, err = d.wait()
    finally:
        d.kill()
    assert status == STATUS_CRASH
    if mode == "pv":
        assert last_line(err) == "minihv: guest crashed: guest reported: panic: echo: crash requested"
    else:  # an unmodified guest's panic: message on the UART, then a triple fault
        assert "panic: echo: crash requested" in d.console.read_text()
        assert last_line(err).startswith("minihv: guest crashed: triple fault at rip=0x")


def test_smp_guest_starts_its_other_vcpus(build):
    r = run(build, guest(build, "smp", "pv"), "--vcpus", "2")
    assert r.returncode == STATUS_POWEROFF, r.stderr
    assert "smp: 2 cpu(s) computed 500000500000 (pv mode)" in r.stdout


def test_smp_guest_in_full_mode_uses_its_one_cpu(build):
    r = run(build, guest(build, "smp", "full"), "--mode", "full")
    assert r.returncode == STATUS_POWEROFF, r.stderr
    assert "smp: 1 cpu(s) computed 500500 (full mode)" in r.stdout


@pytest.mark.parametrize("mode", MODES)
def test_bench_guest_reports_every_workload(build, tmp_path, mode):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    r = run(build, guest(build, "bench", mode), "--mode", mode, "--disk", disk, "--cmdline",
            "console=300 blkwrite=16 blkread=16 clock=5 cpu=1000")
    assert r.returncode == STATUS_POWEROFF, r.stderr
    for name, ops in (("console", 300), ("blkwrite", 16), ("blkread", 16), ("clock", 5),
                      ("cpu", 1000)):
        assert re.search(rf"bench: {name} ops={ops} cycles=\d+ result=[0-9a-f]+\n", r.stdout), name
    assert "bench: done" in r.stdout


@pytest.mark.parametrize("mode", MODES)
def test_image_for_the_other_mode_is_refused(build, mode):
    other = "full" if mode == "pv" else "pv"
    r = run(build, guest(build, "hello", other), "--mode", mode)
    assert r.returncode == STATUS_HOST_ERROR
    line = last_line(r.stderr)
    assert line.startswith("minihv: bad guest image ")
    assert ("no minihv ABI note" in line) if mode == "pv" else ("no Multiboot header" in line)


@pytest.mark.parametrize("mode", MODES)
def test_garbage_and_missing_images_are_host_errors(build, tmp_path, mode):
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"\x7fELF" + b"\xff" * 200)
    r = run(build, junk, "--mode", mode)
    assert r.returncode == STATUS_HOST_ERROR
    assert "bad guest image" in r.stderr
    r = run(build, tmp_path / "missing.elf", "--mode", mode)
    assert r.returncode == STATUS_HOST_ERROR
    assert "cannot open guest image" in r.stderr


def test_segment_beyond_the_file_is_refused(build, tmp_path):
    data = bytearray(guest(build, "hello", "pv").read_bytes())
    phoff, = struct.unpack_from("<Q", data, 0x20)
    # first program header is the text PT_LOAD: claim far more bytes than the file has
    struct.pack_into("<QQ", data, phoff + 0x20, 0x7FFFFFF, 0x7FFFFFF)
    bad = tmp_path / "bad.elf"
    bad.write_bytes(bytes(data))
    r = run(build, bad)
    assert r.returncode == STATUS_HOST_ERROR
    assert "segment lies outside the file" in r.stderr


def test_guest_too_big_for_memory_is_refused(build, tmp_path):
    r = run(build, guest(build, "hello", "pv"), "--memory", "2")
    assert r.returncode == STATUS_POWEROFF, r.stderr  # 2 MiB still holds hello
    data = bytearray(guest(build, "hello", "pv").read_bytes())
    phoff, = struct.unpack_from("<Q", data, 0x20)
    # second program header is the data PT_LOAD: give it a 4 MiB bss
    struct.pack_into("<Q", data, phoff + 56 + 0x28, 4 << 20)
    big = tmp_path / "big.elf"
    big.write_bytes(bytes(data))
    r = run(build, big, "--memory", "2")
    assert r.returncode == STATUS_HOST_ERROR
    assert "does not fit in guest memory" in r.stderr
    r = run(build, big, "--memory", "8")
    assert r.returncode == STATUS_POWEROFF, r.stderr
