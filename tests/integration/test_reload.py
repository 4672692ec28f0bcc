"""SIGHUP reloads: both drivers keep working after one, reloads while operations are in flight
lose nothing, a driver's new settings take effect at the next start, and a reload any driver
refuses is refused whole."""
import os
import shutil
import signal
import threading

import pytest

from hvd_harness import wait_for

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

MANY = "[allocation]\ncpu-overcommit = 50\nreserved-memory-mib = 0\n"


def minihv_section(build, binary=None):
    return (f"[minihv]\nbinary = {binary or build / 'drivers/minihv/vmm/minihv'}\n"
            f"guest-dir = {build}/drivers/minihv/guest\n")


def reload(h, text):
    """Rewrites the configuration, sends SIGHUP and waits until hvd has answered it."""
    before = h.read_log().count("Configuration reloaded") + h.read_log().count("Reload refused")
    h.config_path.write_text(text)
    h.signal(signal.SIGHUP)
    wait_for(lambda: h.read_log().count("Configuration reloaded")
             + h.read_log().count("Reload refused") > before, what="the reload")


def state(h, name):
    info = h.hvctl_json("info", name)
    return info["state"], info["reason"]


def create_minihv(h, name, guest="echo"):
    h.hvctl("create", name, "--driver", "minihv", "--mode", "pv", "--kernel", guest,
            "--memory", "16", check=True)


def test_reload_then_both_drivers_create_start_and_stop(make_hvd, build):
    h = make_hvd(config=MANY, minihv_paths=False)
    h.config += minihv_section(build)
    h.start()
    for _ in range(3):
        reload(h, MANY + minihv_section(build))
    assert "Reload refused" not in h.read_log()

    create_minihv(h, "m1")
    h.hvctl("create", "k1", "--driver", "kvm", "--memory", "64", check=True)
    for name in ("m1", "k1"):
        h.hvctl("start", name, check=True)
        assert state(h, name) == ("running", "booted")
    wait_for(lambda: "echo: ready" in h.hvctl("console", "m1", "--tail", "100").stdout,
             what="the guest's greeting")
    h.hvctl("stop", "k1", check=True)
    h.hvctl("destroy", "m1", check=True)
    assert state(h, "k1") == ("shutoff", "shutdown")
    assert state(h, "m1") == ("shutoff", "destroyed")


def test_reload_while_operations_are_in_flight(make_hvd, build):
    h = make_hvd(config=MANY, minihv_paths=False)
    h.config += minihv_section(build)
    h.start()
    names = [f"f{i}" for i in range(8)]
    for n in names:
        create_minihv(h, n)

    stop = threading.Event()

    h.config_path.write_text(MANY + minihv_section(build))

    def hup():
        while not stop.is_set():
            h.signal(signal.SIGHUP)
            stop.wait(0.01)

    t = threading.Thread(target=hup)
    t.start()
    try:
        for _ in range(2):
            for verb in ("start", "destroy"):
                results = {}
                workers = [threading.Thread(target=lambda n=n: results.update(
                    {n: (lambda p: (p.returncode, p.stderr.strip()))(h.hvctl(verb, n))}))
                    for n in names]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                assert results == {n: (0, "") for n in names}, verb
    finally:
        stop.set()
        t.join()
    assert h.proc.poll() is None
    assert h.read_log().count("Configuration reloaded") >= 2
    for n in names:
        assert state(h, n) == ("shutoff", "destroyed")
    # Every transition was recorded: two starts (starting, running) and two destroys each.
    rows = h.db_query("SELECT domain, COUNT(*) FROM events WHERE event = 'state-changed' "
                      "GROUP BY domain")
    assert {n: c for n, c in rows} == {n: 6 for n in names}


def test_new_minihv_binary_takes_effect_at_the_next_start(make_hvd, build, tmp_path):
    h = make_hvd(config=MANY, minihv_paths=False)
    h.config += minihv_section(build)
    h.start()
    create_minihv(h, "old")
    create_minihv(h, "new")
    h.hvctl("start", "old", check=True)
    old_pid = h.hvctl_json("info", "old")["pid"]

    copy = tmp_path / "bin" / "minihv-copy"
    copy.parent.mkdir()
    shutil.copy2(build / "drivers/minihv/vmm/minihv", copy)
    reload(h, MANY + minihv_section(build, copy))
    assert "Configuration reloaded" in h.read_log()
    h.hvctl("start", "new", check=True)
    new_pid = h.hvctl_json("info", "new")["pid"]
    assert os.readlink(f"/proc/{new_pid}/exe") == str(copy)
    # The running domain keeps the program it started with.
    assert os.readlink(f"/proc/{old_pid}/exe") == str(build / "drivers/minihv/vmm/minihv")
    h.hvctl("destroy", "new", check=True)

    # A binary that cannot run makes the driver unavailable with the reason, and back.
    reload(h, MANY + minihv_section(build, tmp_path / "missing"))
    p = h.hvctl("start", "new")
    assert p.returncode != 0
    assert f"{tmp_path}/missing cannot be run" in p.stderr
    assert "minihv" in h.hvctl_json("host")["drivers"]
    assert h.hvctl_json("host")["drivers"]["minihv"]["available"] is False
    reload(h, MANY + minihv_section(build, copy))
    wait_for(lambda: h.hvctl_json("host")["drivers"]["minihv"]["available"],
             what="minihv to be available again")
    h.hvctl("start", "new", check=True)
    assert state(h, "old") == ("running", "booted")
    h.hvctl("destroy", "new", check=True)
    h.hvctl("destroy", "old", check=True)


def test_a_reload_a_driver_refuses_is_refused_whole(make_hvd, build):
    h = make_hvd(config="[allocation]\ncpu-overcommit = 1\n", minihv_paths=False)
    h.config += minihv_section(build)
    h.start()
    cpus = h.hvctl_json("host")["cpus_available"]

    # hvd's own key is fine, the minihv key is not: nothing of the file is taken.
    reload(h, "[allocation]\ncpu-overcommit = 3\n" + minihv_section(build) + "colour = blue\n")
    log = h.read_log()
    assert "Reload refused" in log
    assert f"{h.config_path}:6: unknown key 'colour' in section [minihv]" in log
    assert h.hvctl_json("host")["vcpus_capacity"] == cpus

    reload(h, "[allocation]\ncpu-overcommit = 3\n[kvm]\ndomain-type = xen\n"
           + minihv_section(build))
    assert (f"{h.config_path}:4: domain-type must be 'auto', 'kvm' or 'qemu', got 'xen'"
            in h.read_log())
    reload(h, "[allocation]\ncpu-overcommit = 3\n[colour]\nkey = 1\n" + minihv_section(build))
    assert f"{h.config_path}:4: unknown section [colour]" in h.read_log()
    assert h.hvctl_json("host")["vcpus_capacity"] == cpus

    # The running configuration still works.
    create_minihv(h, "still")
    h.hvctl("start", "still", check=True)
    h.hvctl("destroy", "still", check=True)
    reload(h, "[allocation]\ncpu-overcommit = 3\n" + minihv_section(build))
    assert h.hvctl_json("host")["vcpus_capacity"] == 3 * cpus
