"""After set-up minihv runs sandboxed: seccomp allow-list, no new privileges, only CLOEXEC fds."""
import os

import pytest

from minihv_helpers import Domain, require_kvm

O_CLOEXEC = 0o2000000


@pytest.fixture
def domain(build, tmp_path):
    require_kvm()
    inherited = os.open("/dev/null", os.O_RDONLY)  # not CLOEXEC: minihv must close it
    os.set_inheritable(inherited, True)
    try:
        d = Domain(build, tmp_path, "echo", "pv", extra=())
    finally:
        os.close(inherited)
    d.wait_console("echo: ready")
    yield d
    d.kill()


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise KeyError(name)


def test_seccomp_filter_and_no_new_privs_apply_to_every_thread(domain):
    pid = domain.proc.pid
    assert status_field(pid, "NoNewPrivs") == "1"
    assert status_field(pid, "Seccomp") == "2"  # filter mode
    threads = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            comm = f.read().strip()
        if comm.startswith("kvm-"):
            continue  # KVM's own worker, which the kernel attaches to the process
        threads.append(tid)
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            assert "Seccomp:\t2" in f.read()
    assert len(threads) == 2  # main loop + one vCPU


def test_every_fd_is_cloexec_and_nothing_inherited_leaks(domain):
    pid = domain.proc.pid
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    assert fds[:3] == [0, 1, 2]
    targets = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
    assert "/dev/null" not in [targets[fd] for fd in fds if fd > 2]
    assert any("kvm-vcpu" in t for t in targets.values())
    for fd in fds[3:]:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
        assert flags & O_CLOEXEC, f"fd {fd} ({targets[fd]}) is not close-on-exec"


def test_the_sandboxed_domain_still_serves_everything(domain):
    c = domain.client()
    for cmd in ("info", "stats", "pause", "resume"):
        assert c.request({"cmd": cmd})["ok"] is True, cmd
    assert c.request({"cmd": "shutdown", "timeout_s": 5})["ok"] is True
    status, err = domain.wait()
    assert status == 0, err
