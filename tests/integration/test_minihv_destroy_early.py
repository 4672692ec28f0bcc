"""A minihv destroy completes once the VMM says the guest stopped, while its process finishes
going away on its own: a start right after it runs the domain again (once the old process is
gone), a paused domain is destroyed as well, no VMM is left behind, and hvd holds no more
descriptors after many cycles than after one."""
import os
import time

import pytest

from hvd_harness import wait_for
from scale_helpers import DENSE, create_echo, fd_count, vmm_pids

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")


def info(h, name):
    i = h.hvctl_json("info", name)
    return i["state"], i["reason"], i.get("pid")


def test_start_right_after_destroy_and_nothing_left_behind(make_hvd, bus):
    h = make_hvd(config=DENSE).start()
    conn = bus.connect()
    create_echo(h, conn, ["e", "p"], 2)
    d = h.domain("e", conn)
    pids = set()
    fds = None
    for i in range(15):
        d.Start(timeout=20)
        state, _, pid = info(h, "e")
        assert state == "running" and pid not in pids, (state, pid, pids)
        pids.add(pid)
        t0 = time.monotonic()
        d.Destroy(timeout=20)
        assert time.monotonic() - t0 < 5
        assert info(h, "e")[:2] == ("shutoff", "destroyed")
        if i == 0:
            wait_for(lambda: not vmm_pids(h), timeout=5, what="the first VMM to be gone")
            fds = fd_count(h.proc.pid)
    wait_for(lambda: not vmm_pids(h), timeout=5, what="every VMM to be gone")
    assert fd_count(h.proc.pid) <= fds, "hvd holds descriptors of destroyed domains"

    # a paused guest's vCPUs stop as well: its destroy completes
    p = h.domain("p", conn)
    p.Start(timeout=20)
    p.Pause(timeout=20)
    assert info(h, "p")[0] == "paused"
    p.Destroy(timeout=20)
    assert info(h, "p")[:2] == ("shutoff", "destroyed")
    p.Start(timeout=20)
    assert info(h, "p")[0] == "running"
    p.Destroy(timeout=20)
    wait_for(lambda: not vmm_pids(h), timeout=5, what="every VMM to be gone")
