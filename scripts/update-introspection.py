#!/usr/bin/env python3
"""Regenerates docs/org.hvd1.xml from what a freshly built hvd serves (run after changing the
D-Bus API; tests/integration/test_dbus_api.py and test_hvd_networks.py check the two agree).
hvd runs in a network namespace of its own, so the example network's bridge lives there."""
import pathlib
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import dbus  # noqa: E402
from hvd_harness import Bus, build_dir  # noqa: E402
from net_helpers import Netns  # noqa: E402
from netns_hvd import NetnsHvd  # noqa: E402

HEADER = ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
          ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n'
          '<!-- The D-Bus API of hvd (org.hvd1); see README.md and hvd(8). -->\n')


def interface(conn, path, name):
    xml = dbus.Interface(conn.get_object("org.hvd1", path),
                         "org.freedesktop.DBus.Introspectable").Introspect()
    for i in ET.fromstring(xml).findall("interface"):
        if i.get("name") == name:
            return i
    raise SystemExit(f"{name} not served at {path}")


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-introspect-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    bus.start()
    ns = Netns()
    hvd = NetnsHvd(build_dir(), bus, work / "hvd", ns)
    try:
        hvd.start()
        conn = bus.connect()
        hvd.manager(conn).CreateDomain({"name": "example"})
        hvd.manager(conn).CreateNetwork("example", "10.99.99.0/24", False, False)
        root = ET.Element("node")
        root.append(interface(conn, "/org/hvd1", "org.hvd1.Manager"))
        root.append(interface(conn, "/org/hvd1/domain/example", "org.hvd1.Domain"))
        root.append(interface(conn, "/org/hvd1/network/example", "org.hvd1.Network"))
        ET.indent(root, "  ")
        (ROOT / "docs" / "org.hvd1.xml").write_text(HEADER + ET.tostring(root, "unicode") + "\n")
    finally:
        hvd.stop()
        ns.close()
        bus.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
