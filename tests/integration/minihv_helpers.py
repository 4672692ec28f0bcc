"""Helpers for the minihv tests: paths in the build tree, running the VMM, the control socket."""
import json
import os
import pathlib
import select
import socket
import subprocess
import time

import pytest

STATUS_POWEROFF = 0
STATUS_HOST_ERROR = 1
STATUS_USAGE = 2
STATUS_REBOOT = 3
STATUS_CRASH = 4
STATUS_DESTROYED = 5

MODES = ("pv", "full")


def kvm_skip_reason():
    """Why minihv cannot run here, or None."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm is absent"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible to this user"
    return None


def require_kvm():
    reason = kvm_skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)


def vmm(build, asan=False):
    path = build / "drivers/minihv/vmm" / ("minihv-asan" if asan else "minihv")
    assert path.exists(), f"{path} was not built"
    return path


def guest(build, name, mode):
    path = build / "drivers/minihv/guest" / f"{name}-{mode}.elf"
    assert path.exists(), f"{path} was not built"
    return path


def sanitizer_env():
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "abort_on_error=0:detect_leaks=1:color=never:exitcode=99"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98:color=never"
    return env


def run(build, guest_path, *args, asan=False, timeout=60, stdin=None):
    """Runs `minihv run ARGS GUEST`; returns the CompletedProcess (text output)."""
    cmd = [str(vmm(build, asan)), "run", *map(str, args), str(guest_path)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
                         env=sanitizer_env() if asan else None)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"minihv did not end within {timeout} s: {cmd}\n{err.decode(errors='replace')}")
    return subprocess.CompletedProcess(cmd, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


def assert_no_sanitizer_report(stderr):
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior"):
        assert marker not in stderr, f"sanitizer report:\n{stderr}"


def last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class ControlClient:
    """One connection to a minihv control socket: JSON lines both ways."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))  # blocking: waits while the listen backlog is full
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read_json(self):
        return json.loads(self.read_line())

    def request(self, obj):
        """Sends obj (a dict, or a str/bytes line sent verbatim) and returns the reply object."""
        if isinstance(obj, dict):
            data = json.dumps(obj).encode()
        elif isinstance(obj, str):
            data = obj.encode()
        else:
            data = obj
        self.send_raw(data + b"\n")
        reply = self.read_json()
        while "event" in reply:
            reply = self.read_json()
        return reply

    def read_until(self, needle, timeout=10):
        """Console mode: reads raw bytes until needle appears; returns everything read."""
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{needle!r} not seen; got {self.buf!r}")
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError(f"console closed; got {self.buf!r}")
                self.buf += chunk
        return self.buf


class Domain:
    """A minihv process started with a control socket and a console file, ready to use."""

    def __init__(self, build, tmp_path, guest_name, mode="pv", extra=(), asan=False, restore=None,
                 tag=""):
        """With restore=IMAGE the domain is restored from a saved image (guest_name and mode
        are then not passed); tag prefixes the socket and console names (for several domains
        in one directory)."""
        self.tmp = pathlib.Path(tmp_path)
        self.control = self.tmp / f"{tag}control.sock"
        self.console = self.tmp / f"{tag}console.log"
        r, w = os.pipe()
        cmd = [str(vmm(build, asan)), "run", "--control", str(self.control),
               "--console", str(self.console), "--ready-fd", str(w), *map(str, extra)]
        if restore:
            cmd += ["--restore", str(restore)]
        else:
            cmd += ["--mode", mode, str(guest(build, guest_name, mode))]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     pass_fds=(w,), env=sanitizer_env() if asan else None)
        os.close(w)
        ready, _, _ = select.select([r], [], [], 20)
        got = os.read(r, 64) if ready else b""
        os.close(r)
        if got != b"ready\n":
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"minihv never became ready ({got!r}): {err.decode()}")
        self.clients = []

    def client(self):
        c = ControlClient(self.control)
        self.clients.append(c)
        return c

    def wait_console(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.console.exists() and needle in self.console.read_text(errors="replace"):
                return self.console.read_text(errors="replace")
            time.sleep(0.01)
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        raise TimeoutError(f"{needle!r} not on the console; got {text!r}")

    def wait(self, timeout=20):
        """Waits for the process to end; returns (status, stderr)."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"minihv did not end within {timeout} s: {err.decode()}")
        for c in self.clients:
            c.close()
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
        for c in self.clients:
            c.close()
