"""The minihv warm pool: starts take a pre-made VMM (its pid was made before the start), the
pool refills, the host view counts it, no pooled VMM outlives hvd (stop, kill -9), a domain of
another shape starts cold, and a start refused for a host limit names the limit."""
import os
import signal
import subprocess
import time

import dbus
import pytest

from hvd_harness import wait_for
from scale_helpers import DENSE, create_echo, fd_count, vmm_pids

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

POOL = DENSE + "[minihv]\nwarm-pool = 2\nwarm-pool-memory = 2\n"


def parent_pid(pid):
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def pooled_pids(hvd_pid):
    """The `minihv pool` processes waiting for a guest, started by hvd_pid's spawner (0: any)."""
    out = subprocess.run(["pgrep", "-f", "minihv pool --mode"], capture_output=True, text=True,
                         timeout=10).stdout
    return sorted(int(p) for p in out.split()
                  if not hvd_pid or parent_pid(parent_pid(p)) == hvd_pid)


def pool_view(h):
    return h.hvctl_json("host")["drivers"]["minihv"]["warm_pool"]


def wait_pool_full(h, size=2):
    wait_for(lambda: pool_view(h)["waiting"] == size, timeout=10, what="the warm pool to fill")


def test_start_takes_a_pooled_vmm_and_the_pool_refills(make_hvd, bus):
    h = make_hvd(config=POOL).start()
    conn = bus.connect()
    wait_pool_full(h)
    view = pool_view(h)
    assert (view["size"], view["mode"], view["memory_mib"], view["vcpus"]) == (2, "pv", 2, 1)
    before = set(pooled_pids(h.proc.pid))
    assert len(before) == 2
    # the pooled VMMs are in the density view's use of tasks and hvd's descriptors
    density = h.hvctl_json("host")["density"]
    assert density["warm_pool"] == 2
    assert all(lim["warm_pool"] > 0 for lim in density["limits"] if lim["name"] != "vcpus")
    text = h.hvctl("host").stdout
    assert "warm pool: 2 of 2 waiting (pv, 2 MiB, 1 vCPU)" in text, text
    assert "warm pools hold 2 VMMs" in text, text
    status, _, body = h.request("GET", "/api/v1/host")
    assert status == 200 and body["drivers"]["minihv"]["warm_pool"]["waiting"] == 2, body

    create_echo(h, conn, ["warm1", "cold1"])
    h.domain("warm1", conn).Start(timeout=20)
    pid = vmm_pids(h)
    assert len(pid) == 1 and pid[0] in before, (pid, before)  # made before the start
    view = pool_view(h)
    assert view["taken"] == 1
    wait_pool_full(h)  # refilled, by a new process
    assert len(set(pooled_pids(h.proc.pid)) - before) == 1

    # another shape (32 MiB) cannot take a 2 MiB VMM: it starts cold, and is counted so
    h.manager(conn).CreateDomain({"name": "big", "driver": "minihv", "mode": "pv",
                                  "kernel": "echo"}, timeout=20)
    h.domain("big", conn).Start(timeout=20)
    view = pool_view(h)
    assert (view["taken"], view["missed"]) == (1, 1)
    assert len(vmm_pids(h)) == 2
    # a once-pooled VMM holds what a cold one does, nothing of its time in the pool
    warm_pid = pid[0]
    cold_pid = next(p for p in vmm_pids(h) if p != warm_pid)
    assert sorted(os.listdir(f"/proc/{warm_pid}/fd")) == sorted(os.listdir(f"/proc/{cold_pid}/fd"))
    # in the sandbox as a cold one is (seccomp filter mode, no new privileges)
    for p in (warm_pid, cold_pid):
        status = open(f"/proc/{p}/status").read()
        assert "\nSeccomp:\t2\n" in status and "\nNoNewPrivs:\t1\n" in status, p
    # and is driven as any other
    h.domain("warm1", conn).Pause(timeout=20)
    assert h.domain_props("warm1", conn)["State"] == "paused"
    h.domain("warm1", conn).Destroy(timeout=20)
    h.domain("big", conn).Destroy(timeout=20)
    wait_for(lambda: not vmm_pids(h), timeout=10, what="the VMMs to end")

    # taking and refilling leaks no descriptor of hvd
    wait_pool_full(h)
    fds = fd_count(h.proc.pid)
    for _ in range(5):
        h.domain("warm1", conn).Start(timeout=20)
        h.domain("warm1", conn).Destroy(timeout=20)
        wait_pool_full(h)
    assert pool_view(h)["taken"] >= 5
    wait_for(lambda: fd_count(h.proc.pid) <= fds, timeout=5,
             what=f"hvd's descriptors to come back to {fds} (now {fd_count(h.proc.pid)})")


def test_no_pooled_vmm_outlives_hvd(make_hvd, bus):
    h = make_hvd(config=POOL).start()
    conn = bus.connect()
    wait_pool_full(h)
    pooled = pooled_pids(h.proc.pid)
    create_echo(h, conn, ["kept"])
    h.domain("kept", conn).Start(timeout=20)
    running = vmm_pids(h)
    wait_pool_full(h)
    pooled = pooled_pids(h.proc.pid)

    # kill -9: the pooled VMMs see their socket close and end; the domain runs on
    h.kill9()
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and
                             open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
                             for p in pooled),
             timeout=5, what="the pooled VMMs to end after hvd's kill -9")
    assert vmm_pids(h) == running
    h.start()
    conn = bus.connect()
    assert h.domain_props("kept", conn)["State"] == "running"
    wait_pool_full(h)
    pooled = pooled_pids(h.proc.pid)

    # reload with a smaller pool: the extra one ends
    h.config_path.write_text(h.config_path.read_text().replace("warm-pool = 2", "warm-pool = 1"))
    h.signal(signal.SIGHUP)
    wait_for(lambda: pool_view(h)["size"] == 1 and pool_view(h)["waiting"] == 1, timeout=10,
             what="the pool to shrink at a reload")

    # stop: no pooled VMM is left, the domain's VMM runs on
    pooled = pooled_pids(h.proc.pid)
    h.stop(kill_domains=False)
    wait_for(lambda: not [p for p in pooled if os.path.exists(f"/proc/{p}")], timeout=5,
             what="the pooled VMMs to end with hvd")
    assert vmm_pids(h) == running
    subprocess.run(["kill", "-KILL", *map(str, running)])


def test_a_guest_on_a_network_from_the_pool(build, bus, workdir):
    """The tap is handed to the pooled VMM with the guest: the domain answers on the bridge."""
    from net_helpers import Netns, require_net
    from netns_hvd import NetnsHvd
    require_net()
    ns = Netns()
    h = NetnsHvd(build, bus, workdir / "nhvd", ns,
                 config="[minihv]\nwarm-pool = 1\nwarm-pool-memory = 16\n")
    try:
        h.start()
        wait_pool_full(h, 1)
        for args in (("network", "create", "lan", "--subnet", "10.93.0.0/24"),
                     ("create", "web", "--driver", "minihv", "--mode", "pv", "--kernel", "httpd",
                      "--memory", "16", "--network", "lan"),
                     ("start", "web")):
            p = h.hvctl(*args)
            assert p.returncode == 0, p.stdout + p.stderr
        assert pool_view(h)["taken"] == 1
        addr = h.hvctl_json("info", "web")["interfaces"][0]["ipv4"]
        wait_for(lambda: f"httpd: listening on {addr}" in
                 h.hvctl("console", "web", "--tail", "50").stdout, timeout=20,
                 what="web to listen")
        r = ns.run(["ping", "-c", "2", "-i", "0.2", "-W", "3", addr], timeout=20)
        assert r.returncode == 0 and "2 received" in r.stdout, r.stdout + r.stderr
        assert h.hvctl("destroy", "web").returncode == 0
    finally:
        h.stop()
        ns.close()


def test_a_pooled_vmm_joins_the_domains_cgroups(build, bus, workdir):
    """With resource control on, the once-pooled VMM and its vCPU thread are in the domain's
    groups, as a cold one's are (they join when the guest comes)."""
    import pathlib
    import uuid
    from hvd_harness import Hvd
    cgroup = pathlib.Path("/sys/fs/cgroup")
    if not all((cgroup / c / "cgroup.procs").exists() for c in ("cpu", "cpuacct", "memory")) \
            or os.geteuid() != 0:
        pytest.skip("needs writable cgroup v1 cpu, cpuacct and memory hierarchies")
    root = f"/hvd-test-{uuid.uuid4().hex[:12]}"
    h = Hvd(build, bus, workdir / "cg", cgroup_root=root,
            config=POOL.replace("warm-pool-memory = 2", "warm-pool-memory = 16"))
    try:
        h.start()
        wait_pool_full(h)
        p = h.hvctl("create", "capped", "--driver", "minihv", "--mode", "pv", "--kernel", "echo",
                    "--memory", "16")
        assert p.returncode == 0, p.stderr
        h.hvctl("start", "capped", check=True)
        assert pool_view(h)["taken"] == 1
        u = h.hvctl_json("info", "capped")["uuid"]
        pid = vmm_pids(h)[0]
        procs = (cgroup / "memory" / root.lstrip("/") / u / "cgroup.procs").read_text().split()
        assert str(pid) in procs, (pid, procs)
        tasks = (cgroup / "cpu" / root.lstrip("/") / u / "vcpu" / "tasks").read_text().split()
        assert tasks and set(tasks) <= set(os.listdir(f"/proc/{pid}/task")), tasks
        h.hvctl("destroy", "capped", check=True)
    finally:
        h.stop()
        from test_minihv_resources import remove_tree
        deadline = time.monotonic() + 5
        for c in ("cpu", "cpuacct", "memory"):
            while (cgroup / c / root.lstrip("/")).exists() and time.monotonic() < deadline:
                remove_tree(cgroup / c / root.lstrip("/"))
                time.sleep(0.05)


def test_full_mode_pool_and_bad_settings(make_hvd, bus, build, tmp_path):
    for text, error in (("warm-pool = 65\n", "warm-pool must be an integer in 0..64, got '65'"),
                        ("warm-pool-mode = full\nwarm-pool-vcpus = 2\n",
                         "warm-pool-vcpus must be 1 with warm-pool-mode = full"),
                        ("warm-pool-memory = 1\n", "warm-pool-memory must be")):
        conf = tmp_path / "hvd.conf"
        conf.write_text("[minihv]\n" + text)
        p = subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode != 0 and error in p.stderr, p.stderr

    h = make_hvd(config=DENSE + "[minihv]\nwarm-pool = 1\nwarm-pool-mode = full\n"
                 "warm-pool-memory = 16\n").start()
    conn = bus.connect()
    wait_pool_full(h, 1)
    h.manager(conn).CreateDomain({"name": "f", "driver": "minihv", "mode": "full",
                                  "kernel": "echo", "memory_mib": dbus.UInt64(16)}, timeout=20)
    h.domain("f", conn).Start(timeout=20)
    assert pool_view(h)["taken"] == 1
    wait_for(lambda: "echo" in h.hvctl("console", "f", "--tail", "20").stdout, timeout=10,
             what="the full-mode guest's console")
    h.domain("f", conn).Destroy(timeout=20)


def test_a_pool_that_cannot_be_made_is_not_respawned_in_a_loop(make_hvd, build):
    """Pooled processes that end before their VM is made (here a program that only exits) are
    counted, and not replaced until a start tries the pool again."""
    h = make_hvd(config=f"[minihv]\nbinary = /bin/false\nguest-dir = {build}/drivers/minihv/guest\n"
                 "resource-control = no\nwarm-pool = 2\n", minihv_paths=False).start()
    wait_for(lambda: pool_view(h)["spawn_failures"] == 2, timeout=10,
             what="both pooled processes to fail")
    time.sleep(0.5)
    view = pool_view(h)
    assert (view["spawn_failures"], view["waiting"], view["starting"]) == (2, 0, 0), view


def test_minihv_pool_alone_refuses_what_it_cannot_run(build, tmp_path):
    """`minihv pool` on its own: a guest of another shape, a message that is not `minihv run`
    arguments, a restore of a missing image and an incoming migration are refused before any
    guest code runs; a closed socket ends it
    as destroyed; bad options are usage errors."""
    import socket
    vmm = str(build / "drivers/minihv/vmm/minihv")
    guest = str(build / "drivers/minihv/guest/echo-pv.elf")

    def pooled():
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        p = subprocess.Popen([vmm, "pool", "--mode", "pv", "--memory", "2", "--vcpus", "1",
                              "--socket", str(theirs.fileno())], pass_fds=[theirs.fileno()],
                             stderr=subprocess.PIPE, text=True)
        theirs.close()
        ours.settimeout(10)
        assert ours.recv(64) == b"waiting\n"
        return p, ours

    def hand(ours, args):
        r, w = os.pipe()
        log = os.open(tmp_path / "vmm.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        third = [os.open("/dev/null", os.O_RDONLY)] if "--incoming" in args else []
        socket.send_fds(ours, [b"\0".join(a.encode() for a in args) + b"\0"], [w, log, *third])
        for fd in (w, log, *third):
            os.close(fd)
        return r

    for args, status, says in (
            (["minihv", "run", "--memory", "4", "--ready-fd", "3", guest], 1, "do not fit"),
            (["minihv", "save", "x"], 1, "cannot receive a guest"),
            (["minihv", "run", "--memory", "2", "--ready-fd", "3", "--restore", "/nonexistent"],
             1, "cannot restore /nonexistent"),
            (["minihv", "run", "--memory", "2", "--ready-fd", "3", "--incoming", "4"],
             2, "no --incoming")):
        p, ours = pooled()
        r = hand(ours, args)
        assert p.wait(timeout=10) == status, args
        text = p.stderr.read() + (tmp_path / "vmm.log").read_text()
        assert says in text, text
        assert os.read(r, 16) == b""  # never ready
        os.close(r)
        ours.close()

    p, ours = pooled()
    ours.close()
    assert p.wait(timeout=10) == 5
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        for args, says in ((["--mode", "full", "--vcpus", "2"], "full mode runs one vCPU"),
                           (["--memory", "1"], "--memory: out of range"), ([], None)):
            p = subprocess.run([vmm, "pool", *args, "--socket", str(fd), *([] if says else
                                                                           ["stray"])],
                               capture_output=True, text=True, timeout=10, pass_fds=[fd])
            assert p.returncode == 2 and (says or "unexpected argument 'stray'") in p.stderr, \
                p.stderr
    finally:
        os.close(fd)
