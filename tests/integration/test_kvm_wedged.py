"""The kvm driver when libvirtd hangs (stopped with SIGSTOP, virtlogd left alone): hvd keeps
answering on D-Bus and HTTP, minihv domains keep working, kvm statistics say they are stale, a
hvd that starts meanwhile comes up without waiting for it, and everything comes back when
libvirtd does."""
import os
import signal
import subprocess
import time

import pytest

from hvd_harness import wait_for
from kvm_fixtures import (KVM_CONFIG, create, kvm_hvd, libvirt_cache, libvirtd,  # noqa: F401
                          state, wait_console)

# Every answer while libvirtd hangs: generous, and well under a second.
BOUND_S = 0.75
# DRIVER_STATS_STALE_MS in drivers/driver.h, plus a margin.
STALE_AFTER_S = 2.0 + 0.3


def timed(what, call):
    t = time.monotonic()
    result = call()
    elapsed = time.monotonic() - t
    assert elapsed < BOUND_S, f"{what} took {elapsed:.2f} s while libvirtd hangs"
    return result


def kvm_stats(hvd, name):
    return hvd.hvctl_json("info", name).get("stats", {})


@pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                    reason="/dev/kvm is not usable here (minihv)")
def test_hvd_answers_while_libvirtd_hangs(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    create(hvd, "k1")
    hvd.hvctl("start", "k1", check=True)
    wait_console(hvd, "k1", "hello mode=pv")
    hvd.hvctl("create", "m1", "--driver", "minihv", "--mode", "pv", "--kernel", "echo",
              "--memory", "16", check=True)
    wait_for(lambda: kvm_stats(hvd, "k1").get("stale") is False, timeout=10,
             what="fresh statistics of k1")
    manager = hvd.manager()

    os.kill(libvirtd.libvirtd_pid, signal.SIGSTOP)
    frozen = time.monotonic()
    pause = None
    try:
        names = timed("D-Bus ListDomains", lambda: manager.ListDomains())
        assert {"k1", "m1"} <= {str(d[0]) for d in names}
        status, _, body = timed("GET /api/v1/domains",
                                lambda: hvd.request("GET", "/api/v1/domains", timeout=5))
        assert status == 200 and {"k1", "m1"} <= {d["name"] for d in body}
        status, _, text = timed("GET /metrics", lambda: hvd.request("GET", "/metrics", timeout=5))
        assert status == 200 and 'domain="m1"' in text
        p = timed("hvctl host", lambda: hvd.hvctl("host", "--json", timeout=5))
        assert p.returncode == 0, p.stderr

        # minihv does not wait for libvirtd.
        p = timed("starting a minihv domain", lambda: hvd.hvctl("start", "m1", timeout=5))
        assert p.returncode == 0, p.stderr
        assert state(hvd, "m1") == ("running", "booted")

        # A kvm operation waits for libvirtd, without holding anything else up.
        pause = subprocess.Popen([str(hvd.hvctl_binary), "pause", "k1"], env=hvd.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        info = timed("hvctl info of the kvm domain", lambda: hvd.hvctl_json("info", "k1"))
        assert info["state"] == "running"
        assert info["stats"]["stats_age_ms"] >= 0

        time.sleep(max(0.0, STALE_AFTER_S - (time.monotonic() - frozen)))
        info = timed("hvctl info of the kvm domain", lambda: hvd.hvctl_json("info", "k1"))
        assert info["stats"]["stale"] is True, info["stats"]
        assert info["stats"]["stats_age_ms"] >= 2000
        assert "stale: yes" in timed("hvctl info", lambda: hvd.hvctl("info", "k1")).stdout
        assert pause.poll() is None
    finally:
        os.kill(libvirtd.libvirtd_pid, signal.SIGCONT)

    # libvirtd answers again: the waiting operation completes, the numbers are fresh again.
    out, err = pause.communicate(timeout=30)
    assert pause.returncode == 0, err
    assert state(hvd, "k1") == ("paused", "user")
    wait_for(lambda: kvm_stats(hvd, "k1").get("stale") is False, timeout=10,
             what="fresh statistics of k1 again")
    hvd.hvctl("resume", "k1", check=True)
    assert state(hvd, "k1") == ("running", "unpaused")
    assert hvd.hvctl_json("host")["drivers"]["kvm"]["available"] is True
    hvd.hvctl("destroy", "k1", check=True)
    hvd.hvctl("destroy", "m1", check=True)
    assert state(hvd, "k1") == ("shutoff", "destroyed")


def test_hvd_starts_while_libvirtd_hangs(libvirtd, make_hvd):
    """hvd waits a bounded time for libvirtd, comes up without it, and connects once it answers."""
    hvd = make_hvd(config=KVM_CONFIG, kvm_uri=libvirtd.uri)
    os.kill(libvirtd.libvirtd_pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        hvd.start()
        assert time.monotonic() - t < 10
        driver = hvd.hvctl_json("host")["drivers"]["kvm"]
        assert driver["available"] is False
        assert f"libvirtd at {libvirtd.uri} has not answered for 5 s" in driver["reason"]
        create(hvd, "later")
        p = hvd.hvctl("start", "later")
        assert p.returncode == 1 and "the kvm driver is unavailable" in p.stderr
    finally:
        os.kill(libvirtd.libvirtd_pid, signal.SIGCONT)
    wait_for(lambda: hvd.hvctl_json("host")["drivers"]["kvm"]["available"], timeout=10,
             what="the kvm driver")
    hvd.hvctl("start", "later", check=True)
    wait_console(hvd, "later", "hello")
    hvd.hvctl("destroy", "later", check=True)
