"""Full-mode guests are unmodified Multiboot kernels: the same image boots under QEMU -kernel."""
import calendar
import re
import shutil
import subprocess
import time

import pytest

from minihv_helpers import guest

QEMU = shutil.which("qemu-system-x86_64")


def qemu_boot(image, timeout=60):
    if not QEMU:
        print("SKIP: qemu-system-x86_64 is not installed")
        pytest.skip("qemu-system-x86_64 is not installed")
    cmd = [QEMU, "-kernel", str(image), "-nographic", "-no-reboot", "-net", "none", "-m", "64",
           "-accel", "tcg"]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_hello_full_boots_under_qemu_and_powers_off(build):
    r = qemu_boot(guest(build, "hello", "full"))
    assert r.returncode == 0, r.stderr
    assert b"Hello from minihv (full mode)" in r.stdout


def test_clock_full_reads_qemus_rtc(build):
    before = int(time.time())
    r = qemu_boot(guest(build, "clock", "full"))
    after = int(time.time())
    assert r.returncode == 0, r.stderr
    m = re.search(rb"clock: (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC \(full mode\)",
                  r.stdout)
    assert m, r.stdout
    shown = calendar.timegm(tuple(int(x) for x in m.groups()))
    assert before - 5 <= shown <= after + 5
