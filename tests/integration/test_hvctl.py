"""hvctl's command line: help on every verb, usage errors, exit codes, JSON field names."""
import subprocess

import pytest

VERBS = ["create", "set", "start", "stop", "destroy", "pause", "resume", "reboot", "delete",
         "list", "info", "host", "events"]

DOMAIN_FIELDS = {"name", "uuid", "driver", "mode", "vcpus", "memory_mib", "kernel", "initrd", "disk",
                 "cmdline", "cpuset", "network", "autostart", "on_crash", "state", "reason"}


def run(build, *args, env=None):
    return subprocess.run([str(build / "hvctl" / "hvctl"), *args], capture_output=True,
                          text=True, env=env, timeout=30)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(build, verb):
    p = run(build, verb, "--help")
    assert p.returncode == 0
    assert p.stdout.startswith(f"Usage: hvctl {verb}")


def test_migrate_help_says_what_timeout_does_on_each_driver(build):
    p = run(build, "migrate", "--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert "minihv copies the rest with the guest paused" in text
    assert "kvm aborts the migration" in text


def test_global_help_documents_exit_codes(build):
    p = run(build, "--help")
    assert p.returncode == 0
    for line in ["0  success", "2  usage error", "3  no such domain", "4  hvd could not be reached"]:
        assert line in p.stdout


def test_usage_errors_exit_2(hvd):
    assert hvd.hvctl("frobnicate").returncode == 2
    assert hvd.hvctl("start").returncode == 2
    assert hvd.hvctl("start", "a", "b").returncode == 2
    assert hvd.hvctl("create", "x", "--vcpus", "many").returncode == 2
    assert hvd.hvctl("stop", "x", "--timeout", "0").returncode == 2
    assert hvd.hvctl("list", "--bogus").returncode == 2


def test_no_such_domain_exits_3(hvd):
    for verb in ["start", "info", "stop", "delete", "pause"]:
        p = hvd.hvctl(verb, "ghost")
        assert p.returncode == 3, verb
        assert "no domain named 'ghost'" in p.stderr


def test_unreachable_daemon_exits_4(build, bus, tmp_path):
    env = {"DBUS_SYSTEM_BUS_ADDRESS": bus.address, "PATH": "/usr/bin:/bin"}
    p = run(build, "list", env=env)  # bus up, hvd not running
    assert p.returncode == 4 and "hvd is not running" in p.stderr
    env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={tmp_path}/nothing"
    p = run(build, "list", env=env)  # no bus at all
    assert p.returncode == 4
    p = run(build, "--bus-address", f"unix:path={tmp_path}/nothing", "host")
    assert p.returncode == 4


def test_bus_address_option(hvd):
    p = hvd.hvctl("--bus-address", hvd.bus.address, "host", env={"DBUS_SYSTEM_BUS_ADDRESS": ""})
    assert p.returncode == 0


def test_json_field_names_are_stable(hvd):
    hvd.hvctl("create", "j", "--mode", "full", "--vcpus", "2", "--memory", "96",
              "--kernel", "/boot/vmlinuz", "--cmdline", "quiet", check=True)
    info = hvd.hvctl_json("info", "j")
    assert DOMAIN_FIELDS <= set(info)
    assert info["kernel"] == "/boot/vmlinuz" and info["disk"] is None
    assert info["memory_mib"] == 96 and info["vcpus"] == 2 and info["mode"] == "full"
    listed = hvd.hvctl_json("list", "--all")[0]
    assert set(listed) == {"name", "driver", "mode", "state", "reason", "vcpus", "memory_mib"}


def test_relative_paths_become_absolute(hvd, tmp_path):
    p = subprocess.run([str(hvd.hvctl_binary), "create", "rel", "--kernel", "./k",
                        "--disk", "images/d.img"], cwd=tmp_path, env=hvd.env(),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    info = hvd.hvctl_json("info", "rel")
    assert info["kernel"] == f"{tmp_path}/./k"
    assert info["disk"] == f"{tmp_path}/images/d.img"


def test_list_table_is_aligned(hvd):
    hvd.hvctl("create", "short", check=True)
    hvd.hvctl("create", "a-much-longer-name", check=True)
    lines = hvd.hvctl("list", "--all", check=True).stdout.splitlines()
    assert lines[0].split() == ["NAME", "DRIVER", "MODE", "STATE", "REASON", "VCPUS", "MEMORY"]
    col = lines[0].index("DRIVER")
    assert all(line[col:col + 3] == "kvm" for line in lines[1:])


def test_events_follow_changes(hvd):
    proc = subprocess.Popen([str(hvd.hvctl_binary), "events", "--json", "--count", "3"],
                            env=hvd.env(), stdout=subprocess.PIPE, text=True)
    import time
    time.sleep(0.3)
    hvd.hvctl("create", "e1", check=True)
    hvd.hvctl("start", "e1", check=True)
    # D-Bus announces a start's starting state only when it lasted past a commit, so the third
    # event is that start's running or the pause's paused.
    hvd.hvctl("pause", "e1", check=True)
    out, _ = proc.communicate(timeout=10)
    import json
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["created", "state-changed", "state-changed"]
    assert all(e["domain"] == "e1" for e in events)
    states = [e["state"] for e in events[1:]]
    assert states in (["starting", "running"], ["running", "paused"]), states
