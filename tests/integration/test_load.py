"""Load, bounded in time and count: 100 HTTP clients and 20 D-Bus clients for 60 s with no
error, and 1000 event-stream subscribers that all see the same events."""
import asyncio
import json
import os
import resource
import subprocess
import textwrap
import time
import urllib.parse

import pytest

from loadgen import HttpConnection, open_event_stream, read_chunk

SECONDS = int(os.environ.get("HVD_LOAD_SECONDS", "60"))
CONFIG = "[allocation]\ncpu-overcommit = 1000\nreserved-memory-mib = 0\n"

DBUS_CLIENT = textwrap.dedent("""
    import dbus, json, os, sys, time
    name, seconds = sys.argv[1], float(sys.argv[2])
    conn = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    m = dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1", introspect=False),
                       "org.hvd1.Manager")
    d = dbus.Interface(conn.get_object("org.hvd1", m.GetDomain(name), introspect=False),
                       "org.hvd1.Domain")
    ops = errors = 0
    first_error = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for call in (m.ListDomains, lambda: m.GetDomain(name), m.GetHost, d.Pause, d.Resume,
                     d.GetInfo):
            try:
                call(signature="") if call is m.ListDomains else call()
                ops += 1
            except dbus.DBusException as e:
                errors += 1
                first_error = first_error or str(e)
    print(json.dumps({"ops": ops, "errors": errors, "first_error": first_error}))
""")


async def http_client(url, token, name, deadline, counts):
    u = urllib.parse.urlparse(url)
    c = HttpConnection(u.hostname, u.port, token)
    await c.open()
    try:
        running = False
        while time.monotonic() < deadline:
            steps = [("GET", "/api/v1/domains", None, 200), ("GET", "/api/v1/host", None, 200),
                     ("GET", f"/api/v1/domains/{name}", None, 200),
                     ("POST", f"/api/v1/domains/{name}/actions/"
                              f"{'destroy' if running else 'start'}", None, 200)]
            for method, path, body, expected in steps:
                status, payload = await c.request(method, path, body)
                counts["requests"] += 1
                if status != expected:
                    counts["errors"] += 1
                    counts.setdefault("first_error", f"{method} {path}: {status} {payload[:200]}")
            running = not running
    except Exception as e:  # a dropped connection is an error too
        counts["errors"] += 1
        counts.setdefault("first_error", repr(e))
    finally:
        await c.close()


def test_100_http_and_20_dbus_clients(make_hvd):
    h = make_hvd(config=CONFIG).start()
    m = h.manager()
    for i in range(100):
        m.CreateDomain({"name": f"http{i:03d}"})
    for i in range(20):
        m.CreateDomain({"name": f"bus{i:02d}"})
        h.domain(f"bus{i:02d}").Start()

    dbus_clients = [subprocess.Popen(["/usr/bin/python3", "-c", DBUS_CLIENT, f"bus{i:02d}",
                                      str(SECONDS)], env=h.env(), stdout=subprocess.PIPE,
                                     text=True) for i in range(20)]
    counts = {"requests": 0, "errors": 0}
    deadline = time.monotonic() + SECONDS

    async def all_http():
        await asyncio.gather(*(http_client(h.url, h.token, f"http{i:03d}", deadline, counts)
                               for i in range(100)))

    asyncio.run(all_http())
    results = [json.loads(p.communicate(timeout=SECONDS + 60)[0]) for p in dbus_clients]
    bus_ops = sum(r["ops"] for r in results)
    bus_errors = sum(r["errors"] for r in results)
    print(f"{counts['requests']} HTTP requests from 100 clients and {bus_ops} D-Bus calls from "
          f"20 clients in {SECONDS} s")
    assert counts["errors"] == 0, counts.get("first_error")
    assert bus_errors == 0, [r["first_error"] for r in results if r["errors"]]
    assert counts["requests"] >= 100 * 4 and bus_ops >= 20 * 6
    assert h.proc.poll() is None
    # Still consistent afterwards.
    assert h.db_query("PRAGMA integrity_check") == [("ok",)]
    held = h.db_query("SELECT COUNT(*) FROM allocations")[0][0]
    active = h.db_query("SELECT COUNT(*) FROM domains WHERE state != 'shutoff'")[0][0]
    assert held == active


def test_1000_event_stream_subscribers(make_hvd):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2200:
        pytest.skip(f"the descriptor limit ({hard}) is too low for 1000 streams")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    h = make_hvd(config=CONFIG).start()
    u = urllib.parse.urlparse(h.url)

    async def run():
        streams = await asyncio.gather(*(open_event_stream(u.hostname, u.port)
                                         for _ in range(1000)))
        # Everyone is subscribed: now something happens.
        await asyncio.to_thread(h.hvctl, "create", "crowd", check=True)
        await asyncio.to_thread(h.hvctl, "start", "crowd", check=True)

        async def sees_running(reader):
            data = b""
            while b'"state":"running"' not in data:
                data += await read_chunk(reader)
            return data

        seen = await asyncio.wait_for(asyncio.gather(*(sees_running(r) for r, _ in streams)),
                                      timeout=60)
        for _, w in streams:
            w.close()
        return seen

    seen = asyncio.run(run())
    assert len(seen) == 1000
    assert all(b'"domain":"crowd"' in s and b'"event":"created"' in s for s in seen)
    assert h.proc.poll() is None
    assert h.request("GET", "/api/v1/host")[0] == 200
