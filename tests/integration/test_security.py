"""Security: every mutating D-Bus method and HTTP route refused to an unprivileged caller, the
token file, the minihv sandbox ending the VMM (not the host) on a forbidden system call, and
the systemd unit's exposure score."""
import json
import os
import re
import shutil
import subprocess
import textwrap

import pytest

from hvd_harness import SOURCE_ROOT, wait_for

NOBODY_CALLS = textwrap.dedent("""
    import dbus, json, os, sys
    conn = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    m = dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1"), "org.hvd1.Manager")
    d = dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1/domain/target"), "org.hvd1.Domain")
    calls = {
        "CreateDomain": lambda: m.CreateDomain({"name": "intruder"}),
        "DeleteDomain": lambda: m.DeleteDomain("target"),
        "Start": d.Start, "Shutdown": lambda: d.Shutdown(dbus.UInt32(5)), "Destroy": d.Destroy,
        "Pause": d.Pause, "Resume": d.Resume, "Reboot": d.Reboot,
        "Update": lambda: d.Update({"autostart": True}), "Delete": d.Delete,
        "OpenConsole": d.OpenConsole,
        "ListDomains": m.ListDomains, "GetDomain": lambda: m.GetDomain("target"),
        "GetHost": m.GetHost, "GetInfo": d.GetInfo,
        "GetConsole": lambda: d.GetConsole(dbus.UInt32(100)),
    }
    out = {}
    for name, call in calls.items():
        try:
            call()
            out[name] = "ok"
        except dbus.DBusException as e:
            out[name] = [e.get_dbus_name(), e.get_dbus_message()]
    print(json.dumps(out))
""")

MUTATING = ["CreateDomain", "DeleteDomain", "Start", "Shutdown", "Destroy", "Pause", "Resume",
            "Reboot", "Update", "Delete", "OpenConsole"]


def test_every_mutating_dbus_method_refuses_nobody(hvd):
    hvd.hvctl("create", "target", "--driver", "minihv", "--kernel", "echo", "--memory", "2",
              check=True)
    hvd.hvctl("start", "target", check=True)
    before = hvd.hvctl_json("list", "--all")

    def as_nobody():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    p = subprocess.run(["/usr/bin/python3", "-c", NOBODY_CALLS], env=hvd.env(), text=True,
                       capture_output=True, preexec_fn=as_nobody, timeout=60)
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout)
    for name in MUTATING:
        assert results[name][0] == "org.hvd1.Error.AccessDenied", (name, results[name])
        assert "uid 65534 may not" in results[name][1]
    for name in set(results) - set(MUTATING):
        assert results[name] == "ok", (name, results[name])
    assert hvd.hvctl_json("list", "--all") == before
    assert [d["name"] for d in before] == ["target"]


def route_table():
    src = (SOURCE_ROOT / "hvd" / "http-api.c").read_text()
    table = src[src.index("static const Route routes[]"):]
    table = table[:table.index("};")]
    return re.findall(r'\{"([^"]+)", "([A-Z]+)", (true|false)', table)


def test_every_mutating_http_route_needs_the_token(hvd):
    hvd.hvctl("create", "target", "--driver", "minihv", "--kernel", "echo", "--memory", "2",
              check=True)
    mutating = [(p, m) for p, m, mutate in route_table() if mutate == "true"]
    assert len(mutating) >= 5
    for pattern, method in mutating:
        path = pattern.replace("{name}", "target").replace("{action}", "start")
        for token, challenge in [(False, "Bearer"), ("f" * 64, 'Bearer error="invalid_token"')]:
            got, headers, body = hvd.request(method, path, {"name": "x", "data": "y"}, token=token)
            assert got == 401, (method, path, token, got, body)
            assert headers["WWW-Authenticate"] == challenge, (method, path, token)
    assert hvd.hvctl_json("info", "target")["state"] == "shutoff"
    assert [d["name"] for d in hvd.hvctl_json("list", "--all")] == ["target"]


def test_token_file_is_private_and_a_readable_one_is_refused(hvd):
    token = hvd.state_dir / "http-token"
    assert token.stat().st_mode & 0o777 == 0o600
    hvd.stop()
    token.chmod(0o644)
    hvd.start(wait=False)
    assert hvd.proc.wait(timeout=10) == 1
    assert "is readable by others (mode 644); it must be 0600" in hvd.read_log()
    token.chmod(0o600)
    hvd.start()


@pytest.mark.skipif(not os.access("/dev/kvm", os.W_OK), reason="/dev/kvm is not usable here")
def test_a_forbidden_system_call_ends_the_vmm_not_the_host(make_hvd, build, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("still here")
    # A preloaded fixture makes a thread of the sandboxed VMM ask for unlink(victim).
    hvd = make_hvd(env={"LD_PRELOAD": str(build / "tests/integration/forbidden-syscall.so"),
                        "HVD_TEST_FORBIDDEN_UNLINK": str(victim)}).start()
    hvd.hvctl("create", "jail", "--driver", "minihv", "--kernel", "echo", "--memory", "2",
              check=True)
    hvd.hvctl("start", "jail", check=True)
    pid = hvd.hvctl_json("info", "jail")["pid"]
    wait_for(lambda: hvd.hvctl_json("info", "jail")["state"] == "shutoff", timeout=15,
             what="the VMM to end")
    assert victim.read_text() == "still here"  # the call never ran
    assert not os.path.exists(f"/proc/{pid}") or \
        open(f"/proc/{pid}/stat").read().split()[2] in "ZX"
    rows = [json.loads(r[0]) for r in hvd.db_query(
        "SELECT detail FROM events WHERE domain = 'jail' AND event = 'state-changed'")]
    crash = [r for r in rows if r["state"] == "crashed"]
    assert crash and crash[0]["reason"] == "host-error"
    assert "the sandbox refused system call" in crash[0]["message"]
    # hvd and the other surfaces are fine.
    assert hvd.proc.poll() is None and hvd.hvctl("host").returncode == 0


def test_systemd_exposure_score(build, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = (build / "systemd" / "hvd.service").read_text()
    (tmp_path / "hvd.service").write_text(unit)
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                        str(tmp_path / "hvd.service")], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for hvd.service: ([0-9.]+)", p.stdout)
    assert m, p.stdout + p.stderr
    score = float(m.group(1))
    print(f"systemd-analyze security: exposure {score}")
    assert score <= 4.0
