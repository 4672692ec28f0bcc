"""minihv domains through hvd: every lifecycle verb in both modes with the console checked, the
on-crash policies, allocation refusals, a killed hvd that re-attaches 20 running domains, a
VMM killed behind hvd's back, and the interactive console."""
import json
import os
import signal
import subprocess
import time

import dbus
import pytest

from clients import PtyConsole
from hvd_harness import wait_for

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

MANY = "[allocation]\ncpu-overcommit = 50\nreserved-memory-mib = 0\n"


def create(hvd, name, *args, guest="echo", mode="pv", memory="16"):
    p = hvd.hvctl("create", name, "--driver", "minihv", "--mode", mode, "--kernel", guest,
                  "--memory", memory, *args)
    assert p.returncode == 0, p.stderr


def state(hvd, name):
    info = hvd.hvctl_json("info", name)
    return info["state"], info["reason"]


def console(hvd, name):
    return hvd.hvctl("console", name, "--tail", "200", check=True).stdout


def wait_state(hvd, name, expected, timeout=10):
    return wait_for(lambda: state(hvd, name) == expected, timeout=timeout,
                    what=f"{name} to be {expected}")


def type_into(hvd, name, text):
    """Types text into a domain's console over D-Bus (OpenConsole hands over the fd)."""
    fd = hvd.domain(name).OpenConsole().take()
    try:
        os.write(fd, text.encode())
        time.sleep(0.1)
    finally:
        os.close(fd)


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_every_verb_in_both_modes(hvd, mode):
    create(hvd, "e", mode=mode)
    assert hvd.hvctl("start", "e").returncode == 0
    assert state(hvd, "e") == ("running", "booted")
    wait_for(lambda: f"echo: ready ({mode} mode)" in console(hvd, "e"), what="the greeting")
    info = hvd.hvctl_json("info", "e")
    assert info["pid"] > 0 and os.path.exists(f"/proc/{info['pid']}")

    for verb, expected in [("pause", ("paused", "user")), ("resume", ("running", "unpaused"))]:
        assert hvd.hvctl(verb, "e").returncode == 0, verb
        assert state(hvd, "e") == expected

    pid = hvd.hvctl_json("info", "e")["pid"]
    assert hvd.hvctl("reboot", "e").returncode == 0
    assert state(hvd, "e") == ("running", "rebooted")
    assert hvd.hvctl_json("info", "e")["pid"] != pid
    wait_for(lambda: console(hvd, "e").count(f"echo: ready ({mode} mode)") == 2,
             what="a second greeting after the reboot")

    # A graceful stop: the guest hears the request and powers off by itself.
    p = hvd.hvctl("stop", "e", "--timeout", "10")
    assert p.returncode == 0 and "shut down" in p.stdout
    assert state(hvd, "e") == ("shutoff", "shutdown")
    assert "shutdown requested, powering off" in console(hvd, "e")
    assert not os.path.exists(f"/proc/{info['pid']}")

    assert hvd.hvctl("start", "e").returncode == 0
    assert hvd.hvctl("destroy", "e").returncode == 0
    assert state(hvd, "e") == ("shutoff", "destroyed")
    assert hvd.hvctl("delete", "e").returncode == 0


def test_dbus_lifecycle_and_guest_that_powers_off(hvd):
    conn = hvd.bus.connect()
    m = hvd.manager(conn)
    m.CreateDomain({"name": "hi", "driver": "minihv", "mode": "pv", "kernel": "hello",
                    "memory_mib": dbus.UInt64(8)})
    d = hvd.domain("hi", conn)
    d.Start()
    # hello prints and powers off on its own.
    wait_state(hvd, "hi", ("shutoff", "shutdown"))
    text = bytes(d.GetConsole(dbus.UInt32(4096)))
    assert b"Hello from minihv (pv mode)" in text
    m.CreateDomain({"name": "ec", "driver": "minihv", "kernel": "echo", "memory_mib": dbus.UInt64(8)})
    e = hvd.domain("ec", conn)
    e.Start()
    for method, expected in [("Pause", "paused"), ("Resume", "running")]:
        getattr(e, method)()
        assert hvd.domain_props("ec", conn)["State"] == expected
    # Statistics come from the driver's cache: the sample taken at readiness may predate the
    # guest's first exits; a later read brings newer numbers.
    ec = dbus.Interface(conn.get_object("org.hvd1", m.GetDomain("ec")), "org.hvd1.Domain")
    def stats_with_exits():
        stats = ec.GetInfo()["stats"]
        return stats if stats.get("exits_by_reason", {}).get("total", 0) > 0 else None

    stats = wait_for(stats_with_exits, timeout=5, what="exits in the statistics")
    assert "hypercall:console" in stats["exits_by_device"]
    e.Destroy()
    assert hvd.domain_props("ec", conn)["State"] == "shutoff"


def test_guest_initiated_reboot_and_poweroff(hvd):
    create(hvd, "g")
    hvd.hvctl("start", "g", check=True)
    type_into(hvd, "g", "reboot\r")
    wait_state(hvd, "g", ("running", "rebooted"))
    type_into(hvd, "g", "quit\r")
    wait_state(hvd, "g", ("shutoff", "shutdown"))


@pytest.mark.parametrize("policy,final", [("destroy", ("shutoff", "crashed")),
                                          ("restart", ("running", "restarted")),
                                          ("preserve", ("crashed", "guest-fault"))])
def test_on_crash_policies(hvd, policy, final):
    create(hvd, "c", "--on-crash", policy)
    hvd.hvctl("start", "c", check=True)
    type_into(hvd, "c", "crash\r")
    wait_state(hvd, "c", final)
    events = [json.loads(r[0]) for r in hvd.db_query(
        "SELECT detail FROM events WHERE domain = 'c' AND event = 'state-changed' ORDER BY id")]
    crashed = [e for e in events if e["state"] == "crashed"]
    assert crashed and crashed[0]["reason"] == "guest-fault"
    assert "crash" in crashed[0]["message"]
    if policy == "restart":
        wait_for(lambda: console(hvd, "c").count("echo: ready") >= 2, what="the restarted guest")
    if policy == "preserve":
        assert hvd.hvctl("start", "c").returncode == 1  # destroy it first
        assert hvd.hvctl("destroy", "c").returncode == 0
        assert state(hvd, "c") == ("shutoff", "crashed")


def test_start_refused_when_allocation_is_full(make_hvd):
    h = make_hvd(config="[allocation]\ncpu-overcommit = 1\n").start()
    cap = h.hvctl_json("host")["vcpus_capacity"]
    for i in range(cap):
        create(h, f"d{i}")
        h.hvctl("start", f"d{i}", check=True)
    create(h, "extra")
    p = h.hvctl("start", "extra")
    assert p.returncode == 1
    assert f"not enough vCPUs: requested 1, free 0 (capacity {cap}" in p.stderr
    assert state(h, "extra") == ("shutoff", "defined")
    assert subprocess.run(["pgrep", "-f", f"{h.runtime_dir}/minihv/"], capture_output=True,
                          text=True).stdout.count("\n") == cap


def minihv_pids(h):
    out = subprocess.run(["pgrep", "-f", f"control {h.runtime_dir}/minihv/"],
                         capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def test_kill9_hvd_with_20_running_domains(make_hvd):
    h = make_hvd(config=MANY).start()
    for i in range(20):
        create(h, f"k{i:02d}", memory="4")
        h.hvctl("start", f"k{i:02d}", check=True)
    before = {d["name"]: d["pid"] for d in (h.hvctl_json("info", f"k{i:02d}") for i in range(20))}
    pids = minihv_pids(h)
    assert len(pids) == 20 and sorted(before.values()) == pids

    h.kill9()
    time.sleep(0.3)
    assert minihv_pids(h) == pids  # all 20 keep running without hvd

    t0 = time.monotonic()
    h.start()
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, f"re-attaching took {elapsed:.2f} s"
    listed = h.hvctl_json("list")
    assert sorted(d["name"] for d in listed) == sorted(before)
    assert all(d["state"] == "running" for d in listed)
    after = {n: h.hvctl_json("info", n)["pid"] for n in before}
    assert after == before  # none lost, none started twice
    assert minihv_pids(h) == pids
    # They are really driven: a re-attached domain pauses and stops.
    h.hvctl("pause", "k05", check=True)
    assert state(h, "k05") == ("paused", "user")
    h.hvctl("destroy", "k05", check=True)
    assert len(minihv_pids(h)) == 19


def test_domains_survive_sigterm_of_hvd(hvd):
    create(hvd, "s")
    hvd.hvctl("start", "s", check=True)
    pid = hvd.hvctl_json("info", "s")["pid"]
    hvd.signal(signal.SIGTERM)
    assert hvd.proc.wait(timeout=10) == 0
    assert os.path.exists(f"/proc/{pid}")
    hvd.start()
    assert state(hvd, "s")[0] == "running" and hvd.hvctl_json("info", "s")["pid"] == pid


@pytest.mark.parametrize("sig,final", [(signal.SIGKILL, ("shutoff", "crashed")),
                                       (signal.SIGTERM, ("shutoff", "destroyed"))])
def test_vmm_killed_behind_hvds_back(hvd, sig, final):
    create(hvd, "v")
    hvd.hvctl("start", "v", check=True)
    pid = hvd.hvctl_json("info", "v")["pid"]
    os.kill(pid, sig)
    wait_state(hvd, "v", final)
    rows = [json.loads(r[0]) for r in hvd.db_query(
        "SELECT detail FROM events WHERE domain = 'v' AND event = 'state-changed' ORDER BY id")]
    if sig == signal.SIGKILL:
        assert any(r["state"] == "crashed" and r["reason"] == "host-error" and
                   "killed by signal 9" in r["message"] for r in rows)
    assert hvd.db_query("SELECT COUNT(*) FROM allocations")[0][0] == 0


def test_vmm_killed_while_hvd_is_down(hvd):
    create(hvd, "w")
    hvd.hvctl("start", "w", check=True)
    pid = hvd.hvctl_json("info", "w")["pid"]
    hvd.kill9()
    os.kill(pid, signal.SIGKILL)
    hvd.start()
    assert state(hvd, "w") == ("shutoff", "daemon")
    detail = json.loads(hvd.db_query(
        "SELECT detail FROM events WHERE domain = 'w' ORDER BY id DESC LIMIT 1")[0][0])
    assert f"minihv pid {pid} is gone" in detail["message"]


def test_interactive_console_through_a_pty(hvd):
    create(hvd, "tty")
    hvd.hvctl("start", "tty", check=True)
    term = PtyConsole(hvd, "tty")
    assert b"escape character is ^]" in term.read_until(b"^]")
    term.type(b"ping from the terminal\r")
    assert b"ping from the terminal" in term.read_until(b"terminal")
    shown, status = term.detach()
    assert b"Detached." in shown and status == 0
    assert "ping from the terminal" in console(hvd, "tty")
    assert state(hvd, "tty") == ("running", "booted")  # detaching leaves it running


def test_console_of_a_stopped_domain_and_bad_guests(hvd):
    p = hvd.hvctl("create", "bad", "--driver", "minihv", "--kernel", "nosuchguest")
    assert p.returncode == 1
    assert 'no installed pv-mode guest named "nosuchguest"' in p.stderr
    assert "hello" in p.stderr and "echo" in p.stderr
    p = hvd.hvctl("create", "bad", "--driver", "minihv", "--kernel", "hello", "--mode", "full",
                  "--vcpus", "2")
    assert p.returncode == 1 and "exactly 1 vCPU" in p.stderr
    p = hvd.hvctl("create", "bad", "--driver", "minihv", "--kernel", "hello", "--network", "x")
    assert p.returncode == 1 and "no hvd network named 'x'" in p.stderr
    p = hvd.hvctl("create", "bad", "--driver", "minihv", "--kernel", "hello", "--initrd", "/x")
    assert p.returncode == 1 and "without an initial ramdisk" in p.stderr
    create(hvd, "off")
    p = hvd.hvctl("console", "off")
    assert p.returncode == 1 and "it has no console" in p.stderr


def test_guest_image_that_cannot_be_read_fails_the_start_with_the_reason(hvd, tmp_path):
    """A guest image that turned into a FIFO (or a directory) after the domain was defined: the
    start fails at once saying so, instead of minihv waiting to open it until it is killed."""
    image = tmp_path / "guest.elf"
    image.write_bytes((hvd.build / "drivers" / "minihv" / "guest" / "hello-pv.elf").read_bytes())
    tmp_path.chmod(0o755)
    create(hvd, "fifo", guest=str(image))

    def start_fails():
        started = time.monotonic()
        p = hvd.hvctl("start", "fifo")
        assert p.returncode == 1, p.stdout
        assert time.monotonic() - started < 5
        assert f"the guest image {image} cannot be read: it is not a regular file" in p.stderr
        assert "signal" not in p.stderr
        assert state(hvd, "fifo")[0] == "shutoff"

    image.unlink()
    os.mkfifo(image)
    start_fails()
    image.unlink()
    image.mkdir()
    start_fails()
