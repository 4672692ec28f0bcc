"""`minihv spawner`, the process hvd starts its VMMs through: its requests (a program run with
the descriptors asked for, its output in the log), its answers to bad requests, the ends it
tells, its own end with hvd's socket; and through hvd, that domains outlive a killed spawner and
hvd goes on with another."""
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest
from hvd_harness import build_dir, wait_for
from minihv_helpers import require_kvm, sanitizer_env, vmm

MAGIC = 0x68767370
FDS_MAX = 8
EBADMSG, ENOENT = 74, 2
HEADER = struct.Struct(f"<III{FDS_MAX}i")
ANSWER = struct.Struct("<iiQ")
END = struct.Struct("<ii")


def request(argv, log, targets=(), magic=MAGIC, argc=None, n_fds=None, tail=b""):
    t = list(targets) + [0] * (FDS_MAX - len(targets))
    h = HEADER.pack(magic, len(argv) if argc is None else argc,
                    len(targets) if n_fds is None else n_fds, *t)
    return h + b"".join(s.encode() + b"\0" for s in [str(log), *map(str, argv)]) + tail


class Spawner:
    """`minihv-asan spawner` on two socket pairs, as hvd starts it."""

    def __init__(self, tmp_path):
        self.req, req_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ends, ends_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        a, b = req_child.fileno(), ends_child.fileno()

        def fds():
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen([str(vmm(build_dir(), asan=True)), "spawner"],
                                     preexec_fn=fds, pass_fds=(3, 4, a, b), env=sanitizer_env(),
                                     stderr=subprocess.PIPE)
        req_child.close()
        ends_child.close()
        self.req.settimeout(10)
        self.ends.settimeout(10)

    def ask(self, data, fds=()):
        socket.send_fds(self.req, [data], list(fds))
        return ANSWER.unpack(self.req.recv(64))

    def end(self):
        return END.unpack(self.ends.recv(64))

    def close(self):
        self.req.close()
        self.ends.close()
        rc = self.proc.wait(timeout=10)
        err = self.proc.stderr.read().decode()
        assert rc == 0, err
        assert "Sanitizer" not in err and "runtime error" not in err, err


@pytest.fixture
def spawner(tmp_path):
    s = Spawner(tmp_path)
    yield s
    s.close()


def test_runs_a_program_with_its_descriptors_and_tells_its_end(spawner, tmp_path):
    log = tmp_path / "vmm.log"
    r, w = os.pipe()
    err, pid, ticks = spawner.ask(
        request(["/bin/sh", "-c", "echo out; echo err >&2; echo fd5 >&5; exit 3"], log, [5]), [w])
    os.close(w)
    assert err == 0 and pid > 0  # ticks 0: it may have ended before they were read
    assert spawner.end() == (pid, 3 << 8)
    assert os.read(r, 100) == b"fd5\n"
    os.close(r)
    assert log.read_text() == "out\nerr\n"


def test_bad_requests_are_refused_and_the_next_is_served(spawner, tmp_path):
    log = tmp_path / "vmm.log"
    ok = ["/bin/true"]
    r, w = os.pipe()
    bad = [
        (b"short", []),
        (request(ok, log, magic=1), []),
        (request(ok, log, argc=0), []),
        (request(ok, log, argc=2), []),                # fewer strings than it says
        (request(ok, log, tail=b"x"), []),             # bytes after the last string
        (request(ok, log, tail=b"x\0"), []),           # one string more than it says
        (request(ok, log, [5], n_fds=2), [w]),         # descriptors it does not carry
        (request(ok, log, [2]), [w]),                  # stdin/out/err are the spawner's
        (request(ok, log, [64]), [w]),
        (request(ok, log, [5, 5]), [w, w]),
        (request([""], log), []),
    ]
    for data, fds in bad:
        assert spawner.ask(data, fds)[0] == EBADMSG, data
    os.close(w)
    os.close(r)
    err, pid, _ = spawner.ask(request(ok, log))
    assert err == 0 and spawner.end() == (pid, 0)


def test_a_program_that_cannot_run_is_an_error_not_an_end(spawner, tmp_path):
    err, pid, _ = spawner.ask(request(["/nonexistent/minihv"], tmp_path / "vmm.log"))
    assert (err, pid) == (ENOENT, 0)
    err, pid, _ = spawner.ask(request(["/bin/true"], tmp_path / "no-such-dir" / "vmm.log"))
    assert (err, pid) == (ENOENT, 0)
    err, pid, _ = spawner.ask(request(["/bin/true"], tmp_path / "vmm.log"))
    assert spawner.end() == (pid, 0)  # the first end told is the program that ran


def test_many_ends_at_once_are_each_told(spawner, tmp_path):
    pids = set()
    for _ in range(50):
        err, pid, _ = spawner.ask(request(["/bin/sh", "-c", "exit 7"], tmp_path / "log"))
        assert err == 0
        pids.add(pid)
    told = {}
    while len(told) < len(pids):
        pid, status = spawner.end()
        told[pid] = status
    assert told == {pid: 7 << 8 for pid in pids}


def test_the_spawner_ends_with_hvds_socket_and_its_programs_keep_running(tmp_path):
    s = Spawner(tmp_path)
    err, pid, ticks = s.ask(request(["/bin/sleep", "30"], tmp_path / "log"))
    assert err == 0
    s.close()  # asserts it ended by itself, cleanly
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        assert stat[0] != "Z"
        assert ticks == int(stat[19])  # its start time (field 22), for hvd's pid checks
    finally:
        os.kill(pid, signal.SIGKILL)


def spawner_pid(hvd_pid):
    out = subprocess.run(["pgrep", "-P", str(hvd_pid), "-f", "minihv spawner"],
                         capture_output=True, text=True, timeout=10).stdout.split()
    return int(out[0]) if out else 0


def state(h, name):
    info = h.hvctl_json("info", name)
    return info["state"], info["reason"]


def test_domains_outlive_a_killed_spawner_and_hvd_starts_another(hvd):
    require_kvm()
    h = hvd
    for name in ("sp1", "sp2", "sp3"):
        h.hvctl("create", name, "--driver", "minihv", "--mode", "pv", "--kernel", "echo",
                "--memory", "2", check=True)
        h.hvctl("start", name, check=True)
    first = spawner_pid(h.proc.pid)
    assert first > 0
    pids = {n: h.hvctl_json("info", n)["pid"] for n in ("sp1", "sp2", "sp3")}
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: spawner_pid(h.proc.pid) not in (0, first), timeout=10,
             what="another spawner")
    for name in ("sp1", "sp2", "sp3"):
        assert state(h, name)[0] == "running"
        assert h.hvctl_json("info", name)["pid"] == pids[name]
    # the VMMs the killed spawner started are hvd's children now: their ends are still told,
    # with their wait status
    h.hvctl("destroy", "sp1", check=True)
    assert state(h, "sp1") == ("shutoff", "destroyed")
    os.kill(pids["sp2"], signal.SIGKILL)
    wait_for(lambda: state(h, "sp2") == ("shutoff", "crashed"), timeout=10, what="sp2's end")
    rows = [json.loads(r[0]) for r in h.db_query(
        "SELECT detail FROM events WHERE domain = 'sp2' AND event = 'state-changed'")]
    assert any(r["state"] == "crashed" and "killed by signal 9" in r["message"] for r in rows)
    # a start after the loss goes through the new spawner, and so does its end
    h.hvctl("destroy", "sp3", check=True)
    h.hvctl("start", "sp3", check=True)
    pid = h.hvctl_json("info", "sp3")["pid"]
    assert int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == \
        spawner_pid(h.proc.pid)
    h.hvctl("destroy", "sp3", check=True)
    assert state(h, "sp3") == ("shutoff", "destroyed")


def test_a_spawner_that_cannot_start_is_tried_again_and_said_once(make_hvd):
    h = make_hvd(config="[minihv]\nbinary = /nonexistent/minihv\n", minihv_paths=False).start()
    time.sleep(3.5)  # tries at 1 s and then 2 s later
    log = h.log_path.read_text()
    assert log.count("the minihv spawner (/nonexistent/minihv spawner) cannot start: "
                     "No such file or directory") == 1, log
    p = h.hvctl("create", "nobin", "--driver", "minihv", "--kernel", "echo", "--memory", "2")
    p = h.hvctl("start", "nobin")
    assert p.returncode != 0 and "/nonexistent/minihv cannot be run" in p.stderr, p.stderr
    assert h.proc.poll() is None
