"""minihv's command line: help, version, usage errors, console file, ready fd, stats, pinning."""
import json
import pathlib
import os
import re
import subprocess

import pytest

from minihv_helpers import (STATUS_HOST_ERROR, STATUS_POWEROFF, STATUS_USAGE, guest, last_line,
                            require_kvm, run, vmm)

FLAGS = ("--mode", "--memory", "--vcpus", "--disk", "--cmdline", "--cpuset", "--control",
         "--console", "--strict", "--ready-fd", "--stats-file", "--net-fd", "--mac", "--restore",
         "--cgroup", "--vcpu-cgroup", "--help", "--version")


def minihv(build, *args):
    return subprocess.run([str(vmm(build)), *map(str, args)], capture_output=True, text=True,
                          timeout=30)


def test_help_documents_every_flag_and_status(build):
    r = minihv(build, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: minihv run [OPTIONS] GUEST")
    for flag in FLAGS:
        assert flag in r.stdout, flag
    assert "0 guest powered off, 1 host error, 2 usage error, 3 reboot" in r.stdout
    assert "5 destroyed, 6 saved" in r.stdout
    assert "minihv save --control SOCKET" in r.stdout
    assert minihv(build, "run", "--help").stdout == r.stdout


def test_version(build):
    r = minihv(build, "--version")
    assert r.returncode == 0
    assert re.fullmatch(r"minihv \d+\.\d+\.\d+ \(guest ABI 2\)\n", r.stdout)


@pytest.mark.parametrize("args,message", [
    ((), "missing command"),
    (("start",), "unknown command 'start'"),
    (("run",), "missing GUEST"),
    (("run", "--mode", "hvm", "g"), "--mode: expected pv or full, got 'hvm'"),
    (("run", "--memory", "1", "g"), "--memory: expected MiB in 2..3072, got '1'"),
    (("run", "--memory", "lots", "g"), "--memory: expected MiB"),
    (("run", "--vcpus", "0", "g"), "--vcpus: expected 1..8"),
    (("run", "--vcpus", "9", "g"), "--vcpus: expected 1..8"),
    (("run", "--mode", "full", "--vcpus", "2", "g"), "full mode runs one vCPU"),
    (("run", "--cpuset", "3-1", "g"), "--cpuset: expected a CPU list"),
    (("run", "--ready-fd", "987", "g"), "--ready-fd: '987' is not an open file descriptor"),
    (("run", "--cmdline", "x" * 1025, "g"), "--cmdline: longer than 1024 bytes"),
    (("run", "--bogus", "g"), "unknown option '--bogus'"),
    (("run", "--memory"), "option '--memory' needs a value"),
    (("run", "g", "h"), "unexpected argument 'h'"),
])
def test_usage_errors_exit_2_with_one_clear_line(build, args, message):
    r = minihv(build, *args)
    assert r.returncode == STATUS_USAGE
    lines = r.stderr.splitlines()
    assert lines[0].startswith("minihv: ") and message in lines[0], r.stderr
    assert lines[1] == "Try 'minihv --help'."


def test_console_file_is_appended(build, tmp_path):
    require_kvm()
    log = tmp_path / "console.log"
    log.write_text("earlier line\n")
    for _ in range(2):
        r = run(build, guest(build, "hello", "pv"), "--console", log)
        assert r.returncode == STATUS_POWEROFF
        assert r.stdout == ""
    assert log.read_text() == "earlier line\n" + "Hello from minihv (pv mode)\n" * 2


def test_ready_fd_gets_one_line_and_is_closed(build):
    require_kvm()
    r_fd, w_fd = os.pipe()
    p = subprocess.Popen([str(vmm(build)), "run", "--ready-fd", str(w_fd),
                          str(guest(build, "hello", "pv"))], pass_fds=(w_fd,),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(w_fd)
    data = b""
    while chunk := os.read(r_fd, 64):  # EOF once minihv closed it (or exited)
        data += chunk
    os.close(r_fd)
    out, _ = p.communicate(timeout=30)
    assert data == b"ready\n"
    assert p.returncode == STATUS_POWEROFF and b"Hello from minihv" in out


def test_stats_file_holds_the_final_counters(build, tmp_path):
    require_kvm()
    stats = tmp_path / "stats.json"
    r = run(build, guest(build, "hello", "full"), "--mode", "full", "--stats-file", stats)
    assert r.returncode == STATUS_POWEROFF
    s = json.loads(stats.read_text())
    assert s["status"] == 0 and s["reason"] == "guest powered off"
    # one THR write per byte, plus UART set-up and LSR polls, all through port I/O exits
    greeting = len("Hello from minihv (full mode)\n")
    assert s["devices"]["uart"] >= greeting
    assert s["devices"]["power"] == 1
    assert s["exits"]["io"] >= greeting and s["exits"]["total"] >= s["exits"]["io"]
    assert s["console"]["out_bytes"] == greeting
    assert s["run_time_ns"] > 0
    assert s["memory"]["guest_bytes"] == 32 << 20


def test_cpuset_pins_the_vcpu_threads(build, tmp_path):
    require_kvm()
    cpus = sorted(os.sched_getaffinity(0))
    r = run(build, guest(build, "smp", "pv"), "--vcpus", "2", "--cpuset", str(cpus[-1]))
    assert r.returncode == STATUS_POWEROFF, r.stderr
    assert "smp: 2 cpu(s)" in r.stdout
    r = run(build, guest(build, "hello", "pv"), "--cpuset", "1000")
    assert r.returncode == STATUS_USAGE
    assert "--cpuset: none of these CPUs is available" in r.stderr


def test_memory_size_reaches_the_guest(build, tmp_path):
    require_kvm()
    stats = tmp_path / "stats.json"
    r = run(build, guest(build, "hello", "pv"), "--memory", "100", "--stats-file", stats)
    assert r.returncode == STATUS_POWEROFF
    assert json.loads(stats.read_text())["memory"]["guest_bytes"] == 100 << 20
    assert last_line(r.stderr) == "minihv: guest powered off"


def test_man_page_documents_the_interface():
    page = (pathlib.Path(__file__).resolve().parents[2] / "docs/minihv.1").read_text()
    for flag in FLAGS:
        assert flag.replace("-", r"\-") in page, flag
    for cmd in ("pause", "resume", "shutdown", "destroy", "reboot", "info", "stats", "console"):
        assert f'{{"cmd":"{cmd}"' in page, cmd
    for status in range(6):
        assert f".B {status}\n" in page


def test_guest_image_that_is_not_a_regular_file_is_refused_at_once(build, tmp_path):
    fifo = tmp_path / "guest.elf"
    os.mkfifo(fifo)
    r = minihv(build, "run", "--mode", "pv", fifo)  # would wait for a writer without the check
    assert r.returncode != 0
    assert f"guest image {fifo} is not a regular file" in r.stderr


def test_cgroup_join_refused_is_a_host_error(build, tmp_path):
    """A --cgroup file the kernel (here: the file system) refuses stops minihv before the VM
    exists, naming the file."""
    require_kvm()
    missing = tmp_path / "no-such-group" / "cgroup.procs"
    r = run(build, guest(build, "hello", "pv"), "--cgroup", missing)
    assert r.returncode == STATUS_HOST_ERROR
    assert last_line(r.stderr) == f"minihv: host error: cannot join the cgroup of {missing}: " \
        "No such file or directory"
    r = minihv(build, "run", *sum((["--cgroup", "x"] for _ in range(5)), []), "g")
    assert r.returncode == STATUS_USAGE and "--cgroup: at most 4 times" in r.stderr
