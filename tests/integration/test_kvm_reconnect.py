"""The kvm driver when libvirtd goes away: a lost connection is noticed and reported, hvd
reconnects with backoff and reconciles every domain; a libvirtd that is down when hvd starts
leaves kvm domains with a clear "driver unavailable" condition until it comes."""
import os
import signal

from hvd_harness import wait_for
from kvm_fixtures import (KVM_CONFIG, console, create, kvm_hvd, libvirt_cache,  # noqa: F401
                          libvirtd, state, wait_console, wait_state)


def kvm_driver(hvd):
    return hvd.hvctl_json("host")["drivers"]["kvm"]


def wait_available(hvd, available, timeout=20):
    wait_for(lambda: kvm_driver(hvd)["available"] == available, timeout=timeout, interval=0.05,
             what=f"the kvm driver to be {'available' if available else 'unavailable'}")


def test_libvirtd_killed_and_restarted(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    for name in ["a", "b", "c"]:
        create(hvd, name, "--mode", "full" if name == "b" else "pv")
        hvd.hvctl("start", name, check=True)
        wait_console(hvd, name, "hello")
    hvd.hvctl("pause", "b", check=True)

    libvirtd.kill_libvirtd(signal.SIGKILL)
    wait_available(hvd, False)
    why = kvm_driver(hvd)["reason"]
    assert "lost the connection to libvirt" in why, why
    # Domains keep their last known state, marked as not current; operations are refused.
    info = hvd.hvctl_json("info", "a")
    assert (info["state"], info["reason"]) == ("running", "booted")
    assert "lost the connection to libvirt" in info["driver_unavailable"]
    assert "Warning:    the kvm driver is unavailable" in hvd.hvctl("info", "a").stdout
    p = hvd.hvctl("pause", "a")
    assert p.returncode == 1
    assert "the kvm driver is unavailable" in p.stderr

    # While libvirtd is away, one guest's QEMU dies.
    os.kill(libvirtd.qemu_pid("c"), signal.SIGKILL)
    wait_for(lambda: libvirtd.qemu_pid("c") is None, what="c's QEMU to go")

    libvirtd.start_libvirtd()
    wait_available(hvd, True)
    assert state(hvd, "a") == ("running", "booted")
    assert state(hvd, "b") == ("paused", "user")
    wait_state(hvd, "c", ("shutoff", "daemon"))
    assert "driver_unavailable" not in hvd.hvctl_json("info", "a")

    # The new connection carries events and operations again.
    hvd.hvctl("resume", "b", check=True)
    assert state(hvd, "b") == ("running", "unpaused")
    p = hvd.hvctl("stop", "a")
    assert p.returncode == 0, p.stderr
    assert state(hvd, "a") == ("shutoff", "shutdown")
    hvd.hvctl("start", "c", check=True)
    wait_console(hvd, "c", "hello", count=2)
    # A guest that powers off by itself is seen through the new connection's events.
    libvirtd.virsh("shutdown", "b")
    wait_state(hvd, "b", ("shutoff", "shutdown"))
    assert "power button pressed" in console(hvd, "b")


def test_libvirtd_down_when_hvd_starts(libvirtd, make_hvd):
    hvd = make_hvd(config=KVM_CONFIG, kvm_uri=libvirtd.uri).start()
    create(hvd, "up")
    hvd.hvctl("start", "up", check=True)
    hvd.stop()
    libvirtd.kill_libvirtd(signal.SIGTERM)

    # hvd starts anyway; the kvm driver says why it is unavailable.
    hvd.start()
    driver = kvm_driver(hvd)
    assert driver["available"] is False
    assert f"cannot connect to {libvirtd.uri}" in driver["reason"], driver
    assert "retrying in" in driver["reason"]
    info = hvd.hvctl_json("info", "up")
    assert (info["state"], info["reason"]) == ("running", "booted")  # as last recorded
    assert f"cannot connect to {libvirtd.uri}" in info["driver_unavailable"]
    create(hvd, "new")  # definitions do not need libvirtd
    p = hvd.hvctl("start", "new")
    assert p.returncode == 1
    assert "the kvm driver is unavailable: cannot connect to" in p.stderr
    assert state(hvd, "new") == ("shutoff", "defined")

    # libvirtd comes: hvd connects, finds the guest still running, and starts work again.
    libvirtd.start_libvirtd()
    wait_available(hvd, True)
    assert state(hvd, "up") == ("running", "booted")
    assert "driver_unavailable" not in hvd.hvctl_json("info", "up")
    hvd.hvctl("start", "new", check=True)
    wait_console(hvd, "new", "hello")
    hvd.hvctl("destroy", "up", check=True)
    hvd.hvctl("destroy", "new", check=True)
