"""The statistics surfaces that read every domain at once, from the drivers' typed counters:
/metrics carries the same numbers as a running minihv domain's stats (before and after its guest
counts more), its history's rates come from them, and an event stream that asks for one domain
gets that domain's whole statistics object and no other domain's."""
import os
import re
import time

import pytest

from clients import EventStream
from hvd_harness import wait_for

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")


def start_echo(h, name):
    assert h.request("POST", "/api/v1/domains", {"name": name, "driver": "minihv",
                                                 "kernel": "echo", "mode": "pv",
                                                 "memory_mib": 4})[0] == 201
    assert h.request("POST", f"/api/v1/domains/{name}/actions/start")[0] == 200
    wait_for(lambda: "echo: ready" in h.hvctl("console", name, "--tail", "200").stdout,
             what=f"{name}'s greeting")


def series(text, family, domain, **labels):
    """The value of family's sample of domain with labels, or None."""
    want = [f'domain="{domain}"'] + [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        m = re.match(rf"^{family}\{{(.*)\}} (\S+)$", line)
        if m and all(w in m.group(1).split(",") for w in want):
            return float(m.group(2))
    return None


def stats(h, name):
    status, _, body = h.request("GET", f"/api/v1/domains/{name}/stats")
    assert status == 200, body
    return body["stats"] if "stats" in body else body


def test_metrics_history_and_events_from_counters(hvd):
    start_echo(hvd, "ctr-a")
    start_echo(hvd, "ctr-b")
    # what a stats object says brackets what /metrics said in between
    before = wait_for(lambda: (lambda s: s if s.get("sampled_from") == "page" else None)(
        stats(hvd, "ctr-a")), timeout=10, what="a sample from the page")
    status, _, text = hvd.request("GET", "/metrics")
    assert status == 200
    after = stats(hvd, "ctr-a")
    total = series(text, "hvd_domain_exits_total", "ctr-a", reason="total")
    assert before["exits_by_reason"]["total"] <= total <= after["exits_by_reason"]["total"]
    cpu = series(text, "hvd_domain_cpu_seconds_total", "ctr-a")
    assert before["cpu_time_ns"] / 1e9 <= cpu + 1e-9 and cpu <= after["cpu_time_ns"] / 1e9 + 1e-9
    assert series(text, "hvd_domain_stats_stale", "ctr-a") == 0
    assert 0 <= series(text, "hvd_domain_stats_age_seconds", "ctr-a") < 2
    for device, n in after["exits_by_device"].items():
        v = series(text, "hvd_domain_device_exits_total", "ctr-a", device=device)
        # a device that never counted is left out; one that did is there, not above stats
        assert (v is None and n == 0) or (v is not None and v <= n), (device, v, n)

    # typing makes the guest count (once its history has points to take a rate against):
    # /metrics follows, and so does the history
    wait_for(lambda: len(hvd.request("GET", "/api/v1/domains/ctr-a/history?range=hour")[2]
                         ["time"]) >= 2, timeout=10, what="ctr-a's first history points")
    assert hvd.request("POST", "/api/v1/domains/ctr-a/console", {"data": "counted\r"})[0] == 204
    wait_for(lambda: (series(hvd.request("GET", "/metrics")[2], "hvd_domain_device_exits_total",
                             "ctr-a", device="hypercall:console") or 0)
             > before["exits_by_device"]["hypercall:console"], timeout=10,
             what="the console's exits counted in /metrics")

    def hour():
        d = hvd.request("GET", "/api/v1/domains/ctr-a/history?range=hour")[2]
        return d if (d["memory_kib"] and d["memory_kib"][-1] and
                     any(v and v > 0 for v in d["exits_per_s"])) else None
    d = wait_for(hour, timeout=15, what="ctr-a's history with the typing's exits")
    assert d["memory_kib"][-1] > 0

    # one domain's stream: its whole object, nobody else's
    only = EventStream(hvd, path="/api/v1/events?domain=ctr-b")
    try:
        ev = wait_for(lambda: only.of("stats"), timeout=15, what="ctr-b's stats event")
        s = ev[-1]["data"]["stats"]
        assert ev[-1]["data"]["domain"] == "ctr-b"
        for key in ("cpu_time_ns", "memory_kib", "exits_by_reason", "exits_by_device", "memory",
                    "console", "block", "net", "uptime_ns", "stale", "stats_age_ms",
                    "console_input_dropped_bytes", "sampled_from"):
            assert key in s, key
        time.sleep(1.5)
        assert {e["data"]["domain"] for e in only.of("stats")} == {"ctr-b"}
    finally:
        only.close()
    for name in ("ctr-a", "ctr-b"):
        assert hvd.request("POST", f"/api/v1/domains/{name}/actions/destroy")[0] == 200
