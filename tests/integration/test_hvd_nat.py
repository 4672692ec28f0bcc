"""NAT for hvd networks, with three network namespaces of the test's own and nothing sent beyond
them: hvd's (the host), "outside" (the internet, reached from the host through a veth) and a
stand-in guest plugged into the network's bridge. The guest reaches a server outside, which
sees the host's address; hvd's table (table ip hvd) and IPv4 forwarding come and go with the
NAT network, come back after a restart and a kill -9, and host-only networks stay unrouted;
forwarding the host had on before stays on, and another table is never touched."""
import json
import subprocess
import sys

import pytest

from hvd_harness import wait_for
from net_helpers import Netns, require_net
from netns_hvd import NetnsHvd

SUBNET = "10.91.0.0/24"
HOST = "10.91.0.1"
GUEST = "10.91.0.200"
ONLY_SUBNET = "10.92.0.0/24"
ONLY_GUEST = "10.92.0.200"
UPLINK = "10.250.0.1"   # the host's address towards outside
SERVER = "10.250.0.2"   # outside's
PORT = 8088

# Answers each HTTP request with the address the connection came from.
PEER_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
print("listening", flush=True)
while True:
    c, peer = s.accept()
    c.settimeout(5)
    try:
        c.recv(4096)
        body = peer[0].encode()
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    c.close()
"""


@pytest.fixture
def spaces():
    """hvd's namespace, outside (a server on a veth from the host) and two stand-in guests."""
    require_net()
    made = {k: Netns() for k in ("host", "outside", "guest", "only")}
    host, outside = made["host"], made["outside"]
    server = None
    try:
        run = subprocess.run
        run(["ip", "link", "add", "up0", "netns", host.name, "type", "veth", "peer", "name",
             "out0", "netns", outside.name], check=True)
        host.run(["ip", "addr", "add", f"{UPLINK}/24", "dev", "up0"], check=True)
        host.run(["ip", "link", "set", "up0", "up"], check=True)
        outside.run(["ip", "addr", "add", f"{SERVER}/24", "dev", "out0"], check=True)
        outside.run(["ip", "link", "set", "out0", "up"], check=True)
        server = subprocess.Popen(outside.cmd([sys.executable, "-c", PEER_SERVER, PORT]),
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "listening"
        yield made
    finally:
        if server:
            server.kill()
            server.wait()
        for n in made.values():
            n.close()


@pytest.fixture
def nhvd(build, bus, workdir, spaces):
    h = NetnsHvd(build, bus, workdir / "hvd", spaces["host"])
    h.start()
    yield h
    h.stop()


def ok(h, *args):
    p = h.hvctl(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def plug(spaces, which, bridge, addr, gateway):
    """Plugs stand-in guest `which` into bridge (in hvd's namespace) with addr, routed by gateway."""
    host, guest = spaces["host"], spaces[which]
    subprocess.run(["ip", "link", "add", f"vg{which}", "netns", host.name, "type", "veth", "peer",
                    "name", "eth0", "netns", guest.name], check=True)
    host.run(["ip", "link", "set", f"vg{which}", "master", bridge, "up"], check=True)
    guest.run(["ip", "addr", "add", f"{addr}/24", "dev", "eth0"], check=True)
    guest.run(["ip", "link", "set", "eth0", "up"], check=True)
    guest.run(["ip", "route", "add", "default", "via", gateway], check=True)


def fetch(ns, timeout=5):
    """What the server outside answers ns's request with (the peer address it saw), or None."""
    r = ns.run(["curl", "-s", "--max-time", timeout, f"http://{SERVER}:{PORT}/"],
               timeout=timeout + 10)
    return r.stdout if r.returncode == 0 else None


def table(ns):
    """table ip hvd as nft lists it in ns, or None when there is none."""
    r = ns.run(["nft", "-j", "list", "table", "ip", "hvd"])
    if r.returncode != 0:
        return None
    rules = [e["rule"] for e in json.loads(r.stdout)["nftables"] if "rule" in e]
    return [(rule["chain"], json.dumps(rule["expr"], sort_keys=True)) for rule in rules]


def forwarding(ns):
    return ns.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip()


def masquerades(rules, subnet):
    addr, prefix = subnet.split("/")
    return [r for c, r in rules if c == "postrouting" and '"masquerade"' in r and
            f'"addr": "{addr}", "len": {prefix}' in r]


def test_nat_network_reaches_outside_as_the_host(nhvd, spaces):
    if not subprocess.run(["which", "nft"], capture_output=True).stdout:
        pytest.skip("nft (nftables) is not installed")
    host, outside = spaces["host"], spaces["outside"]
    assert forwarding(host) == "0" and table(host) is None
    ok(nhvd, "network", "create", "only", "--subnet", ONLY_SUBNET)
    assert table(host) is None  # host-only networks need no table

    assert "Network nat created." in ok(nhvd, "network", "create", "nat", "--subnet", SUBNET,
                                        "--nat")
    info = nhvd.hvctl_json("network", "info", "nat")
    assert info["nat"] is True
    assert "NAT:      yes" in ok(nhvd, "network", "info", "nat")
    listed = {n["name"]: n["nat"] for n in nhvd.hvctl_json("network", "list")}
    assert listed == {"nat": True, "only": False}
    assert nhvd.db_query("SELECT name, nat FROM networks ORDER BY name") == [("nat", 1),
                                                                            ("only", 0)]
    rules = table(host)
    assert len(masquerades(rules, SUBNET)) == 1 and not masquerades(rules, ONLY_SUBNET), rules
    assert forwarding(host) == "1"
    # Nothing but hvd's own table is there.
    tables = host.run(["nft", "list", "tables"]).stdout.split("\n")
    assert [t for t in tables if t] == ["table ip hvd"], tables

    plug(spaces, "guest", info["bridge"], GUEST, HOST)
    only_bridge = nhvd.hvctl_json("network", "info", "only")["bridge"]
    plug(spaces, "only", only_bridge, ONLY_GUEST, "10.92.0.1")
    # The server sees the host's address, not the guest's.
    assert fetch(spaces["guest"]) == UPLINK
    # A host-only network is not routed out, though forwarding is on now.
    assert fetch(spaces["only"], timeout=3) is None
    # Nor can outside open a connection into the NAT network.
    outside.run(["ip", "route", "add", SUBNET, "via", UPLINK], check=True)
    r = outside.run(["ping", "-c", "1", "-W", "2", GUEST], timeout=10)
    assert r.returncode != 0, r.stdout

    # Restarted, hvd writes the same table again; after a kill -9 and the table removed behind
    # its back, it makes it again.
    before = table(host)
    nhvd.restart()
    assert table(host) == before
    nhvd.kill9()
    assert host.run(["nft", "delete", "table", "ip", "hvd"]).returncode == 0
    # Without it the guest is routed as it is (outside has a route back here): no masquerade.
    assert fetch(spaces["guest"]) == GUEST
    nhvd.start()
    assert table(host) == before and forwarding(host) == "1"
    assert fetch(spaces["guest"]) == UPLINK

    # The same over HTTP and D-Bus: a second NAT network, then gone again.
    status, _, body = nhvd.request("POST", "/api/v1/networks",
                                   {"name": "nat2", "subnet": "10.93.0.0/24", "nat": True})
    assert status == 201 and body["nat"] is True, body
    assert len(masquerades(table(host), "10.93.0.0/24")) == 1
    status, _, body = nhvd.request("POST", "/api/v1/networks",
                                   {"name": "nat3", "subnet": "10.94.0.0/24", "nat": "yes"})
    assert status == 400 and "'nat' must be a boolean" in body["detail"]
    assert nhvd.request("DELETE", "/api/v1/networks/nat2")[0] == 204
    m = nhvd.manager()
    m.CreateNetwork("nat4", "10.95.0.0/24", True, False)
    assert len(masquerades(table(host), "10.95.0.0/24")) == 1
    m.DeleteNetwork("nat4")
    assert table(host) == before

    # The table and forwarding go with the last NAT network.
    ok(nhvd, "network", "delete", "nat")
    wait_for(lambda: table(host) is None, timeout=5, what="table ip hvd to go")
    assert forwarding(host) == "0"
    assert fetch(spaces["guest"], timeout=3) is None
    ok(nhvd, "network", "delete", "only")


def test_forwarding_the_host_had_on_stays_on(nhvd, spaces):
    if not subprocess.run(["which", "nft"], capture_output=True).stdout:
        pytest.skip("nft (nftables) is not installed")
    host = spaces["host"]
    # A table of someone else's is never touched.
    assert host.run(["nft", "add", "table", "ip", "theirs"]).returncode == 0
    assert host.run(["sysctl", "-w", "net.ipv4.ip_forward=1"]).returncode == 0
    ok(nhvd, "network", "create", "nat", "--subnet", SUBNET, "--nat")
    assert table(host) and forwarding(host) == "1"
    nhvd.restart()
    ok(nhvd, "network", "delete", "nat")
    assert table(host) is None
    assert forwarding(host) == "1"  # hvd did not turn it on, so it does not turn it off
    assert host.run(["nft", "list", "table", "ip", "theirs"]).returncode == 0
