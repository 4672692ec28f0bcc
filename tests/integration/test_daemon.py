"""The daemon's contract with its host: options, configuration errors, SIGHUP, sd_notify,
watchdog, logging, and signals that stop it without stopping domains."""
import signal
import subprocess

from hvd_harness import wait_for


def test_bad_config_line_is_refused_with_file_line_and_reason(make_hvd):
    h = make_hvd(config="[allocation]\ncpu-overcommit = 4\nreserved-cpus = 9-3\n")
    h.start(wait=False)
    assert h.proc.wait(timeout=10) == 1
    assert f"{h.config_path}:3: reserved-cpus must be a CPU list" in h.read_log()


def test_unknown_key_and_missing_explicit_config(make_hvd, build):
    h = make_hvd(config="[daemon]\nstate_dir = /tmp\n")
    h.start(wait=False)
    assert h.proc.wait(timeout=10) == 1
    assert f"{h.config_path}:2: unknown key 'state_dir' in section [daemon]" in h.read_log()
    p = subprocess.run([str(build / "hvd" / "hvd"), "--config", "/nonexistent/hvd.conf",
                        "--check-config"], capture_output=True, text=True)
    assert p.returncode == 1 and "/nonexistent/hvd.conf" in p.stderr


def test_check_config_prints_effective_values(build, tmp_path):
    conf = tmp_path / "hvd.conf"
    conf.write_text("[allocation]\ncpu-overcommit = 2.5\n")
    p = subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config",
                        "--state-dir", "/srv/x"], capture_output=True, text=True)
    assert p.returncode == 0
    assert "cpu-overcommit = 2.5" in p.stdout and "state-dir = /srv/x" in p.stdout


def test_usage_errors(build):
    p = subprocess.run([str(build / "hvd" / "hvd"), "--bogus"], capture_output=True, text=True)
    assert p.returncode == 2
    p = subprocess.run([str(build / "hvd" / "hvd"), "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--state-dir" in p.stdout


def test_sighup_reloads_and_refuses_a_broken_file(make_hvd):
    h = make_hvd(config="[allocation]\ncpu-overcommit = 1\n").start()
    cpus = h.hvctl_json("host")["cpus_available"]
    assert h.hvctl_json("host")["vcpus_capacity"] == cpus
    h.config_path.write_text("[allocation]\ncpu-overcommit = 3\n")
    h.signal(signal.SIGHUP)
    wait_for(lambda: h.hvctl_json("host")["vcpus_capacity"] == 3 * cpus, what="reload")
    assert ("RELOADING", "1") in h.notifications()

    h.config_path.write_text("[allocation]\ncpu-overcommit = 5\nnonsense\n")
    h.signal(signal.SIGHUP)
    wait_for(lambda: "Reload refused" in h.read_log(), what="refusal in the log")
    assert f"{h.config_path}:3: expected 'key = value'" in h.read_log()
    assert h.proc.poll() is None
    assert h.hvctl_json("host")["vcpus_capacity"] == 3 * cpus


def test_notify_ready_status_and_stopping(hvd):
    fields = hvd.notifications()
    assert ("READY", "1") in fields
    assert any(k == "STATUS" and v == "0 running, 0 defined" for k, v in fields)
    hvd.hvctl("create", "s1", check=True)
    hvd.hvctl("create", "s2", check=True)
    hvd.hvctl("start", "s1", check=True)
    wait_for(lambda: ("STATUS", "1 running, 2 defined") in hvd.notifications(),
             what="STATUS update")
    hvd.signal(signal.SIGTERM)
    assert hvd.proc.wait(timeout=10) == 0
    wait_for(lambda: ("STOPPING", "1") in hvd.notifications(), timeout=5, what="STOPPING=1")


def test_watchdog_pings_when_asked(make_hvd):
    h = make_hvd(env={"WATCHDOG_USEC": "400000"})
    h.extra_env["WATCHDOG_PID"] = ""  # filled below once the pid is known
    # sd_watchdog_enabled() checks WATCHDOG_PID against the process: start via a shell that
    # execs hvd so the pid is known in advance.
    h.extra_env.pop("WATCHDOG_PID")
    cmd = h.command

    def command():
        return ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', *cmd()]

    h.command = command
    h.start()
    wait_for(lambda: sum(1 for k, v in h.notifications() if k == "WATCHDOG") >= 3,
             timeout=5, what="three watchdog pings")


def test_log_prefix_under_systemd(make_hvd):
    h = make_hvd(env={"JOURNAL_STREAM": "8:1234"}).start()
    h.hvctl("create", "logme", check=True)
    h.stop()
    log = h.read_log()
    assert "<6>Domain logme created" in log
    plain = make_hvd(name="plain").start()
    plain.stop()
    assert "hvd: hvd 0.1.0 ready" in plain.read_log()


def test_readme_configuration_example_is_accepted(build, tmp_path):
    from hvd_harness import SOURCE_ROOT
    readme = (SOURCE_ROOT / "README.md").read_text()
    block = readme.split("```ini\n", 1)[1].split("```", 1)[0]
    conf = tmp_path / "hvd.conf"
    conf.write_text(block)
    p = subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "synchronous = normal" in p.stdout and "listen = 127.0.0.1:8780" in p.stdout


def test_kvm_driver_can_be_disabled(make_hvd):
    h = make_hvd(config="[kvm]\nenabled = no\n").start()
    kvm = h.hvctl_json("host")["drivers"]["kvm"]
    assert kvm["available"] is False and "disabled in the configuration" in kvm["reason"]
    h.hvctl("create", "k", check=True)
    p = h.hvctl("start", "k")
    assert p.returncode == 1 and "[kvm] enabled = no" in p.stderr
    # libvirt is not even loaded.
    maps = open(f"/proc/{h.proc.pid}/maps").read()
    assert "libvirt" not in maps
