"""Hostile guests attack minihv's network device on a tap in a private namespace, under the
AddressSanitizer build: malformed rings, descriptors and lengths (pv), NE2000 register abuse
(full), and a transmit flood. The VMM survives each with its documented result."""
import json
import subprocess

import pytest

from minihv_helpers import STATUS_POWEROFF, assert_no_sanitizer_report, require_kvm
from net_helpers import GUEST_ADDR, Netns, NetGuest, require_net


@pytest.fixture
def ns():
    require_kvm()
    require_net()
    n = Netns()
    yield n
    n.close()


def hostile(build, ns, tmp_path, mode, scenario, traffic=False, timeout=120):
    """Runs the hostile guest's scenario; with traffic, the host pings the guest meanwhile
    (the ARP requests are frames for the guest's receive path)."""
    stats = tmp_path / "stats.json"
    g = NetGuest(build, ns, "hostile", mode, asan=True, stats=stats, cmdline=scenario)
    pinger = None
    if traffic:
        pinger = subprocess.Popen(ns.cmd(["ping", "-q", "-c", "100", "-i", "0.05", GUEST_ADDR]),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        status, out, err = g.wait(timeout)
    finally:
        if pinger:
            pinger.kill()
            pinger.wait()
    assert_no_sanitizer_report(err)
    assert " BAD" not in out, out
    assert f"hostile: {scenario} survived" in out, out + err
    assert status == STATUS_POWEROFF, err
    return json.loads(stats.read_text())


def test_pv_malformed_net_rings_and_descriptors_are_refused(build, ns, tmp_path):
    stats = hostile(build, ns, tmp_path, "pv", "net-ring-malformed", traffic=True)
    net = stats["net"]
    # 7 bad TX descriptors, 3 bad RX buffers, 2 garbage producer indexes
    assert net["bad_descriptors"] == 12, net
    assert net["tx_frames"] == 3  # the three valid frames
    assert net["rx_frames"] >= 1
    assert stats["bad_requests"]["guest"] >= 12 + 9  # plus the refused set-ups


@pytest.mark.parametrize("mode,frames", [("pv", 100000), ("full", 500)])
def test_tx_flood_is_sent_and_counted(build, ns, tmp_path, mode, frames):
    stats = hostile(build, ns, tmp_path, mode, "net-tx-flood")
    net = stats["net"]
    assert net["tx_frames"] == frames, net
    assert net["tx_dropped"] == 0 and net["bad_descriptors"] == 0
    if mode == "pv":
        assert net["doorbells"] < frames / 10, net  # one doorbell per batch at most


def test_full_ne2000_register_abuse_is_survived(build, ns, tmp_path):
    stats = hostile(build, ns, tmp_path, "full", "ne2000-abuse", traffic=True)
    net = stats["net"]
    assert net["bad_descriptors"] == 4, net  # the four aborted transmits
    assert net["tx_frames"] == 1
    assert net["rx_dropped"] > 0  # frames that met the inverted ring were dropped
