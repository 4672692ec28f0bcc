"""minihv's network device, driven through `minihv run --net-fd` on a tap inside a network
namespace of the test's own: ping, UDP echo and HTTP with curl reach pv and full guests, the
MAC is the one given or derived, and the stats count frames and what they cost."""
import json
import re
import socket
import subprocess
import sys

import pytest

from minihv_helpers import MODES, STATUS_DESTROYED, STATUS_USAGE, guest, require_kvm, run
from net_helpers import GUEST_ADDR, Netns, NetGuest, require_net

# A 1 MiB body takes about 35 s in full mode here (every NE2000 register access and data-port
# word is an exit, and the guest's TCP code is emulated at ring 0): hence the long timeout.
HTTP_TIMEOUT = {"pv": 30, "full": 240}


@pytest.fixture
def ns():
    require_kvm()
    require_net()
    n = Netns()
    yield n
    n.close()


def start(build, ns, name, mode, **kwargs):
    g = NetGuest(build, ns, name, mode, **kwargs)
    g.wait_ready(f"{name}: listening on {GUEST_ADDR}")
    return g


def stop(g):
    status, out, err = g.stop()
    assert status == STATUS_DESTROYED, err
    return out, err


def fnv1a_mac(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return ":".join(["02"] + [f"{(h >> (8 * i)) & 0xFF:02x}" for i in range(5)])


def neighbour_mac(ns, addr):
    out = ns.run(["ip", "neigh", "show", addr]).stdout
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


@pytest.mark.parametrize("mode", MODES)
def test_host_pings_the_guest(build, ns, tmp_path, mode):
    g = start(build, ns, "udpecho", mode, stats=tmp_path / "stats.json")
    try:
        r = ns.run(["ping", "-c", "5", "-i", "0.2", "-W", "3", GUEST_ADDR], timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "5 received" in r.stdout, r.stdout
    finally:
        stop(g)
    net = json.loads((tmp_path / "stats.json").read_text())["net"]
    assert net["attached"] is True
    assert net["rx_frames"] >= 6 and net["tx_frames"] >= 6  # ARP plus five echoes each way
    assert net["bad_descriptors"] == 0


UDP_CLIENT = r"""
import socket, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(n):
    msg = (b"%08d" % i) * (size // 8)
    s.sendto(msg, (sys.argv[3], 7))
    data, addr = s.recvfrom(65536)
    assert data == msg and addr == (sys.argv[3], 7), (i, data[:16], addr)
print("echoed", n)
"""


@pytest.mark.parametrize("mode", MODES)
def test_udp_datagrams_come_back(build, ns, mode):
    g = start(build, ns, "udpecho", mode)
    try:
        n = 200 if mode == "pv" else 20
        for size in (8, 1024, 1472):
            r = ns.run([sys.executable, "-c", UDP_CLIENT, n, size, GUEST_ADDR], timeout=60)
            assert r.returncode == 0 and f"echoed {n}" in r.stdout, r.stdout + r.stderr
    finally:
        stop(g)


def curl(ns, url, out, timeout):
    r = ns.run(["curl", "-s", "-S", "--max-time", timeout, "-o", out, "-w",
                "%{http_code} %{size_download}", url], timeout=timeout + 10)
    assert r.returncode == 0, r.stderr
    code, size = r.stdout.split()
    return int(code), int(size)


def expected_body(n):
    return bytes(97 + i % 26 for i in range(26)) * (n // 26) + bytes(97 + i for i in range(n % 26))


@pytest.mark.parametrize("mode", MODES)
def test_curl_gets_the_page_and_a_generated_body(build, ns, tmp_path, mode):
    g = start(build, ns, "httpd", mode, stats=tmp_path / "stats.json")
    try:
        page = tmp_path / "page.html"
        assert curl(ns, f"http://{GUEST_ADDR}/", page, 20) == (200, page.stat().st_size)
        assert "Hello from minihv httpd" in page.read_text()
        body = tmp_path / "body"
        code, size = curl(ns, f"http://{GUEST_ADDR}/bytes/1048576", body, HTTP_TIMEOUT[mode])
        assert (code, size) == (200, 1048576)
        assert body.read_bytes() == expected_body(1048576)
        assert curl(ns, f"http://{GUEST_ADDR}/nothing", tmp_path / "404", 20)[0] == 404
    finally:
        stop(g)
    net = json.loads((tmp_path / "stats.json").read_text())["net"]
    assert net["tx_bytes"] > 1048576
    if mode == "pv":
        # batches: far fewer doorbells than frames, and no exit per frame at all
        assert net["doorbells_per_frame"] < 0.5, net
        assert net["exits_per_frame"] < 0.01, net
    else:
        assert net["doorbells"] == 0
        assert net["exits_per_frame"] > 20, net  # registers and data-port words


def test_keep_alive_serves_several_requests_on_one_connection(build, ns, tmp_path):
    g = start(build, ns, "httpd", "pv")
    try:
        urls = [f"http://{GUEST_ADDR}/bytes/{n}" for n in (10, 100000, 26)]
        r = ns.run(["curl", "-s", "-S", "-v", "--max-time", "20", *urls], timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.encode() == expected_body(10) + expected_body(100000) + expected_body(26)
        assert "Re-using existing connection" in r.stderr or "Reusing existing" in r.stderr
    finally:
        stop(g)


@pytest.mark.parametrize("mode", MODES)
def test_the_mac_is_the_given_one_or_derived_from_the_tap_name(build, ns, mode):
    g = start(build, ns, "udpecho", mode, mac="52:54:00:12:34:56")
    try:
        assert ns.run(["ping", "-c", "1", "-W", "3", GUEST_ADDR], timeout=20).returncode == 0
        assert neighbour_mac(ns, GUEST_ADDR) == "52:54:00:12:34:56"
    finally:
        stop(g)
    ns.run(["ip", "neigh", "flush", "all"])
    g = start(build, ns, "udpecho", mode, tap="mhvtest7")
    try:
        assert ns.run(["ping", "-c", "1", "-W", "3", GUEST_ADDR], timeout=20).returncode == 0
        assert neighbour_mac(ns, GUEST_ADDR) == fnv1a_mac("mhvtest7")
    finally:
        stop(g)


def test_net_fd_must_be_a_tap(build, tmp_path):
    require_kvm()
    a, b = socket.socketpair()
    try:
        cmd = [str(build / "drivers/minihv/vmm/minihv"), "run", "--net-fd", str(a.fileno()),
               str(guest(build, "udpecho", "pv"))]
        r = subprocess.run(cmd, pass_fds=(a.fileno(),), capture_output=True, text=True,
                           timeout=20)
    finally:
        a.close()
        b.close()
    assert r.returncode == STATUS_USAGE
    assert "is not a tap" in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--mac", "52:54:00:12:34:56"], "--mac: needs --net-fd"),
    (["--net-fd", "99"], "--net-fd: '99' is not an open file descriptor"),
])
def test_bad_net_options_are_usage_errors(build, args, message):
    require_kvm()
    r = run(build, guest(build, "udpecho", "pv"), *args)
    assert r.returncode == STATUS_USAGE
    assert message in r.stderr


@pytest.mark.parametrize("mac", ["01:00:5e:00:00:01", "00:00:00:00:00:00", "52:54:00:12:34",
                                 "52-54-00-12-34-56", "52:54:00:12:34:zz"])
def test_bad_macs_are_refused(build, ns, mac):
    g = NetGuest(build, ns, "udpecho", "pv", mac=mac)
    status, _, err = g.wait()
    assert status == STATUS_USAGE, err
    assert "--mac: expected a unicast address" in err


def test_guest_without_a_network_device_says_so(build):
    require_kvm()
    r = run(build, guest(build, "udpecho", "pv"), "--cmdline", "ip=10.99.0.2/24")
    assert "udpecho: FAIL: no network device" in r.stdout
