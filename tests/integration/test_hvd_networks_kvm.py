"""A kvm guest (stock Linux under QEMU TCG, on the test's private libvirtd) and minihv guests on
the same hvd network, talking to each other, and the Linux guest reaching a server outside
through the network's NAT, which sees the host's address.

QEMU's tap is made by libvirtd in libvirtd's network namespace and must join hvd's bridge, so
hvd runs in that namespace: the harness's namespace (made by `unshare --net`) gets a name with
`ip netns attach`, and hvd runs under `ip netns exec` in it, as the other network tests run it
in a namespace of their own. Its bridge, the minihv taps and QEMU's tap are then in one place,
and nothing reaches the host's own namespace. "outside" is one more namespace, on a veth."""
import hashlib
import os
import subprocess
import sys
import uuid

import pytest

import linux_guest
from kvm_fixtures import KVM_CONFIG, libvirt_cache, libvirtd  # noqa: F401
from hvd_harness import wait_for
from minihv_helpers import require_kvm
from net_helpers import Netns, require_net
from netns_hvd import NetnsHvd
from test_hvd_nat import PEER_SERVER, PORT, SERVER, UPLINK
from test_hvd_networks import expected_body, start_guest
from test_kvm_linux import Login, create_linux, wait_boots

SUBNET = "10.91.0.0/24"
HOST = "10.91.0.1"


class AttachedNetns(Netns):
    """A name for the network namespace a process already is in (ip netns attach); close()
    drops the name only: the namespace lives as long as its processes."""

    def __init__(self, pid):
        self.name = f"hvd-lv-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "attach", self.name, str(pid)], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)


@pytest.fixture(autouse=True)
def needs_linux():
    lack = linux_guest.missing()
    if lack:
        pytest.skip(f"the Linux guest needs {', '.join(lack)} (scripts/install-deps.sh check)")


@pytest.fixture
def spaces(libvirtd):
    """libvirtd's namespace (named) and outside, a server on a veth from it."""
    require_net()
    host = AttachedNetns(libvirtd.virtlogd_pid)
    outside = Netns()
    server = None
    try:
        subprocess.run(["ip", "link", "add", "up0", "netns", host.name, "type", "veth", "peer",
                        "name", "out0", "netns", outside.name], check=True)
        host.run(["ip", "addr", "add", f"{UPLINK}/24", "dev", "up0"], check=True)
        host.run(["ip", "link", "set", "up0", "up"], check=True)
        outside.run(["ip", "addr", "add", f"{SERVER}/24", "dev", "out0"], check=True)
        outside.run(["ip", "link", "set", "out0", "up"], check=True)
        server = subprocess.Popen(outside.cmd([sys.executable, "-c", PEER_SERVER, PORT]),
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "listening"
        yield host, outside
    finally:
        if server:
            server.kill()
            server.wait()
        outside.close()
        host.run(["ip", "link", "del", "up0"])
        host.close()


@pytest.fixture
def kvm_hvd(build, bus, workdir, libvirtd, spaces):
    """hvd in libvirtd's network namespace, its kvm driver on that libvirtd (stopped first)."""
    h = NetnsHvd(build, bus, workdir / "hvd", spaces[0], config=KVM_CONFIG, kvm_uri=libvirtd.uri)
    h.start()
    yield h
    h.stop()


def ok(h, *args):
    p = h.hvctl(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_linux_kvm_guest_and_minihv_guests_on_one_network(kvm_hvd, libvirtd, spaces, workdir):
    require_kvm()
    hvd = kvm_hvd
    ok(hvd, "network", "create", "lan", "--subnet", SUBNET, "--nat")
    bridge = hvd.hvctl_json("network", "info", "lan")["bridge"]
    nics = {mode: start_guest(hvd, f"m{mode}", mode) for mode in ("pv", "full")}

    create_linux(hvd, workdir, "linux", "pv", args=("--network", "lan"))
    hvd.hvctl("start", "linux", check=True, timeout=60)
    text = wait_boots(hvd, "linux", 1)
    assert "net=virtio_net" in text, text
    nic = hvd.hvctl_json("info", "linux")["interfaces"][0]
    assert nic["network"] == "lan" and nic["bridge"] == bridge
    iface = libvirtd.domain_xml("linux").find("devices/interface")
    assert iface.get("type") == "bridge" and iface.find("source").get("bridge") == bridge
    # QEMU's tap, the minihv taps and hvd's bridge are in the same namespace, on one bridge.
    tap = iface.find("target").get("dev")
    out = spaces[0].run(["ip", "-o", "link", "show", "master", bridge]).stdout
    assert tap in out and out.count("hvdtap") == 2, out

    term = Login(hvd, "linux")
    # The NIC's name is the kernel's (no udev renames it): the one link with a device.
    term.run("for n in /sys/class/net/*; do [ -e $n/device ] && nic=${n##*/}; done; "
             "echo nic-$((5*5))", "nic-25")
    out = term.run(f"ip addr add {nic['ipv4']}/24 dev $nic; ip link set $nic up; "
                   f"ip route add default via {HOST}; ip -4 addr show dev $nic; "
                   "echo net-$((6*7))", "net-42")
    assert f"inet {nic['ipv4']}/24".encode() in out, out
    for mode in ("pv", "full"):
        addr = nics[mode]["ipv4"]
        out = term.run(f"ping -c 2 -W 5 {addr} && echo ping-$((1+1))", "ping-2", timeout=30)
        assert b"2 packets received" in out, out
        out = term.run(f"wget -q -O - http://{addr}/; echo; echo got-$((2+2))", "got-4",
                       timeout=60)
        assert b"Hello from minihv httpd" in out, out
    # A body of 100000 bytes from the pv guest, whole.
    size = 100000
    digest = hashlib.md5(expected_body(size)).hexdigest()
    out = term.run(f"wget -q -O - http://{nics['pv']['ipv4']}/bytes/{size} | md5sum; "
                   f"echo sum-$((3+3))", "sum-6", timeout=60)
    assert digest.encode() in out, out
    # Out through NAT: the server outside sees the host, not the guest.
    out = term.run(f"wget -q -O - http://{SERVER}:{PORT}/; echo; echo out-$((4+4))", "out-8",
                   timeout=30)
    assert f"\n{UPLINK}\r".encode() in out and nic["ipv4"].encode() not in out, out

    # The minihv NIC counted the exchange (the driver's statistics are refreshed every 2 s).
    seen = []

    def counted():
        seen[:] = [hvd.hvctl_json("stats", "mpv")["stats"]["net"]]
        return seen[0]["tx_bytes"] > size and seen[0]["rx_frames"] > 0
    try:
        wait_for(counted, timeout=10, what="the pv guest's NIC to count the body")
    except TimeoutError:
        raise AssertionError(f"net statistics of mpv: {seen}")
    for name in ("linux", "mpv", "mfull"):
        ok(hvd, "destroy", name)
