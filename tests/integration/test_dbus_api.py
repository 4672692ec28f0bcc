"""D-Bus API contract: named errors for every malformed argument, introspection as documented,
signals and PropertiesChanged."""
import threading
import xml.etree.ElementTree as ET

import dbus
import dbus.mainloop.glib
import pytest

from hvd_harness import SOURCE_ROOT

U32, U64 = dbus.UInt32, dbus.UInt64


def dbus_error(fn, *args, **kwargs):
    with pytest.raises(dbus.DBusException) as err:
        fn(*args, **kwargs)
    return err.value.get_dbus_name(), err.value.get_dbus_message()


BAD_SETTINGS = [
    ({"vcpus": U32(1)}, "org.hvd1.Error.InvalidArgument", "'name' is required"),
    ({"name": "a", "color": "red"}, "org.hvd1.Error.InvalidArgument", "unknown setting 'color'"),
    ({"name": "a", "vcpus": "2"}, "org.hvd1.Error.InvalidArgument",
     "'vcpus' must be of D-Bus type 'u', got 's'"),
    ({"name": "a", "vcpus": dbus.Int32(2)}, "org.hvd1.Error.InvalidArgument",
     "'vcpus' must be of D-Bus type 'u', got 'i'"),
    ({"name": "a", "memory_mib": U32(64)}, "org.hvd1.Error.InvalidArgument",
     "'memory_mib' must be of D-Bus type 't', got 'u'"),
    ({"name": "a", "vcpus": U32(0)}, "org.hvd1.Error.InvalidArgument", "'vcpus' must be 1..256, got 0"),
    ({"name": "a", "vcpus": U32(100000)}, "org.hvd1.Error.InvalidArgument", "'vcpus' must be 1..256"),
    ({"name": "a", "memory_mib": U64(2**64 - 1)}, "org.hvd1.Error.InvalidArgument",
     "'memory_mib' is out of range"),
    ({"name": "a", "memory_mib": U64(0)}, "org.hvd1.Error.InvalidArgument", "'memory_mib' must be 1.."),
    ({"name": "bad/name"}, "org.hvd1.Error.InvalidArgument", "'name' must be 1..64 characters"),
    ({"name": "x" * 65}, "org.hvd1.Error.InvalidArgument", "'name' must be 1..64 characters"),
    ({"name": ""}, "org.hvd1.Error.InvalidArgument", "'name' must be 1..64 characters"),
    ({"name": "a", "driver": "xen"}, "org.hvd1.Error.InvalidArgument", "'driver' must be"),
    ({"name": "a", "mode": "hvm"}, "org.hvd1.Error.InvalidArgument", "'mode' must be"),
    ({"name": "a", "uuid": "123"}, "org.hvd1.Error.InvalidArgument", "'uuid' must be a UUID"),
    ({"name": "a", "autostart": "yes"}, "org.hvd1.Error.InvalidArgument",
     "'autostart' must be of D-Bus type 'b'"),
    ({"name": "a", "on_crash": "explode"}, "org.hvd1.Error.InvalidArgument", "'on_crash' must be"),
    ({"name": "a", "cpuset": "0-"}, "org.hvd1.Error.InvalidArgument", "'cpuset' must be a CPU list"),
    ({"name": "a", "cpuset": "1000"}, "org.hvd1.Error.InvalidArgument", "not online"),
    ({"name": "a", "cmdline": "x\ty"}, "org.hvd1.Error.InvalidArgument", "control characters"),
    ({"name": "a", "kernel": "k" * 5000}, "org.hvd1.Error.InvalidArgument", "'kernel' is too long"),
    ({"name": "a", "initrd": "/boot/initrd.img"}, "org.hvd1.Error.InvalidArgument",
     "'initrd' needs 'kernel'"),
    ({"name": "a", "kernel": "/boot/vmlinuz", "initrd": "initrd.img"},
     "org.hvd1.Error.InvalidArgument", "'initrd' must be an absolute path"),
]


@pytest.mark.parametrize("settings,name,message", BAD_SETTINGS)
def test_create_domain_rejects_bad_settings(hvd, settings, name, message):
    m = hvd.manager()
    got_name, got_message = dbus_error(m.CreateDomain, dbus.Dictionary(settings, signature="sv"))
    assert got_name == name
    assert message in got_message
    assert m.ListDomains() == []


def test_named_errors_for_existing_and_missing_domains(hvd):
    m = hvd.manager()
    m.CreateDomain({"name": "dup", "uuid": "2f0c1a9e-5d3b-4c7e-9a41-0b6f1d2e3c4d"})
    assert dbus_error(m.CreateDomain, {"name": "dup"}) == (
        "org.hvd1.Error.DomainExists", "a domain named 'dup' already exists")
    name, msg = dbus_error(m.CreateDomain,
                           {"name": "other", "uuid": "2F0C1A9E-5D3B-4C7E-9A41-0B6F1D2E3C4D"})
    assert name == "org.hvd1.Error.DomainExists" and "already used by domain 'dup'" in msg
    assert dbus_error(m.GetDomain, "ghost") == ("org.hvd1.Error.NoSuchDomain",
                                                 "no domain named 'ghost'")
    assert dbus_error(m.DeleteDomain, "ghost")[0] == "org.hvd1.Error.NoSuchDomain"


def test_wrong_signatures_and_arguments(hvd):
    conn = hvd.bus.connect()
    obj = conn.get_object("org.hvd1", "/org/hvd1", introspect=False)
    # Not a dictionary at all: sd-bus refuses the signature.
    name, _ = dbus_error(obj.CreateDomain, "web", signature="s",
                         dbus_interface="org.hvd1.Manager")
    assert name == "org.freedesktop.DBus.Error.InvalidArgs"
    name, _ = dbus_error(obj.GetDomain, dbus.UInt32(3), signature="u",
                         dbus_interface="org.hvd1.Manager")
    assert name == "org.freedesktop.DBus.Error.InvalidArgs"
    hvd.manager(conn).CreateDomain({"name": "t"})
    d = hvd.domain("t", conn)
    d.Start()
    name, msg = dbus_error(d.Shutdown, U32(999999))
    assert name == "org.hvd1.Error.InvalidArgument" and "'timeout_s' must be 0..86400" in msg
    name, msg = dbus_error(d.Update, {"vcpus": U32(4)})
    assert name == "org.hvd1.Error.InvalidState"
    assert "'vcpus' can only be changed while the domain is shut off" in msg
    name, msg = dbus_error(d.Update, {"name": "renamed"})
    assert name == "org.hvd1.Error.InvalidArgument" and "cannot be changed" in msg
    d.Update({"autostart": True, "on_crash": "preserve"})
    props = hvd.domain_props("t", conn)
    assert props["Autostart"] == True and props["OnCrash"] == "preserve"


def normalized(element):
    """An interface element as comparable data (comments and whitespace ignored)."""
    def walk(e):
        return (e.tag, tuple(sorted(e.attrib.items())), tuple(walk(c) for c in e))
    return walk(element)


def test_introspection_matches_the_documented_xml(hvd):
    doc = ET.parse(SOURCE_ROOT / "docs" / "org.hvd1.xml").getroot()
    documented = {i.get("name"): i for i in doc.findall("interface")}
    hvd.manager().CreateDomain({"name": "intro"})
    conn = hvd.bus.connect()
    for path, iface in [("/org/hvd1", "org.hvd1.Manager"),
                        ("/org/hvd1/domain/intro", "org.hvd1.Domain")]:
        xml = dbus.Interface(conn.get_object("org.hvd1", path),
                             "org.freedesktop.DBus.Introspectable").Introspect()
        served = {i.get("name"): i for i in ET.fromstring(xml).findall("interface")}
        assert normalized(served[iface]) == normalized(documented[iface]), \
            f"{iface} differs from docs/org.hvd1.xml"
        # Arguments carry their names.
        for arg in served[iface].iter("arg"):
            assert arg.get("name"), f"unnamed argument in {iface}"
    # Domains are enumerated under the manager's tree.
    tree = ET.fromstring(dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1/domain"),
                                        "org.freedesktop.DBus.Introspectable").Introspect())
    assert "intro" in [n.get("name") for n in tree.findall("node")]


def test_signals_and_properties_changed(hvd):
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    from gi.repository import GLib
    loop = GLib.MainLoop()
    conn = dbus.bus.BusConnection(hvd.bus.address)
    seen = []

    def on_signal(*args, **kw):
        seen.append((kw["member"], [str(a) for a in args]))

    def on_props(iface, changed, invalidated, path=None):
        if "State" in changed:
            seen.append(("PropertiesChanged", [str(path), str(changed["State"])]))

    conn.add_signal_receiver(on_signal, dbus_interface="org.hvd1.Manager",
                             member_keyword="member")
    conn.add_signal_receiver(on_props, signal_name="PropertiesChanged",
                             dbus_interface="org.freedesktop.DBus.Properties",
                             path_keyword="path")

    def actions():
        hvd.hvctl("create", "sig", check=True)
        hvd.hvctl("start", "sig", check=True)
        hvd.hvctl("destroy", "sig", check=True)
        hvd.hvctl("delete", "sig", check=True)

    t = threading.Thread(target=actions)
    t.start()
    def when_done():
        if t.is_alive():
            return True
        GLib.timeout_add(300, loop.quit)  # let the last signals arrive
        return False

    GLib.timeout_add(50, when_done)
    GLib.timeout_add(15000, loop.quit)
    loop.run()
    t.join()
    members = [s[0] for s in seen]
    assert ("DomainNew", ["sig", "/org/hvd1/domain/sig"]) in seen
    assert ("DomainStateChanged", ["sig", "/org/hvd1/domain/sig", "running", "booted"]) in seen
    assert ("DomainStateChanged", ["sig", "/org/hvd1/domain/sig", "shutoff", "destroyed"]) in seen
    assert ("PropertiesChanged", ["/org/hvd1/domain/sig", "running"]) in seen
    assert ("DomainRemoved", ["sig", "/org/hvd1/domain/sig"]) in seen
    assert members.index("DomainNew") < members.index("DomainRemoved")


def test_get_host_view(hvd):
    host = hvd.manager().GetHost()
    for key in ["cpus", "cpus_online", "cpus_reserved", "vcpus_capacity", "vcpus_allocated",
                "vcpus_free", "memory_mib", "memory_reserved_mib", "memory_capacity_mib",
                "memory_allocated_mib", "memory_free_mib", "cpu_overcommit",
                "memory_overcommit", "drivers", "domains"]:
        assert key in host, key
    assert host["drivers"]["kvm"]["available"] == True
