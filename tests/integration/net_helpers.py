"""Helpers for the minihv network tests: a private network namespace with a tap whose host
side has an address, and a guest started with `minihv run --net-fd` on that tap. Nothing is
sent anywhere but inside the namespace."""
import itertools
import os
import pathlib
import select
import shutil
import subprocess
import time
import uuid

import pytest

from minihv_helpers import guest, sanitizer_env, vmm

HERE = pathlib.Path(__file__).resolve().parent
HOST_ADDR = "10.99.0.1"
GUEST_ADDR = "10.99.0.2"
PREFIX = 24
_counter = itertools.count()


def net_skip_reason():
    """Why the network tests cannot run here, or None."""
    if not shutil.which("ip"):
        return "the ip command (iproute2) is missing"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    probe = f"hvd-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"ip netns add failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def require_net():
    reason = net_skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)


class Netns:
    """A network namespace of its own, deleted (with everything in it) by close()."""

    def __init__(self):
        self.name = f"hvd-net-{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    def cmd(self, args):
        return ["ip", "netns", "exec", self.name, *map(str, args)]

    def run(self, args, timeout=60, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.cmd(args), timeout=timeout, **kwargs)

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class NetGuest:
    """A minihv guest on a tap (host side HOST_ADDR/24) in ns; the guest is GUEST_ADDR."""

    def __init__(self, build, ns, name, mode, extra_cmdline="", asan=False, mac=None,
                 tap="mhv0", mtu=None, stats=None, memory=None, cmdline=None):
        self.ns = ns
        self.console = None
        if cmdline is None:
            cmdline = f"ip={GUEST_ADDR}/{PREFIX} {extra_cmdline}".strip()
        minihv = [str(vmm(build, asan)), "run", "--mode", mode, "--net-fd", "{fd}",
                  "--cmdline", cmdline]
        if mac:
            minihv += ["--mac", mac]
        if stats:
            minihv += ["--stats-file", str(stats)]
        if memory:
            minihv += ["--memory", str(memory)]
        minihv.append(str(guest(build, name, mode)))
        helper = [shutil.which("python3") or "/usr/bin/python3", str(HERE / "tap_exec.py"),
                  "--name", tap, "--address", f"{HOST_ADDR}/{PREFIX}"]
        if mtu:
            helper += ["--mtu", str(mtu)]
        self.proc = subprocess.Popen(ns.cmd([*helper, "--", *minihv]), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     env=sanitizer_env() if asan else None)
        self.out = ""

    def wait_ready(self, needle, timeout=30):
        """Reads the console (standard output) until needle appears."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while needle not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not on the console: {self.out!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.proc.wait()
                raise AssertionError(f"minihv ended ({self.proc.returncode}): {self.out}"
                                     f"{self.proc.stderr.read().decode(errors='replace')}")
            self.out += chunk.decode(errors="replace")
        return self.out

    def wait(self, timeout=60):
        """Waits for minihv to end by itself; returns (status, console output, stderr)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"minihv did not end within {timeout} s: {err.decode()}")
        self.out += out.decode(errors="replace")
        return self.proc.returncode, self.out, err.decode(errors="replace")

    def stop(self, timeout=30):
        """Destroys the guest (SIGTERM); returns (status, console output, stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.out += out.decode(errors="replace")
        return self.proc.returncode, self.out, err.decode(errors="replace")
