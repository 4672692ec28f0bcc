"""A real Linux guest through hvd's kvm driver on a real libvirtd (QEMU, TCG): Debian's stock
kernel and initrd boot a small busybox root disk built here. Each guest configuration boots as
few times as it can, with several checks per boot: the devices each mode gives, logging in on
the serial console, console bytes on D-Bus and HTTP, QEMU's pid, pause and resume, reboots from
the guest and from hvctl (acted on, ignored, forced), a crash loop, and stop with a guest that
handles the power button and one that ignores it."""
import base64
import subprocess

import pytest

import linux_guest
from clients import EventStream, PtyProcess
from hvd_harness import wait_for
from kvm_fixtures import (console, kvm_hvd, libvirt_cache, libvirtd, state,  # noqa: F401
                          wait_state)

BOOT_TIMEOUT = 90  # a stock kernel under TCG, on a busy machine
READY = "hvd-guest: ready"


@pytest.fixture(autouse=True)
def needs_linux():
    lack = linux_guest.missing()
    if lack:
        pytest.skip(f"the Linux guest needs {', '.join(lack)} (scripts/install-deps.sh check)")


def create_linux(hvd, workdir, name, mode, *extra_cmdline, memory="384", args=()):
    """Defines a kvm domain booting the stock kernel on a fresh root disk; the disk is given by
    its bare file name from the directory it is in, as a user would."""
    disk = linux_guest.build_disk(workdir / f"{name}.img")
    p = subprocess.run([str(hvd.hvctl_binary), "create", name, "--driver", "kvm", "--mode", mode,
                        "--memory", memory, "--kernel", linux_guest.kernel(),
                        "--initrd", linux_guest.initrd(), "--disk", disk.name,
                        "--cmdline", linux_guest.cmdline(mode, *extra_cmdline), *args],
                       env=hvd.env(), cwd=disk.parent, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert hvd.hvctl_json("info", name)["disk"] == str(disk)


def boots(hvd, name):
    return console(hvd, name).count("hvd-guest: up ")


def wait_boots(hvd, name, count, timeout=BOOT_TIMEOUT):
    """Waits until the guest is ready for the count-th time; returns the console."""
    try:
        wait_for(lambda: console(hvd, name).count(READY) >= count, timeout=timeout, interval=0.2,
                 what=f"boot {count} of {name}")
    except TimeoutError:
        raise AssertionError(f"console of {name}:\n{console(hvd, name)}\n{hvd.read_log()}")
    return console(hvd, name)


class Login(PtyProcess):
    """hvctl console on a pty, logged in as root on the guest's getty."""

    def __init__(self, hvd, name, *args, url=False):
        extra = ["--url", hvd.url, "--token-file", str(hvd.state_dir / "http-token")] if url else []
        super().__init__([str(hvd.hvctl_binary), *extra, "console", name, *args], hvd.env())
        shown = self.read_until(b"escape character is ^]", timeout=10)
        assert b"Connected to the console of" in shown, shown
        for _ in range(10):
            self.type(b"\r")
            if b"login:" in self.read_until(b"login:", timeout=3):
                break
        else:
            raise AssertionError("no login prompt")
        self.type(b"root\r")
        assert b"hvd-guest# " in self.read_until(b"hvd-guest# ", timeout=15)

    def run(self, command, until, timeout=20):
        self.type(command.encode() + b"\r")
        out = self.read_until(until.encode(), timeout=timeout)
        assert until.encode() in out, out
        return out

    def detach(self):
        """Logs out (the getty asks again) and detaches."""
        self.type(b"exit\r")
        self.read_until(b"login:", timeout=10)
        self.type(b"\x1d")
        shown = self.read_until(b"Detached.")
        return shown, self.wait()


def changes(stream, name):
    """The state changes of domain name on the event stream so far."""
    return [e["data"] for e in stream.of("lifecycle")
            if e["data"].get("event") == "state-changed" and e["data"].get("domain") == name]


def tail(hvd, name, *args, url=False):
    extra = ["--url", hvd.url, "--token-file", str(hvd.state_dir / "http-token")] if url else []
    p = subprocess.run([str(hvd.hvctl_binary), *extra, "console", name, "--tail", "40", *args],
                       env=hvd.env(), capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_linux_pv_guest(kvm_hvd, libvirtd, workdir):
    hvd = kvm_hvd
    create_linux(hvd, workdir, "lpv", "pv", args=("--network", "hvdtest"))
    hvd.hvctl("start", "lpv", check=True, timeout=60)
    text = wait_boots(hvd, "lpv", 1)
    # pv: the disk is virtio-blk (vda), the NIC virtio-net.
    assert "disk=vda net=virtio_net" in text, text
    info = hvd.hvctl_json("info", "lpv")
    assert info["pid"] > 0 and info["pid"] == libvirtd.qemu_pid("lpv")
    first_pid, first_start = info["pid"], info["started_us"]

    # Logged in on the serial console; a command's output read back.
    term = Login(hvd, "lpv")
    term.run("echo hvd-$((6*7)); printf 'caf\\303\\251\\n'", "hvd-42")
    wait_for(lambda: "café" in console(hvd, "lpv"), timeout=10, what="the é in the log")
    shown, status = term.detach()
    assert status == 0

    # The same bytes over D-Bus and HTTP, non-ASCII included; --safe escapes them.
    over_bus, over_http = tail(hvd, "lpv"), tail(hvd, "lpv", url=True)
    assert "café".encode() in over_bus and over_bus == over_http
    safe = tail(hvd, "lpv", "--safe")
    assert b"caf\\xc3\\xa9" in safe and b"\r" not in safe

    # The virtio console (hvc0): logged in there too, and its log read back over both APIs.
    term = Login(hvd, "lpv", "--device", "hvc0")
    term.run("echo on-$(tty | tr / -)", "on--dev-hvc0")
    term.detach()
    assert b"on--dev-hvc0" in tail(hvd, "lpv", "--device", "hvc0")
    assert tail(hvd, "lpv", "--device", "hvc0") == tail(hvd, "lpv", "--device", "hvc0", url=True)
    assert b"on--dev-hvc0" not in tail(hvd, "lpv")
    # The virtio console live over HTTP as well (the event stream carries every console).
    term = Login(hvd, "lpv", "--device", "hvc0", url=True)
    term.run("echo http-$(tty | tr / -)", "http--dev-hvc0")
    term.detach()
    assert b"http--dev-hvc0" not in tail(hvd, "lpv")

    hvd.hvctl("pause", "lpv", check=True)
    assert state(hvd, "lpv") == ("paused", "user")
    hvd.hvctl("resume", "lpv", check=True)
    assert state(hvd, "lpv") == ("running", "unpaused")

    # The guest reboots itself: recorded, with a new start time and an event.
    stream = EventStream(hvd)
    term = Login(hvd, "lpv")
    # The live console on the event stream carries the exact bytes too (the shell's escape
    # sequence), in data_base64.
    wait_for(lambda: b"hvd-guest# \x1b[6n" in b"".join(
        base64.b64decode(e["data"]["data_base64"]) for e in stream.of("console")
        if e["data"]["domain"] == "lpv"), timeout=10, what="the prompt's bytes on the stream")
    term.type(b"reboot -f\r")
    wait_state(hvd, "lpv", ("running", "rebooted"), timeout=30)
    assert hvd.hvctl_json("info", "lpv")["started_us"] > first_start
    wait_for(lambda: any(c["reason"] == "rebooted" and c.get("message") == "the guest rebooted"
                         for c in changes(stream, "lpv")),
             timeout=10, what="the guest's reboot as an event")
    term.kill()
    wait_boots(hvd, "lpv", 2)

    # hvctl reboot: the guest powers off on the power button and hvd runs it again; reported
    # only once it did.
    before = hvd.hvctl_json("info", "lpv")["started_us"]
    p = hvd.hvctl("reboot", "lpv", "--timeout", "60", timeout=90)
    assert p.returncode == 0 and "Domain lpv rebooted." in p.stdout, p.stderr
    assert "hvd-guest: power button" in console(hvd, "lpv")
    info = hvd.hvctl_json("info", "lpv")
    assert (info["state"], info["reason"]) == ("running", "rebooted")
    assert info["started_us"] > before
    assert info["pid"] == libvirtd.qemu_pid("lpv") and info["pid"] != first_pid
    wait_boots(hvd, "lpv", 3)

    # stop: the guest handles the power button and shuts down.
    p = hvd.hvctl("stop", "lpv", "--timeout", "60", timeout=90)
    assert p.returncode == 0 and "Domain lpv shut down." in p.stdout, p.stderr
    assert state(hvd, "lpv") == ("shutoff", "shutdown")
    assert hvd.hvctl_json("info", "lpv")["pid"] == 0
    stream.close()


def test_linux_full_guest_that_ignores_the_power_button(kvm_hvd, libvirtd, workdir):
    hvd = kvm_hvd
    create_linux(hvd, workdir, "lfull", "full", "hvd.acpi=ignore", args=("--network", "hvdtest"))

    # A domain that is shut off: refused before anything says "Connected".
    p = hvd.hvctl("console", "lfull")
    assert p.returncode == 1 and "Connected" not in p.stderr
    p = hvd.hvctl("console", "nosuch")
    assert p.returncode == 3 and "Connected" not in p.stderr

    hvd.hvctl("start", "lfull", check=True, timeout=60)
    text = wait_boots(hvd, "lfull", 1)
    # full: the IDE disk through ata_piix is sda (libata), the NIC an e1000.
    assert "disk=sda net=e1000 ata=ata_piix" in text, text
    term = Login(hvd, "lfull")
    term.run("cat /sys/block/sda/device/model", "QEMU HARDDISK")
    term.detach()
    # Full mode has no virtio console: said so, before anything says "Connected".
    p = hvd.hvctl("console", "lfull", "--device", "hvc0")
    assert p.returncode == 1 and "no virtio console (hvc0)" in p.stderr, p.stderr
    assert "Connected" not in p.stderr

    # The guest ignores the power button: the reboot is not reported done, and nothing stays
    # armed (its own power-off later ends it instead of booting it again).
    started = hvd.hvctl_json("info", "lfull")["started_us"]
    p = hvd.hvctl("reboot", "lfull", "--timeout", "4", timeout=60)
    assert p.returncode == 1 and "did not restart within 4 s" in p.stderr, p.stderr
    info = hvd.hvctl_json("info", "lfull")
    assert (info["state"], info["reason"], info["started_us"]) == ("running", "booted", started)
    term = Login(hvd, "lfull")
    term.type(b"poweroff -f\r")
    wait_state(hvd, "lfull", ("shutoff", "shutdown"), timeout=30)
    term.kill()
    assert boots(hvd, "lfull") == 1

    # --force resets it after the timeout.
    hvd.hvctl("start", "lfull", check=True, timeout=60)
    wait_boots(hvd, "lfull", 2)
    p = hvd.hvctl("reboot", "lfull", "--timeout", "3", "--force", timeout=60)
    assert p.returncode == 0 and "Domain lfull rebooted." in p.stdout, p.stderr
    assert state(hvd, "lfull") == ("running", "rebooted")
    wait_boots(hvd, "lfull", 3)

    # stop: the guest ignores the power button, hvd destroys it after the timeout; hvctl says
    # it was forced, with its own exit code.
    p = hvd.hvctl("stop", "lfull", "--timeout", "3", timeout=60)
    assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)
    assert "Waiting for domain lfull to shut down" in p.stderr
    assert "did not shut down in time" in p.stderr
    assert state(hvd, "lfull") == ("shutoff", "destroyed")


def test_linux_crash_loop_is_a_crash(kvm_hvd, libvirtd, workdir):
    """With too little memory the stock initramfs does not unpack: the kernel panics and, with
    panic=-1, reboots again and again. hvd calls that a crash and applies the on-crash policy."""
    hvd = kvm_hvd
    create_linux(hvd, workdir, "lloop", "pv", memory="160", args=("--on-crash", "destroy"))
    stream = EventStream(hvd)
    hvd.hvctl("start", "lloop", check=True, timeout=60)
    wait_state(hvd, "lloop", ("shutoff", "crashed"), timeout=150)
    seen = changes(stream, "lloop")
    assert any(c["state"] == "crashed" and c["reason"] == "guest-fault" and
               c.get("message") == "rebooting in a loop" for c in seen), seen
    assert sum(c["reason"] == "rebooted" for c in seen) >= 3
    assert "Kernel panic" in console(hvd, "lloop")
    stream.close()
