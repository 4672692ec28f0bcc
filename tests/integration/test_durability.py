"""Every acknowledged operation is durable: hvd killed with -9 in the middle of a burst from 16
concurrent D-Bus clients has, after its restart, a committed record of every start and destroy
it answered (group commit must never answer before the commit)."""
import json
import signal
import threading
import time

import dbus

from hvd_harness import wait_for

CLIENTS = 16
ROOMY = "[allocation]\ncpu-overcommit = 1000\nreserved-memory-mib = 0\n"


def burst(h, name, acked, stop):
    """Starts and destroys domain name until told to stop or hvd goes away; records each
    operation hvd answered with success."""
    conn = h.bus.connect()
    try:
        dom = h.domain(name, conn)
        verbs = ("Start", "Destroy")
        i = 0
        while not stop.is_set():
            verb = verbs[i % 2]
            try:
                getattr(dom, verb)(timeout=5)
            except dbus.exceptions.DBusException:
                return  # hvd is gone (or refused): nothing acknowledged
            acked.append(verb)
            i += 1
    finally:
        conn.close()


def test_acknowledged_operations_survive_kill9(make_hvd):
    h = make_hvd(config=ROOMY).start()
    names = [f"d{i:02d}" for i in range(CLIENTS)]
    m = h.manager()
    for n in names:
        m.CreateDomain({"name": n, "driver": "kvm", "memory_mib": dbus.UInt64(1)})

    acked = {n: [] for n in names}
    stop = threading.Event()
    threads = [threading.Thread(target=burst, args=(h, n, acked[n], stop)) for n in names]
    for t in threads:
        t.start()
    wait_for(lambda: sum(len(a) for a in acked.values()) >= 400, timeout=30,
             what="a few hundred operations")
    h.proc.send_signal(signal.SIGKILL)
    h.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    total = sum(len(a) for a in acked.values())
    assert total >= 400

    h.stop()
    h.start()
    for n in names:
        rows = h.db_query("SELECT detail FROM events WHERE domain = ? AND event = 'state-changed' "
                          "ORDER BY id", n)
        states = [json.loads(r[0]) for r in rows]
        running = sum(1 for s in states if (s["state"], s["reason"]) == ("running", "booted"))
        destroyed = sum(1 for s in states
                        if (s["state"], s["reason"]) == ("shutoff", "destroyed"))
        assert running >= acked[n].count("Start"), (n, acked[n], states[-4:])
        assert destroyed >= acked[n].count("Destroy"), (n, acked[n], states[-4:])
    # The restarted hvd answers as usual.
    assert h.hvctl_json("info", names[0])["name"] == names[0]
