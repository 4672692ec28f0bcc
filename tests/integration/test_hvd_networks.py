"""hvd networks, inside a network namespace the test makes (hvd runs in it, so every bridge and
tap it creates lives there and nothing is sent beyond it): create, list, info and delete on
hvctl, D-Bus and HTTP with the refusals; pv and full minihv httpd guests reached over hvd's
bridge; bridges, taps and leases after an hvd restart and a kill -9; a kvm domain on the
bridge; dnsmasq answering DHCP on the bridge alone."""
import json
import os
import re
import shutil
import signal
import xml.etree.ElementTree as ET

import dbus
import pytest

from hvd_harness import SOURCE_ROOT, wait_for
from minihv_helpers import require_kvm
from net_helpers import Netns, require_net
from netns_hvd import NetnsHvd
from test_dbus_api import normalized

SUBNET = "10.91.0.0/24"
HOST = "10.91.0.1"


@pytest.fixture
def ns():
    require_net()
    n = Netns()
    yield n
    n.close()


@pytest.fixture
def nhvd(build, bus, workdir, ns):
    h = NetnsHvd(build, bus, workdir / "hvd", ns)
    h.start()
    yield h
    h.stop()


def ok(h, *args):
    p = h.hvctl(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def refused(h, *args, code=1):
    p = h.hvctl(*args)
    assert p.returncode == code, p.stdout + p.stderr
    return p.stderr


def links(ns):
    """name -> {"master", "up", "kind"} of every link in ns."""
    out = ns.run(["ip", "-d", "-j", "link", "show"]).stdout
    return {link["ifname"]: {"master": link.get("master"),
                             "up": "UP" in link.get("flags", []),
                             "kind": link.get("linkinfo", {}).get("info_kind")}
            for link in json.loads(out)}


def addresses(ns, dev):
    out = ns.run(["ip", "-j", "-4", "addr", "show", "dev", dev]).stdout
    return [f"{a['local']}/{a['prefixlen']}" for i in json.loads(out or "[]")
            for a in i.get("addr_info", [])]


def dbus_error(call, *args):
    with pytest.raises(dbus.DBusException) as err:
        call(*args)
    return err.value.get_dbus_name(), err.value.get_dbus_message()


def test_create_list_info_delete_and_refusals(nhvd, ns):
    assert "Network lan created." in ok(nhvd, "network", "create", "lan", "--subnet", SUBNET)
    listed = nhvd.hvctl_json("network", "list")
    assert [(n["name"], n["subnet"]) for n in listed] == [("lan", SUBNET)]
    bridge = listed[0]["bridge"]
    assert bridge.startswith("hvdbr")
    assert links(ns)[bridge]["up"] and links(ns)[bridge]["kind"] == "bridge"
    assert addresses(ns, bridge) == [f"{HOST}/24"]
    info = nhvd.hvctl_json("network", "info", "lan")
    assert (info["address"], info["dhcp"], info["nat"], info["domains"]) == (HOST, False, False, [])
    assert nhvd.db_query("SELECT name, bridge, subnet, prefix FROM networks") == \
        [("lan", bridge, "10.91.0.0", 24)]
    text = ok(nhvd, "network", "info", "lan")
    assert f"Subnet:   {SUBNET}" in text and f"Bridge:   {bridge}" in text

    # Bad input, on hvctl (D-Bus), then D-Bus itself and HTTP.
    assert "'name' must be" in refused(nhvd, "network", "create", "bad name", "--subnet",
                                       "10.92.0.0/24")
    assert "A.B.C.D/N" in refused(nhvd, "network", "create", "x", "--subnet", "10.92.0/24")
    assert "the network is 10.92.0.0/24" in refused(nhvd, "network", "create", "x", "--subnet",
                                                    "10.92.0.9/24")
    assert "too small" in refused(nhvd, "network", "create", "x", "--subnet", "10.92.0.0/31")
    assert "overlaps network 'lan'" in refused(nhvd, "network", "create", "x", "--subnet",
                                               "10.91.0.128/25")
    assert "already exists" in refused(nhvd, "network", "create", "lan", "--subnet",
                                       "10.93.0.0/24")
    assert "needs --subnet" in refused(nhvd, "network", "create", "x", code=2)
    assert "no network named 'ghost'" in refused(nhvd, "network", "info", "ghost", code=3)
    assert "no network named 'ghost'" in refused(nhvd, "network", "delete", "ghost", code=3)
    assert nhvd.hvctl_json("network", "list") == listed  # nothing half-made was left
    assert sorted(links(ns)) == sorted(["lo", bridge])

    m = nhvd.manager()
    assert dbus_error(m.CreateNetwork, "x", "10.91.0.0/16", False, False)[0] == \
        "org.hvd1.Error.InvalidArgument"
    assert dbus_error(m.CreateNetwork, "lan", "10.94.0.0/24", False, False)[0] == \
        "org.hvd1.Error.NetworkExists"
    assert dbus_error(m.GetNetwork, "ghost")[0] == "org.hvd1.Error.NoSuchNetwork"
    path = m.GetNetwork("lan")
    assert path == "/org/hvd1/network/lan"
    conn = nhvd.bus.connect()
    props = dbus.Interface(conn.get_object("org.hvd1", path),
                           "org.freedesktop.DBus.Properties").GetAll("org.hvd1.Network")
    assert (props["Name"], props["Subnet"], props["Bridge"], props["Address"]) == \
        ("lan", SUBNET, bridge, HOST)
    assert [tuple(map(str, r[:3])) for r in m.ListNetworks()] == [("lan", SUBNET, bridge)]
    doc = ET.parse(SOURCE_ROOT / "docs" / "org.hvd1.xml").getroot()
    documented = {i.get("name"): i for i in doc.findall("interface")}
    served = dbus.Interface(conn.get_object("org.hvd1", path),
                            "org.freedesktop.DBus.Introspectable").Introspect()
    served = {i.get("name"): i for i in ET.fromstring(served).findall("interface")}
    assert normalized(served["org.hvd1.Network"]) == normalized(documented["org.hvd1.Network"])
    tree = ET.fromstring(dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1/network"),
                                        "org.freedesktop.DBus.Introspectable").Introspect())
    assert [n.get("name") for n in tree.findall("node")] == ["lan"]

    status, _, body = nhvd.request("POST", "/api/v1/networks", {"name": "y", "subnet": "1.2.3"})
    assert status == 400 and "A.B.C.D/N" in body["detail"]
    status, _, body = nhvd.request("POST", "/api/v1/networks",
                                   {"name": "y", "subnet": "10.95.0.0/24", "vlan": 3})
    assert status == 400 and "unknown network setting 'vlan'" in body["detail"]
    status, _, body = nhvd.request("GET", "/api/v1/networks/ghost")
    assert status == 404 and body["kind"] == "NoSuchNetwork"
    status, headers, body = nhvd.request("POST", "/api/v1/networks",
                                         {"name": "web", "subnet": "10.96.0.0/28"})
    assert status == 201 and headers["Location"] == "/api/v1/networks/web", body
    assert body["address"] == "10.96.0.1" and body["bridge"] != bridge
    status, _, body = nhvd.request("GET", "/api/v1/networks")
    assert [n["name"] for n in body] == ["lan", "web"]
    assert addresses(ns, body[1]["bridge"]) == ["10.96.0.1/28"]
    assert nhvd.request("DELETE", "/api/v1/networks/web")[0] == 204
    assert [n["name"] for n in nhvd.request("GET", "/api/v1/networks")[2]] == ["lan"]
    assert len(nhvd.hvctl_http("network", "list", check=True).stdout.splitlines()) == 2

    # A network domains name cannot go; it can once they are gone.
    ok(nhvd, "create", "user1", "--network", "lan")
    ok(nhvd, "create", "user2", "--network", "lan")
    err = refused(nhvd, "network", "delete", "lan")
    assert "used by domains 'user1', 'user2'" in err
    assert dbus_error(m.DeleteNetwork, "lan")[0] == "org.hvd1.Error.InvalidState"
    status, _, body = nhvd.request("DELETE", "/api/v1/networks/lan")
    assert status == 409 and "'user1'" in body["detail"]
    assert nhvd.hvctl_json("network", "info", "lan")["domains"] == ["user1", "user2"]
    ok(nhvd, "delete", "user1")
    ok(nhvd, "delete", "user2")
    assert "Network lan deleted." in ok(nhvd, "network", "delete", "lan")
    assert bridge not in links(ns)
    assert nhvd.db_query("SELECT COUNT(*) FROM networks") == [(0,)]


def neighbour_mac(ns, addr):
    m = re.search(r"lladdr ([0-9a-f:]{17})", ns.run(["ip", "neigh", "show", addr]).stdout)
    return m.group(1) if m else None


def expected_body(n):
    return bytes(97 + i % 26 for i in range(26)) * (n // 26) + bytes(97 + i for i in range(n % 26))


def curl(ns, url, timeout):
    r = ns.run(["curl", "-s", "-S", "--max-time", timeout, url], timeout=timeout + 10,
               text=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def start_guest(h, name, mode, network="lan"):
    ok(h, "create", name, "--driver", "minihv", "--mode", mode, "--kernel", "httpd", "--memory",
       "16", "--network", network)
    ok(h, "start", name)
    nic = h.hvctl_json("info", name)["interfaces"][0]
    wait_for(lambda: f"httpd: listening on {nic['ipv4']}" in
             h.hvctl("console", name, "--tail", "50").stdout, timeout=30,
             what=f"{name} to listen")
    return nic


def test_pv_and_full_minihv_guests_on_a_network(nhvd, ns):
    require_kvm()
    ok(nhvd, "network", "create", "lan", "--subnet", SUBNET)
    bridge = nhvd.hvctl_json("network", "info", "lan")["bridge"]
    nics = {mode: start_guest(nhvd, mode, mode) for mode in ("pv", "full")}
    assert nics["pv"]["ipv4"] == "10.91.0.2" and nics["full"]["ipv4"] == "10.91.0.3"
    assert nics["pv"]["mac"] != nics["full"]["mac"]
    text = ok(nhvd, "info", "pv")
    assert f"Interface:  network lan, mac {nics['pv']['mac']}, ipv4 10.91.0.2" in text
    taps = {n: v for n, v in links(ns).items() if n.startswith("hvdtap")}
    assert len(taps) == 2 and all(v["master"] == bridge for v in taps.values()), taps

    for mode, size in (("pv", 200000), ("full", 3000)):
        addr = nics[mode]["ipv4"]
        r = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "3", addr], timeout=30)
        assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr
        assert neighbour_mac(ns, addr) == nics[mode]["mac"]
        assert b"Hello from minihv httpd" in curl(ns, f"http://{addr}/", 30)
        assert curl(ns, f"http://{addr}/bytes/{size}", 120) == expected_body(size)

    stats = nhvd.hvctl_json("stats", "pv")["stats"]["net"]
    assert stats["rx_frames"] > 0 and stats["tx_bytes"] > 200000, stats
    flat = ok(nhvd, "stats", "full")
    assert re.search(r"^net\.tx_frames\s+[1-9]", flat, re.M), flat
    status, _, metrics = nhvd.request("GET", "/metrics")
    assert "# TYPE hvd_domain_net_bytes_total counter" in metrics
    tx = re.search(r'^hvd_domain_net_bytes_total\{domain="pv",direction="tx"\} (\d+)$', metrics,
                   re.M)
    assert tx and int(tx.group(1)) > 200000, metrics
    assert re.search(r'^hvd_domain_net_frames_total\{domain="full",direction="rx"\} [1-9]',
                     metrics, re.M)
    assert 'hvd_domain_net_dropped_total{domain="pv",direction="rx"}' in metrics

    # hvd holds no tap of a running domain (its VMM does): a reboot opens it again, on the bridge.
    ok(nhvd, "reboot", "pv")
    wait_for(lambda: nhvd.hvctl("console", "pv", "--tail", "100").stdout.count(
        "httpd: listening on 10.91.0.2") == 2, timeout=30, what="pv to listen again")
    # (the first frame after the new tap joins the bridge may be lost: reachable first, then
    # every ping answered)
    wait_for(lambda: ns.run(["ping", "-c", "1", "-W", "1", nics["pv"]["ipv4"]],
                            timeout=10).returncode == 0, timeout=15, what="pv to answer again")
    r = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "3", nics["pv"]["ipv4"]], timeout=30)
    assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr
    assert not [link for link in os.listdir(f"/proc/{nhvd.proc.pid}/fd")
                if os.readlink(f"/proc/{nhvd.proc.pid}/fd/{link}") == "/dev/net/tun"]

    # The tap goes with the domain; the lease stays for its next start.
    ok(nhvd, "destroy", "full")
    wait_for(lambda: len([n for n in links(ns) if n.startswith("hvdtap")]) == 1,
             what="the full guest's tap to go")
    assert nhvd.hvctl_json("info", "full")["interfaces"][0]["ipv4"] == "10.91.0.3"
    ok(nhvd, "destroy", "pv")


def test_bridges_taps_and_leases_survive_a_restart_and_a_kill9(nhvd, ns):
    require_kvm()
    ok(nhvd, "network", "create", "lan", "--subnet", SUBNET)
    bridge = nhvd.hvctl_json("network", "info", "lan")["bridge"]
    nic = start_guest(nhvd, "g", "pv")
    leases = nhvd.db_query("SELECT mac, ipv4 FROM leases")
    assert leases == [(nic["mac"], nic["ipv4"])]

    def reachable():
        return ns.run(["ping", "-c", "1", "-W", "2", nic["ipv4"]], timeout=10).returncode == 0

    nhvd.restart()
    assert reachable()
    assert nhvd.hvctl_json("info", "g")["state"] == "running"
    # Adopted, it reboots onto its network again (a new VMM on a new tap).
    ok(nhvd, "reboot", "g")
    wait_for(lambda: nhvd.hvctl("console", "g", "--tail", "100").stdout.count(
        f"httpd: listening on {nic['ipv4']}") == 2, timeout=30, what="g to listen again")
    assert reachable()

    nhvd.kill9()
    # Behind hvd's back: its bridge goes, a stray bridge and a stray tap of its prefix appear.
    assert ns.run(["ip", "link", "del", bridge]).returncode == 0
    assert ns.run(["ip", "link", "add", "hvdbr77", "type", "bridge"]).returncode == 0
    assert ns.run(["ip", "tuntap", "add", "hvdtap999", "mode", "tap"]).returncode == 0
    assert ns.run(["ip", "link", "add", "keepme0", "type", "bridge"]).returncode == 0
    assert not reachable()
    nhvd.start()
    now = links(ns)
    assert now[bridge]["up"] and addresses(ns, bridge) == [f"{HOST}/24"]
    assert "hvdbr77" not in now and "hvdtap999" not in now
    assert "keepme0" in now  # not hvd's: never touched
    taps = [n for n in now if n.startswith("hvdtap")]
    assert len(taps) == 1 and now[taps[0]]["master"] == bridge, now
    assert reachable()
    assert b"Hello" in curl(ns, f"http://{nic['ipv4']}/", 20)
    assert nhvd.db_query("SELECT mac, ipv4 FROM leases") == leases
    assert nhvd.hvctl_json("info", "g")["interfaces"][0]["mac"] == nic["mac"]

    # A domain that stopped while hvd was away leaves no tap behind.
    pid = nhvd.hvctl_json("info", "g")["pid"]
    nhvd.kill9()
    os.kill(pid, signal.SIGKILL)
    nhvd.start()
    wait_for(lambda: nhvd.hvctl_json("info", "g")["state"] == "shutoff", what="g to be off")
    assert not [n for n in links(ns) if n.startswith("hvdtap")]
    # It starts again with the same lease.
    ok(nhvd, "start", "g")
    assert nhvd.hvctl_json("info", "g")["interfaces"][0] == nic
    ok(nhvd, "destroy", "g")


def test_kvm_domain_on_an_hvd_network_or_a_libvirt_network(nhvd, ns):
    ok(nhvd, "network", "create", "lan", "--subnet", SUBNET)
    ok(nhvd, "create", "k", "--driver", "kvm", "--mode", "full", "--network", "lan")
    ok(nhvd, "start", "k")
    nic = nhvd.hvctl_json("info", "k")["interfaces"][0]
    assert nic["network"] == "lan" and nic["ipv4"] == "10.91.0.2"
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", nic["mac"])
    assert nic["bridge"] == nhvd.hvctl_json("network", "info", "lan")["bridge"]
    # A name that is not an hvd network is libvirt's (test:///default has "default").
    ok(nhvd, "create", "lv", "--driver", "kvm", "--network", "default")
    ok(nhvd, "start", "lv")
    assert nhvd.hvctl_json("info", "lv")["interfaces"] == [{"network": "default"}]
    assert nhvd.hvctl_http("info", "lv", "--json", check=True).stdout.count("bridge") == 0
    # minihv attaches to hvd networks only.
    err = refused(nhvd, "create", "m", "--driver", "minihv", "--kernel", "httpd", "--memory",
                  "16", "--network", "default")
    assert "no hvd network named 'default'" in err
    ok(nhvd, "destroy", "k")
    ok(nhvd, "destroy", "lv")


def test_dnsmasq_answers_dhcp_on_the_bridge_and_is_supervised(nhvd, ns):
    if not shutil.which("dnsmasq"):
        pytest.skip("dnsmasq is not installed")
    if not shutil.which("busybox"):
        pytest.skip("no DHCP client here (busybox udhcpc)")
    assert "too small for DHCP" in refused(nhvd, "network", "create", "d", "--subnet",
                                           "10.97.0.0/30", "--dhcp")
    ok(nhvd, "network", "create", "d", "--subnet", SUBNET, "--dhcp")
    info = nhvd.hvctl_json("network", "info", "d")
    pid = info["dnsmasq_pid"]
    assert pid > 0 and "dnsmasq" in open(f"/proc/{pid}/cmdline").read()
    sockets = ns.run(["ss", "-lunp"]).stdout
    assert f"{HOST}:53" in sockets and f"%{info['bridge']}:67" in sockets, sockets

    # A domain's lease becomes a static host entry: a client with its MAC gets its address.
    ok(nhvd, "create", "k", "--driver", "kvm", "--network", "d")
    ok(nhvd, "start", "k")
    lease = nhvd.hvctl_json("info", "k")["interfaces"][0]
    ok(nhvd, "destroy", "k")
    assert ns.run(["ip", "link", "add", "vb", "type", "veth", "peer", "name", "vc"]).returncode == 0
    ns.run(["ip", "link", "set", "vb", "master", info["bridge"], "up"])

    def dhcp(mac):
        ns.run(["ip", "link", "set", "vc", "down"])
        ns.run(["ip", "link", "set", "vc", "address", mac, "up"])
        r = ns.run(["busybox", "udhcpc", "-i", "vc", "-n", "-q", "-f", "-t", "5", "-T", "2", "-s",
                    "/bin/true"], timeout=30)
        m = re.search(r"lease of ([0-9.]+) obtained from ([0-9.]+)", r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        return m.group(1), m.group(2)

    assert dhcp(lease["mac"]) == (lease["ipv4"], HOST)
    addr, server = dhcp("02:aa:bb:cc:dd:ee")  # unknown to hvd: the upper half of the subnet
    assert server == HOST and 128 <= int(addr.split(".")[3]) <= 254, addr

    # Killed, it is started again; deleting the network stops it.
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: nhvd.hvctl_json("network", "info", "d").get("dnsmasq_pid", 0) not in (0, pid),
             timeout=10, what="dnsmasq to be restarted")
    new_pid = nhvd.hvctl_json("network", "info", "d")["dnsmasq_pid"]
    assert dhcp(lease["mac"])[0] == lease["ipv4"]
    ok(nhvd, "delete", "k")
    ok(nhvd, "network", "delete", "d")
    wait_for(lambda: not os.path.exists(f"/proc/{new_pid}") or
             "dnsmasq" not in open(f"/proc/{new_pid}/cmdline").read(),
             what="dnsmasq to stop")
