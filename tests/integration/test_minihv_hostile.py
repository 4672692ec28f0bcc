"""Hostile guests attack the VMM; it survives every one with its documented result, under
AddressSanitizer and UBSan (the minihv-asan test build)."""
import json
import re

import pytest

from minihv_helpers import (STATUS_CRASH, STATUS_POWEROFF, assert_no_sanitizer_report, guest,
                            last_line, require_kvm, run)


@pytest.fixture(autouse=True)
def _kvm():
    require_kvm()


def hostile(build, tmp_path, mode, scenario, *extra, disk=False, vcpus=1):
    args = ["--mode", mode, "--cmdline", scenario, "--stats-file", tmp_path / "stats.json"]
    if disk:
        image = tmp_path / "disk.img"
        image.write_bytes(b"\0" * (1 << 20))
        args += ["--disk", image]
    if vcpus > 1:
        args += ["--vcpus", vcpus]
    r = run(build, guest(build, "hostile", mode), *args, *extra, asan=True, timeout=120)
    assert_no_sanitizer_report(r.stderr)
    stats = json.loads((tmp_path / "stats.json").read_text())
    return r, stats


def survived(r, scenario):
    assert " BAD" not in r.stdout, r.stdout
    assert f"hostile: {scenario} survived" in r.stdout, r.stdout + r.stderr
    assert r.returncode == STATUS_POWEROFF, r.stderr
    assert last_line(r.stderr) == "minihv: guest powered off"


# pv scenarios answered with error codes: (scenario, needs a disk, vCPUs, bad requests >=)
PV_ERROR_CODE_SCENARIOS = [
    ("bad-addresses", False, 1, 14),
    ("huge-lengths", False, 1, 3),
    ("unknown-hypercalls", False, 1, 6),
    ("ring-malformed", True, 1, 15),
    ("vcpu-up", False, 2, 5),
]


@pytest.mark.parametrize("scenario,disk,vcpus,bad", PV_ERROR_CODE_SCENARIOS)
def test_pv_malformed_requests_get_error_codes(build, tmp_path, scenario, disk, vcpus, bad):
    r, stats = hostile(build, tmp_path, "pv", scenario, disk=disk, vcpus=vcpus)
    survived(r, scenario)
    assert stats["bad_requests"]["guest"] >= bad


@pytest.mark.parametrize("vcpus", [1, 2])
def test_pv_racing_ring(build, tmp_path, vcpus):
    r, stats = hostile(build, tmp_path, "pv", "ring-race", disk=True, vcpus=vcpus)
    survived(r, "ring-race")
    assert stats["devices"]["hypercall:block"] >= 1500


def test_pv_io_flood_is_counted(build, tmp_path):
    r, stats = hostile(build, tmp_path, "pv", "io-flood", disk=True)
    survived(r, "io-flood")
    dev = stats["devices"]
    # each write is counted once, whether it went through the ioeventfd or exited
    assert dev["block-doorbell"] + dev["block-doorbell-eventfd"] == 20000
    assert dev["block-doorbell-eventfd"] > 0  # the doorbell is an ioeventfd on this host
    assert dev["hypercall:console"] >= 3000
    assert dev["hypercall:invalid"] >= 3000


def test_full_io_flood_is_counted(build, tmp_path):
    r, stats = hostile(build, tmp_path, "full", "io-flood")
    survived(r, "io-flood")
    assert stats["devices"]["unassigned-port"] == 3000
    assert stats["devices"]["uart"] >= 3000


@pytest.mark.parametrize("scenario,message", [
    ("triple-fault", r"guest crashed: #GP \(general protection\), vector 13, at rip=0x1"),
    ("privileged", r"guest crashed: #GP \(general protection\), vector 13, at rip=0x1"),
    ("vmm-memory", r"guest crashed: #PF \(page fault\) at rip=0x1[0-9a-f]+ cr2=0x4000 error=0x7"),
    ("mmio", r"guest crashed: #PF \(page fault\) at rip=0x1[0-9a-f]+ cr2=0x20000000"),
    ("internal-error", r"guest crashed: #BP \(breakpoint\), vector 3"),
    ("crash-unreadable", r"guest crashed: crash report \(message unreadable\)$"),
])
def test_pv_faults_end_as_crashes(build, tmp_path, scenario, message):
    r, stats = hostile(build, tmp_path, "pv", scenario)
    assert r.returncode == STATUS_CRASH, r.stderr
    assert re.search(message, last_line(r.stderr)), r.stderr
    if scenario != "crash-unreadable":
        assert stats["devices"]["exception"] == 1


def test_pv_crash_report_is_sanitized_and_truncated(build, tmp_path):
    r, _ = hostile(build, tmp_path, "pv", "crash-report")
    assert r.returncode == STATUS_CRASH
    line = last_line(r.stderr)
    assert line.startswith("minihv: guest crashed: guest reported: panic: evil??[2J?klmnop")
    reported = line.split("guest reported: ", 1)[1]
    assert len(reported) == 255 and all(0x20 <= ord(ch) < 0x7F for ch in reported)


@pytest.mark.parametrize("scenario,message", [
    ("triple-fault", r"guest crashed: triple fault at rip=0x1"),
    ("internal-error", r"guest crashed: KVM internal error \(instruction not emulated, "
                       r"suberror 1\) at rip=0x1[0-9a-f]+, instruction bytes cc"),
])
def test_full_faults_end_as_crashes(build, tmp_path, scenario, message):
    r, stats = hostile(build, tmp_path, "full", scenario)
    assert r.returncode == STATUS_CRASH, r.stderr
    assert re.search(message, last_line(r.stderr)), r.stderr


@pytest.mark.parametrize("scenario,disk", [
    ("ata-abuse", True),
    ("uart-abuse", False),
    ("rtc-abuse", False),
    ("privileged", False),
    ("vmm-memory", False),
])
def test_full_device_abuse_is_survived(build, tmp_path, scenario, disk):
    r, _ = hostile(build, tmp_path, "full", scenario, disk=disk)
    survived(r, scenario)


def test_full_mode_hypercall_has_no_effect(build, tmp_path):
    r, stats = hostile(build, tmp_path, "full", "hypercall")
    survived(r, "hypercall")
    assert "hello via hypercall" not in r.stdout
    assert "hostile: hypercall returned no status (no such device)" in r.stdout
    assert stats["devices"]["unassigned-port"] == 1


def test_full_mode_hypercall_with_strict_crashes(build, tmp_path):
    r, _ = hostile(build, tmp_path, "full", "hypercall", "--strict")
    assert r.returncode == STATUS_CRASH
    assert last_line(r.stderr) == ("minihv: guest crashed: --strict: write of 4 byte(s) at port "
                                   "0x701, which has no device")


def test_pv_hypercall_works(build, tmp_path):
    r, _ = hostile(build, tmp_path, "pv", "hypercall")
    survived(r, "hypercall")
    assert "hostile: hello via hypercall" in r.stdout


def test_full_unassigned_mmio_reads_all_ones(build, tmp_path):
    r, stats = hostile(build, tmp_path, "full", "mmio")
    survived(r, "mmio")
    assert stats["devices"]["unassigned-mmio"] == 2
    assert stats["exits"]["mmio"] == 2


def test_full_unassigned_mmio_with_strict_crashes(build, tmp_path):
    r, _ = hostile(build, tmp_path, "full", "mmio", "--strict")
    assert r.returncode == STATUS_CRASH
    assert last_line(r.stderr) == ("minihv: guest crashed: --strict: read of 4 byte(s) at address "
                                   "0x20000000, which is neither memory nor a device")


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_well_behaved_guests_also_pass_the_sanitizers(build, tmp_path, mode):
    r = run(build, guest(build, "hello", mode), "--mode", mode, asan=True)
    assert_no_sanitizer_report(r.stderr)
    assert r.returncode == STATUS_POWEROFF
    assert f"Hello from minihv ({mode} mode)" in r.stdout
