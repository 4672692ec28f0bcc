"""A domain with a network device saved and restored (pv rings, NE2000 state): the restored
guest answers ping on a new tap, and restoring without a tap is refused."""
import shutil
import subprocess
import time

import pytest

from minihv_helpers import MODES, STATUS_HOST_ERROR, ControlClient, require_kvm, vmm, guest
from net_helpers import GUEST_ADDR, HERE, HOST_ADDR, PREFIX, Netns, require_net

STATUS_SAVED = 6


@pytest.fixture
def ns():
    require_kvm()
    require_net()
    n = Netns()
    yield n
    n.close()


def on_tap(build, ns, args):
    helper = [shutil.which("python3") or "/usr/bin/python3", str(HERE / "tap_exec.py"),
              "--name", "mhv0", "--address", f"{HOST_ADDR}/{PREFIX}"]
    return subprocess.Popen(ns.cmd([*helper, "--", str(vmm(build)), "run", "--net-fd", "{fd}",
                                    *map(str, args)]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_socket(path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return ControlClient(path)
        except (FileNotFoundError, ConnectionRefusedError):
            time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def ping(ns):
    r = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "5", GUEST_ADDR], timeout=60)
    assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("mode", MODES)
def test_a_restored_guest_answers_ping_on_a_new_tap(build, ns, tmp_path, mode):
    ctl = tmp_path / "a.sock"
    p = on_tap(build, ns, ["--mode", mode, "--control", ctl, "--cmdline",
                           f"ip={GUEST_ADDR}/{PREFIX}", guest(build, "udpecho", mode)])
    try:
        c = wait_socket(ctl)
        ping(ns)
        image = tmp_path / "net.img"
        r = subprocess.run([str(vmm(build)), "save", "--control", str(ctl), "--then", "stop",
                            str(image)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert p.wait(timeout=30) == STATUS_SAVED
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()
    r = subprocess.run([str(vmm(build)), "run", "--restore", str(image)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == STATUS_HOST_ERROR
    assert "had a network device: give --net-fd" in r.stderr

    ctl2 = tmp_path / "b.sock"
    p2 = on_tap(build, ns, ["--control", ctl2, "--restore", image])
    try:
        c2 = wait_socket(ctl2)
        ping(ns)
        assert c2.request({"cmd": "destroy"})["ok"]
        p2.wait(timeout=30)
        c2.close()
    finally:
        if p2.poll() is None:
            p2.kill()
        p2.communicate()
