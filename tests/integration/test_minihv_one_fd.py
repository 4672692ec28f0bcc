"""hvd holds at most one descriptor per running minihv domain (its console connection): 50
running domains grow hvd's descriptors by at most 50; a VMM killed with SIGKILL is noticed
within a second, for hvd's own children and for VMMs re-attached after a kill -9 of hvd; a
destroy still ends a VMM that does not answer (SIGSTOP: killed through a pidfd checked against
its start time), and a start right after a destroy waits for the old process."""
import ctypes
import json
import os
import platform
import signal
import socket
import subprocess
import time

import pytest

from hvd_harness import wait_for
from scale_helpers import DENSE, create_echo, fd_count, states, timed_calls, vmm_pids

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

RUNNING = 50
NOTICED_S = 1.0
# What hvd reports for a VMM killed with SIGKILL (on_crash's default turns crashed into this).
KILLED = ("shutoff", "crashed")
PIDFD_GETFD = {"x86_64": 438, "aarch64": 438}.get(platform.machine(), 438)


def settled_fds(h):
    """hvd's descriptors once those of requests in flight (statistics, the sampler) are gone:
    the least of a few counts a little apart."""
    counts = []
    for _ in range(10):
        counts.append(fd_count(h.proc.pid))
        time.sleep(0.1)
    return min(counts)


def state(h, name):
    info = h.hvctl_json("info", name)
    return info["state"], info["reason"]


def pid_of(h, name):
    return h.hvctl_json("info", name)["pid"]


def kill_and_time(h, name):
    """SIGKILLs the VMM of name behind hvd's back; returns the seconds until hvd reports it."""
    pid = pid_of(h, name)
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(lambda: state(h, name) == KILLED, timeout=10, interval=0.02,
             what=f"{name}'s end to be noticed")
    return time.monotonic() - t0


def hang_up_console(h, vmm_pid):
    """Shuts down hvd's console connection to the VMM vmm_pid (as a VMM that closes it would),
    through a copy of hvd's descriptor (pidfd_getfd): the VMM runs on."""
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, timeout=10).stdout
    peers = {line.split()[-2] for line in out.splitlines() if f"pid={vmm_pid}," in line}
    hvd_fd = next(fd for fd, link in fd_links(h.proc.pid).items()
                  if link.startswith("socket:[") and link[8:-1] in peers)
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(h.proc.pid)
    try:
        copy = libc.syscall(PIDFD_GETFD, pidfd, hvd_fd, 0)
        assert copy >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    with socket.socket(fileno=copy) as s:
        s.shutdown(socket.SHUT_RDWR)


def fd_links(pid):
    """{fd: what it is} of process pid (descriptors closed meanwhile left out)."""
    links = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass
    return links


def pidfds(h):
    """The pidfds hvd holds."""
    return sum(link == "anon_inode:[pidfd]" for link in fd_links(h.proc.pid).values())


def host_fd_limit(h):
    limits = h.hvctl_json("host")["density"]["limits"]
    return {lim["name"]: lim for lim in limits}["file descriptors"]


def test_one_descriptor_per_running_domain_and_ends_still_noticed(make_hvd, bus):
    h = make_hvd(config=DENSE).start()
    conn = bus.connect()
    names = [f"fd{i:02d}" for i in range(RUNNING)]
    create_echo(h, conn, names)
    assert host_fd_limit(h)["per_domain"] == 1
    base = settled_fds(h)

    timed_calls(h, conn, names, "Start")
    assert set(states(h, conn).values()) == {"running"}
    assert len(vmm_pids(h)) == RUNNING
    grown = settled_fds(h) - base
    print(f"{RUNNING} running: hvd's descriptors grew by {grown}")
    assert grown <= RUNNING, f"{grown} more descriptors for {RUNNING} running domains"

    # hvd's own child, killed: noticed at once (SIGCHLD), with the reason it always had.
    took = kill_and_time(h, "fd00")
    assert took < NOTICED_S, f"a killed VMM was noticed after {took:.2f} s"
    rows = [json.loads(r[0]) for r in h.db_query(
        "SELECT detail FROM events WHERE domain = 'fd00' AND event = 'state-changed'")]
    assert any(r["state"] == "crashed" and "killed by signal 9" in r["message"] for r in rows)

    # A destroy completes when the guest stops; a start right after it waits for the old process
    # and runs a new one.
    old = pid_of(h, "fd01")
    h.domain("fd01", conn).Destroy(timeout=20)
    h.domain("fd01", conn).Start(timeout=20)
    assert state(h, "fd01") == ("running", "booted")
    assert pid_of(h, "fd01") != old and old not in vmm_pids(h)

    # A VMM that does not answer (stopped) is killed by the destroy's timeout.
    stopped = pid_of(h, "fd02")
    os.kill(stopped, signal.SIGSTOP)
    t0 = time.monotonic()
    h.domain("fd02", conn).Destroy(timeout=20)
    assert state(h, "fd02")[0] == "shutoff"
    wait_for(lambda: stopped not in vmm_pids(h), timeout=10, what="the stopped VMM's end")
    print(f"destroy of a stopped VMM: {time.monotonic() - t0:.2f} s")

    # kill -9 of hvd: the 47 still running are re-attached, not hvd's children any more.
    running = [n for n in names if state(h, n)[0] == "running"]
    assert len(running) == RUNNING - 2  # fd00 killed, fd02 destroyed; fd01 runs again
    pids = vmm_pids(h)
    h.kill9()
    h.start()
    assert {n for n, s in states(h, conn).items() if s == "running"} == set(running)
    assert vmm_pids(h) == pids
    reattached = settled_fds(h)
    print(f"{len(running)} re-attached: hvd holds {reattached} descriptors "
          f"({base} with none running before)")
    assert reattached - base <= len(running), \
        f"{reattached - base} more descriptors for {len(running)} re-attached domains"
    limit = host_fd_limit(h)
    assert limit["per_domain"] == 1 and limit["used"] >= len(running)

    # A re-attached VMM killed: noticed within a second too (its console connection hangs up).
    for name in ("fd03", "fd04", "fd05"):
        took = kill_and_time(h, name)
        assert took < NOTICED_S, f"a killed re-attached VMM was noticed after {took:.2f} s"

    # A re-attached VMM whose console connection hangs up while it runs on: still running, its
    # end still noticed at once (through its pidfd, or the console connected again), and no
    # descriptor more for it.
    assert pidfds(h) == 0
    for name in ("fd08", "fd09"):
        hang_up_console(h, pid_of(h, name))
    wait_for(lambda: pidfds(h) > 0, timeout=1, interval=0.005,
             what="hvd to watch a VMM without console connection through its pidfd")
    time.sleep(0.5)
    assert state(h, "fd08") == ("running", "booted")
    took = kill_and_time(h, "fd08")
    assert took < NOTICED_S, f"a VMM without console connection was noticed after {took:.2f} s"
    time.sleep(2)  # the sampler's statistics answers connect the console of fd09 again
    assert state(h, "fd09") == ("running", "booted")
    assert settled_fds(h) <= reattached - 4  # fd03..fd05 and fd08 gone, fd09 no more than before
    took = kill_and_time(h, "fd09")
    assert took < NOTICED_S

    # A re-attached VMM that does not answer: the destroy kills it (its start time checked).
    stopped = pid_of(h, "fd06")
    os.kill(stopped, signal.SIGSTOP)
    h.domain("fd06", conn).Destroy(timeout=20)
    assert state(h, "fd06")[0] == "shutoff"
    wait_for(lambda: stopped not in vmm_pids(h), timeout=10, what="the stopped VMM's end")

    # Destroy and start again of a re-attached domain: the start waits for the old process.
    old = pid_of(h, "fd07")
    h.domain("fd07", conn).Destroy(timeout=20)
    h.domain("fd07", conn).Start(timeout=20)
    assert state(h, "fd07") == ("running", "booted") and pid_of(h, "fd07") != old
    # and the restarted domain is hvd's child again: its kill is noticed as fast
    took = kill_and_time(h, "fd07")
    assert took < NOTICED_S

    left = [n for n, s in states(h, conn).items() if s == "running"]
    timed_calls(h, conn, left, "Destroy")
    assert set(states(h, conn).values()) == {"shutoff"}
    wait_for(lambda: not vmm_pids(h), timeout=20, what="every minihv process to end")
    assert settled_fds(h) <= base + 2


@pytest.mark.parametrize("console_says", ["who", "ok"])
def test_reattached_vmm_answering_for_another_is_killed_and_its_end_noticed(make_hvd, bus,
                                                                            console_says):
    """A re-attached VMM whose control socket another program answers (with another pid) is
    killed; hvd, holding no connection to it then, still learns of its end (through a pidfd).
    hvd's check is the console connection's reply ("who"), or, from a minihv whose console reply
    says only ok ("ok": an older one), an info request after it."""
    import threading
    h = make_hvd(config=DENSE).start()
    conn = bus.connect()
    create_echo(h, conn, ["imp", "ok"])
    timed_calls(h, conn, ["imp", "ok"], "Start")
    pid = pid_of(h, "imp")
    uuid = h.hvctl_json("info", "imp")["uuid"]
    path = h.runtime_dir / "minihv" / f"{uuid}.sock"
    h.kill9()
    os.rename(path, f"{path}.real")  # the VMM keeps serving it under the other name
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    impostor.bind(str(path))
    impostor.listen(16)
    impostor.settimeout(0.2)
    done = threading.Event()

    def answer():
        while not done.is_set():
            try:
                c, _ = impostor.accept()
            except (socket.timeout, OSError):
                continue
            with c:
                c.settimeout(2)
                try:
                    request = c.recv(4096)
                    if console_says == "ok" and b'"console"' in request:
                        c.sendall(b'{"ok":true}\n')
                    else:
                        c.sendall(b'{"ok":true,"pid":1,"start_time_ticks":1}\n')
                except OSError:
                    pass

    t = threading.Thread(target=answer)
    t.start()
    try:
        h.start()
        wait_for(lambda: state(h, "imp") == ("shutoff", "daemon"), timeout=5,
                 what="the VMM answering for another to be ended")
        assert not os.path.exists(f"/proc/{pid}/stat") or pid not in vmm_pids(h)
        detail = json.loads(h.db_query(
            "SELECT detail FROM events WHERE domain = 'imp' ORDER BY id DESC LIMIT 1")[0][0])
        assert f"minihv pid {pid} answers for another process" in detail["message"]
        assert state(h, "ok") == ("running", "booted") and pidfds(h) == 0
    finally:
        done.set()
        t.join()
        impostor.close()
    h.domain("ok", conn).Destroy(timeout=20)
