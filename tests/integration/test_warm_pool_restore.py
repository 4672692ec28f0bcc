"""Restores from the minihv warm pool: the start that resumes a managed save and the clones of a
snapshot take pre-made VMMs of their shape (their pids existed before), and the guests carry on
counting from where they were saved rather than booting again."""
import os
import re

import pytest

from hvd_harness import wait_for
from test_warm_pool import pool_view, pooled_pids

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

POOL = ("[allocation]\ncpu-overcommit = 50\nreserved-memory-mib = 0\n"
        "[minihv]\nwarm-pool = 3\nwarm-pool-memory = 16\n")
COUNTER = re.compile(r"counter: (\d+) t=\d+\n")


def counts(h, name):
    text = h.hvctl("console", name, "--tail", "100000", check=True, timeout=10).stdout
    return text, [int(n) for n in COUNTER.findall(text)]


def wait_count(h, name, at_least):
    wait_for(lambda: max(counts(h, name)[1] or [0]) >= at_least, timeout=10,
             what=f"{name} to count to {at_least}")


def wait_pool_full(h, size=3):
    wait_for(lambda: pool_view(h)["waiting"] == size, timeout=10, what="the warm pool to fill")


def test_restore_and_clones_take_pooled_vmms_and_carry_on_counting(make_hvd):
    h = make_hvd(config=POOL).start()
    p = h.hvctl("create", "c", "--driver", "minihv", "--mode", "pv", "--kernel", "counter",
                "--memory", "16", timeout=10)
    assert p.returncode == 0, p.stderr
    wait_pool_full(h)
    h.hvctl("start", "c", check=True, timeout=10)
    wait_count(h, "c", 3)
    p = h.hvctl("save", "c", timeout=20)
    assert p.returncode == 0, p.stderr
    _, before = counts(h, "c")
    wait_pool_full(h)
    pooled = set(pooled_pids(h.proc.pid))
    taken = pool_view(h)["taken"]

    # the start that resumes the managed save is handed a VMM made before it
    h.hvctl("start", "c", check=True, timeout=10)
    assert h.hvctl_json("info", "c")["pid"] in pooled
    assert pool_view(h)["taken"] == taken + 1
    wait_count(h, "c", before[-1] + 3)
    text, now = counts(h, "c")
    assert text.count("counter: start") == 1, "the restored guest booted again"
    after = now[len(before):]
    # it goes on from where it was saved (a line cut by the save may be printed again)
    assert after[0] in (before[-1], before[-1] + 1), (before[-3:], after[:3])
    assert after == list(range(after[0], after[0] + len(after)))

    # clones of a snapshot take pooled VMMs too, and count on from the snapshot
    h.hvctl("snapshot", "create", "c", "base", check=True, timeout=20)
    at = max(counts(h, "c")[1])
    h.hvctl("destroy", "c", check=True, timeout=10)
    wait_pool_full(h)
    pooled = set(pooled_pids(h.proc.pid))
    taken = pool_view(h)["taken"]
    p = h.hvctl("clone", "c", "cl", "--snapshot", "base", "--count", "2", timeout=20)
    assert p.returncode == 0, p.stderr
    names = ["cl-1", "cl-2"]
    assert {h.hvctl_json("info", n)["pid"] for n in names} <= pooled
    assert pool_view(h)["taken"] == taken + 2
    for n in names:
        wait_for(lambda n=n: counts(h, n)[1], timeout=10, what=f"{n} to count")
        text, got = counts(h, n)
        assert "counter: start" not in text
        assert at <= got[0] <= at + 2, (at, got[:3])
        assert got == list(range(got[0], got[0] + len(got)))
    for n in names:
        h.hvctl("destroy", n, check=True, timeout=10)
