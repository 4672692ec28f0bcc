"""Fixtures and helpers of the kvm tests that run real QEMU guests through a real libvirtd."""
import os
import pathlib
import shutil
import tempfile

import pytest

from hvd_harness import build_dir, wait_for
from libvirtd_harness import Libvirtd, missing_tools

# TCG: a tiny guest boots in a fraction of a second, independent of the host's KVM.
KVM_CONFIG = "[kvm]\ndomain-type = qemu\n"


def guest_kernel():
    """The Multiboot test guest built from tests/guests/."""
    return build_dir() / "tests" / "guests" / "hello-multiboot.elf"


@pytest.fixture(scope="session")
def libvirt_cache():
    """A directory that keeps libvirt's probe of QEMU (seconds of work) for the whole session."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"libvirt/QEMU cannot be used here: {', '.join(missing)} not installed")
    if os.geteuid() != 0:
        pytest.skip("a private libvirtd with its own namespaces needs root")
    if not guest_kernel().exists():
        pytest.fail(f"{guest_kernel()} was not built")
    path = pathlib.Path(tempfile.mkdtemp(prefix="hvd-libvirt-cache-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def libvirtd(workdir, libvirt_cache):
    """virtlogd + libvirtd of this test, with an isolated network 'hvdtest' for NICs."""
    lv = Libvirtd(workdir / "libvirt", libvirt_cache)
    try:
        lv.start()
        lv.create_network("hvdtest", "hvdtest0")
        yield lv
    finally:
        lv.stop()


@pytest.fixture
def libvirtd_nobody(workdir, libvirt_cache):
    """A libvirtd that runs QEMU as nobody, who cannot open /dev/kvm when it is root's alone.
    Its capabilities cache is its own: libvirt probes QEMU again for another user."""
    lv = Libvirtd(workdir / "libvirt-nobody", workdir / "libvirt-nobody-cache", qemu_user="nobody")
    try:
        lv.start()
        yield lv
    finally:
        lv.stop()


@pytest.fixture
def kvm_hvd(libvirtd, make_hvd):
    """hvd whose kvm driver talks to this test's libvirtd (stopped before libvirtd is)."""
    return make_hvd(config=KVM_CONFIG, kvm_uri=libvirtd.uri).start()


def create(hvd, name, *args, kernel=None, cmdline=None):
    """Defines a kvm domain booting the test guest (cmdline defaults to "mode=<its mode>")."""
    mode = args[args.index("--mode") + 1] if "--mode" in args else "pv"
    hvd.hvctl("create", name, "--driver", "kvm", "--memory", "64",
              "--kernel", str(kernel or guest_kernel()),
              "--cmdline", cmdline if cmdline is not None else f"mode={mode}", *args, check=True)


def state(hvd, name):
    info = hvd.hvctl_json("info", name)
    return info["state"], info["reason"]


def wait_state(hvd, name, wanted, timeout=15):
    """Waits until domain name is in (state, reason) wanted."""
    last = []

    def reached():
        last[:] = [state(hvd, name)]
        return last[0] == wanted
    try:
        wait_for(reached, timeout=timeout, interval=0.05, what=f"{name} to be {wanted}")
    except TimeoutError:
        raise AssertionError(f"{name} is {last[0] if last else '?'}, expected {wanted}:\n"
                             f"{hvd.read_log()}")


def console(hvd, name):
    """What the guest wrote to its serial console so far (from the log hvd reports)."""
    path = hvd.hvctl_json("info", name)["console_log"]
    try:
        return pathlib.Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_console(hvd, name, text, count=1, timeout=15):
    """Waits until text appears count times on the console of name; returns the console."""
    try:
        wait_for(lambda: console(hvd, name).count(text) >= count, timeout=timeout,
                 interval=0.05, what=f"{text!r} x{count} on the console of {name}")
    except TimeoutError:
        raise AssertionError(f"console of {name}:\n{console(hvd, name)}")
    return console(hvd, name)
