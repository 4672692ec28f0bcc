"""The statistics history's memory budget ([history] memory-mib), shown and checked by
--check-config: with none for the domains' hour rings, a domain's hour is drawn from its day's
minutes while the host's stays at 1 s; a reload with room for them brings the 1 s points back
for the running domains."""
import signal
import subprocess

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
