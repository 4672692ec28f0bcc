"""The statistics history's memory budget ([history] memory-mib), shown and checked by
--check-config: with none for the domains' hour rings, a domain's hour is drawn from its day's
minutes while the host's stays at 1 s; a reload with room for them brings the 1 s points back
for the running domains."""
import signal
import subprocess
import time

from hvd_harness import wait_for


def hour(h, path):
    return h.request("GET", f"{path}/history?range=hour")[2]


def test_hour_without_rings_then_with(make_hvd):
    h = make_hvd(config="[history]\nmemory-mib = 0\n")
    h.start()
    assert h.request("POST", "/api/v1/domains", {"name": "budget-1", "driver": "minihv",
                                                 "kernel": "echo", "mode": "pv",
                                                 "memory_mib": 2})[0] == 201
    assert h.request("POST", "/api/v1/domains/budget-1/actions/start")[0] == 200

    # The day's current minute is the hour's newest point, 60 s apart.
    def minutes():
        d = hour(h, "/api/v1/domains/budget-1")
        return d if d["time"] and d["memory_kib"][-1] is not None else None
    d = wait_for(minutes, timeout=20, what="the hour drawn from the day's minutes")
    assert d["range"] == "hour" and d["step_s"] == 60 and len(d["time"]) <= 61
    assert all(t % 60 == 0 for t in d["time"])
    day = h.request("GET", "/api/v1/domains/budget-1/history?range=day")[2]
    assert day["time"][-1] == d["time"][-1] and day["step_s"] == 60
    host = wait_for(lambda: (lambda x: x if len(x["time"]) >= 2 else None)(
        hour(h, "/api/v1/host")), timeout=10, what="the host's seconds")
    assert host["step_s"] == 1

    # Room for rings again: the running domain's hour is at 1 s on the next ticks.
    h.config_path.write_text(h.config_path.read_text().replace("memory-mib = 0",
                                                               "memory-mib = 16"))
    h.signal(signal.SIGHUP)

    def seconds():
        d = hour(h, "/api/v1/domains/budget-1")
        return d if d["step_s"] == 1 and sum(v is not None for v in d["memory_kib"]) >= 2 else None
    d = wait_for(seconds, timeout=20, what="the hour back at 1 s")
    assert d["time"] == list(range(d["time"][0], d["time"][0] + len(d["time"])))


def test_check_config_shows_and_checks_the_budget(build, tmp_path):
    conf = tmp_path / "hvd.conf"
    conf.write_text("")
    check = [str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config"]
    p = subprocess.run(check, capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "[history]\nmemory-mib = 16\n" in p.stdout
    p = subprocess.run(check + ["--set", "history.memory-mib=4"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0 and "[history]\nmemory-mib = 4\n" in p.stdout
    conf.write_text("[history]\nmemory-mib = 16M\n")
    p = subprocess.run(check, capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert f"{conf}:2: memory-mib must be an integer in 0..4096, got '16M'" in p.stderr


# 1 MiB holds 249 rings of 30 s (4 KiB each, and their bookkeeping): one more domain running
# and none gets a ring of its own.
PAST_THE_BUDGET = 260


def test_past_the_budget_the_hour_stays_minutes(make_hvd, bus):
    from scale_helpers import DENSE, create_echo, timed_calls
    h = make_hvd(config=DENSE + "[history]\nmemory-mib = 1\n").start()
    conn = bus.connect()
    names = [f"many{i:03d}" for i in range(PAST_THE_BUDGET)]
    create_echo(h, conn, names)
    timed_calls(h, conn, names, "Start")

    def minutes():
        d = hour(h, "/api/v1/domains/many000")
        return d if d["step_s"] == 60 and d["time"] else None
    wait_for(minutes, timeout=30, what="the hour drawn from the day's minutes")
    # It stays so from one tick to the next (the running domains count against the budget
    # whether or not they hold a ring), for every domain.
    for _ in range(3):
        time.sleep(1.1)
        for name in (names[0], names[-1]):
            assert hour(h, f"/api/v1/domains/{name}")["step_s"] == 60, name
    assert hour(h, "/api/v1/host")["step_s"] == 1
    # Half of them stopped: room for 30 s rings again.
    timed_calls(h, conn, names[:PAST_THE_BUDGET // 2], "Destroy")
    wait_for(lambda: hour(h, f"/api/v1/domains/{names[-1]}")["step_s"] == 30, timeout=20,
             what="30 s rings for the ones still running")
