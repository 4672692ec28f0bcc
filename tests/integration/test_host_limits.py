"""A start refused for a host limit says which one, as `hvctl host` names it: the allocation
cap (vcpus) and hvd's file descriptors."""
import os
import subprocess

import dbus
import pytest

from hvd_harness import wait_for
from scale_helpers import create_echo, fd_count

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")


def test_refused_starts_name_the_limit(make_hvd, bus):
    h = make_hvd(config="[allocation]\ncpu-overcommit = 0.5\nreserved-memory-mib = 0\n").start()
    conn = bus.connect()
    names = {lim["name"] for lim in h.hvctl_json("host")["density"]["limits"]}
    assert {"vcpus", "file descriptors"} <= names
    create_echo(h, conn, ["a", "b"])
    h.domain("a", conn).Start(timeout=20)
    with pytest.raises(dbus.DBusException) as err:
        h.domain("b", conn).Start(timeout=20)
    assert "the host limit 'vcpus'" in str(err.value), str(err.value)
    pid = h.hvctl_json("info", "a")["pid"]
    h.domain("a", conn).Destroy(timeout=20)
    # A destroy completes when the guest stops; hvd lets go of the VMM's descriptors once its
    # process is gone.
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10, what="the VMM's exit")
    counts = []
    wait_for(lambda: counts.append(fd_count(h.proc.pid)) or counts[-3:] == [counts[-1]] * 3,
             timeout=10, interval=0.1, what="hvd's descriptors to settle")

    # hvd at its descriptor limit: the start fails and says so
    n = fd_count(h.proc.pid)
    soft = subprocess.run(["prlimit", f"--pid={h.proc.pid}", "--nofile", "--raw", "--noheadings",
                           "-o", "SOFT"], capture_output=True, text=True, check=True,
                          timeout=10).stdout.strip()
    subprocess.run(["prlimit", f"--pid={h.proc.pid}", f"--nofile={n}:"], check=True, timeout=10)
    try:
        with pytest.raises(dbus.DBusException) as err:
            h.domain("a", conn).Start(timeout=20)
        assert "the host limit 'file descriptors'" in str(err.value), str(err.value)
    finally:
        subprocess.run(["prlimit", f"--pid={h.proc.pid}", f"--nofile={soft}:"], check=True,
                       timeout=10)
    h.domain("a", conn).Start(timeout=20)
    h.domain("a", conn).Destroy(timeout=20)
