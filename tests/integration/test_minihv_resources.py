"""Resource enforcement of minihv domains on this host's cgroup v1 hierarchies: CPU weights
shared on one CPU, a CPU cap and its live change, a memory limit that stops only its VMM, the
settings on every surface with bad values refused, re-adoption and the sweep after a restart.
Guests are pinned to one host CPU and measured from cgroup statistics over a few seconds."""
import json
import os
import pathlib
import time
import uuid

import dbus
import pytest

from hvd_harness import Hvd, wait_for

CGROUP = pathlib.Path("/sys/fs/cgroup")
V1 = all((CGROUP / c / "cgroup.procs").exists() for c in ("cpu", "cpuacct", "memory"))

pytestmark = [
    pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                       reason="/dev/kvm is not usable here"),
    pytest.mark.skipif(not V1 or os.geteuid() != 0,
                       reason="needs writable cgroup v1 cpu, cpuacct and memory hierarchies"),
]

MANY = "[allocation]\ncpu-overcommit = 50\nreserved-memory-mib = 0\n"
CPU = "1" if os.cpu_count() and os.cpu_count() > 1 else "0"


def remove_tree(path):
    """rmdir depth-first (cgroup directories cannot be removed with their files)."""
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_dir():
            remove_tree(child)
    try:
        path.rmdir()
    except OSError:
        pass


@pytest.fixture
def cg(build, bus, workdir):
    """An hvd enforcing resources under a cgroup subtree of its own."""
    root = f"/hvd-test-{uuid.uuid4().hex[:12]}"
    h = Hvd(build, bus, workdir / "hvd", config=MANY, cgroup_root=root)
    h.root = root
    h.start()
    yield h
    h.stop()
    deadline = time.monotonic() + 5
    for c in ("cpu", "cpuacct", "memory"):
        while (CGROUP / c / root.lstrip("/")).exists() and time.monotonic() < deadline:
            remove_tree(CGROUP / c / root.lstrip("/"))
            time.sleep(0.05)


def group(h, controller, domain, child=""):
    u = h.hvctl_json("info", domain)["uuid"]
    return CGROUP / controller / h.root.lstrip("/") / u / child


def usage_ns(h, domain):
    return int((group(h, "cpuacct", domain, "vcpu") / "cpuacct.usage").read_text())


def create_spin(h, name, *args, memory="16"):
    p = h.hvctl("create", name, "--driver", "minihv", "--kernel", "spin", "--memory", memory,
                "--cpuset", CPU, *args)
    assert p.returncode == 0, p.stderr


def start(h, name):
    h.hvctl("start", name, check=True)
    wait_for(lambda: "spin: spinning" in h.hvctl("console", name, "--tail", "20").stdout,
             what=f"{name} to spin")


def shares_over(h, names, seconds):
    """CPU time of each domain's vCPU group over seconds, as a share of the wall time."""
    before = [usage_ns(h, n) for n in names]
    t0 = time.monotonic()
    time.sleep(seconds)
    after = [usage_ns(h, n) for n in names]
    wall = (time.monotonic() - t0) * 1e9
    return [(a - b) / wall for a, b in zip(after, before)]


@pytest.mark.parametrize("mode", ["pv", "full"])
def test_spin_guest_runs_until_stopped(cg, mode):
    p = cg.hvctl("create", "s", "--driver", "minihv", "--mode", mode, "--kernel", "spin",
                 "--memory", "16", "--cpuset", CPU)
    assert p.returncode == 0, p.stderr
    start(cg, "s")
    busy = shares_over(cg, ["s"], 1.0)[0]
    assert busy > 0.2, f"a spinning guest used only {busy:.0%} of its CPU"
    p = cg.hvctl("stop", "s", "--timeout", "10")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "spin: stopped after" in cg.hvctl("console", "s", "--tail", "20").stdout


def test_weights_share_one_cpu_1_to_3(cg):
    create_spin(cg, "light", "--cpu-weight", "100")
    create_spin(cg, "heavy", "--cpu-weight", "300")
    start(cg, "light")
    start(cg, "heavy")
    assert (group(cg, "cpu", "light") / "cpu.shares").read_text().strip() == "1024"
    assert (group(cg, "cpu", "heavy") / "cpu.shares").read_text().strip() == "3072"
    time.sleep(0.5)
    light, heavy = shares_over(cg, ["light", "heavy"], 3.0)
    ratio = heavy / light
    assert 3 * 0.85 <= ratio <= 3 * 1.15, f"heavy:light = {ratio:.2f} ({heavy:.1%}, {light:.1%})"


def test_cap_holds_and_changes_live(cg):
    create_spin(cg, "capped", "--cpu-cap", "25")
    start(cg, "capped")
    pid = cg.hvctl_json("info", "capped")["pid"]
    time.sleep(0.3)
    used = shares_over(cg, ["capped"], 3.0)[0]
    assert 0.05 < used <= 0.27, f"capped at 25% it used {used:.1%}"

    # Lowered while it runs: in force within a second, without a restart.
    cg.hvctl("set", "capped", "--cpu-cap", "10", check=True)
    assert (group(cg, "cpu", "capped", "vcpu") / "cpu.cfs_quota_us").read_text().strip() == \
        "10000"
    time.sleep(1.0)
    used = shares_over(cg, ["capped"], 2.0)[0]
    assert used <= 0.12, f"capped at 10% it used {used:.1%}"
    assert cg.hvctl_json("info", "capped")["pid"] == pid

    # Lifted: it gets its CPU back.
    cg.hvctl("set", "capped", "--cpu-cap", "0", check=True)
    time.sleep(0.5)
    assert shares_over(cg, ["capped"], 1.0)[0] > 0.3

    numbers = cg.hvctl_json("stats", "capped")["stats"]
    assert numbers["cpu_throttled_count"] > 0 and numbers["cpu_throttled_ns"] > 0
    assert "cpu_throttled_ns" in cg.hvctl("stats", "capped").stdout
    metrics = cg.request("GET", "/metrics")[2]
    assert 'hvd_domain_cpu_throttled_seconds_total{domain="capped"}' in metrics
    assert 'hvd_domain_cpu_cap_ratio{domain="capped"} 0.00' in metrics
    host = cg.hvctl("host").stdout
    assert "resource control: cgroup v1" in host
    assert "capped" in host.split("Resources of active domains")[1]


def test_memory_limit_stops_only_that_vmm(cg):
    create_spin(cg, "hog", "--memory-limit", "40", memory="128")
    cg.hvctl("set", "hog", "--cmdline", "touch=120", "--on-crash", "preserve", check=True)
    create_spin(cg, "calm")
    start(cg, "calm")
    calm_pid = cg.hvctl_json("info", "calm")["pid"]
    cg.hvctl("start", "hog")
    wait_for(lambda: cg.hvctl_json("info", "hog")["state"] in ("crashed", "shutoff"),
             timeout=20, what="hog to be stopped")
    info = cg.hvctl_json("info", "hog")
    assert (info["state"], info["reason"]) == ("crashed", "host-error")
    rows = [json.loads(r[0]) for r in cg.db_query(
        "SELECT detail FROM events WHERE domain = 'hog' AND event = 'state-changed' ORDER BY id")]
    assert any("memory limit of 40 MiB" in r.get("message", "") for r in rows), rows
    # Nothing else is affected.
    calm = cg.hvctl_json("info", "calm")
    assert (calm["state"], calm["pid"]) == ("running", calm_pid)
    assert shares_over(cg, ["calm"], 0.5)[0] > 0.2


def test_bad_values_refused_naming_the_field(cg):
    p = cg.hvctl("create", "b", "--driver", "minihv", "--kernel", "spin", "--cpu-weight", "0")
    assert p.returncode != 0 and "cpu_weight" in p.stderr
    p = cg.hvctl("create", "b", "--driver", "minihv", "--kernel", "spin", "--cpu-cap", "150")
    assert p.returncode != 0 and "cpu_cap" in p.stderr and "vcpus x 100" in p.stderr
    create_spin(cg, "b")
    p = cg.hvctl("set", "b", "--cpu-weight", "10001")
    assert p.returncode != 0 and "cpu_weight" in p.stderr

    status, _, body = cg.request("PATCH", "/api/v1/domains/b", {"memory_limit": -1})
    assert status == 400 and "memory_limit" in json.dumps(body)
    status, _, body = cg.request("PATCH", "/api/v1/domains/b", {"cpu_cap": "half"})
    assert status == 400 and "cpu_cap" in json.dumps(body)

    with pytest.raises(dbus.exceptions.DBusException) as err:
        cg.domain("b").Update({"cpu_cap": dbus.UInt32(101)})
    assert "cpu_cap" in str(err.value)
    with pytest.raises(dbus.exceptions.DBusException) as err:
        cg.domain("b").Update({"cpu_weight": dbus.UInt32(0)})
    assert "cpu_weight" in str(err.value)


def test_settings_on_every_surface_and_kept(cg):
    create_spin(cg, "r", "--cpu-weight", "250", "--cpu-cap", "40", "--memory-limit", "96")
    info = cg.hvctl_json("info", "r")
    assert (info["cpu_weight"], info["cpu_cap"], info["memory_limit"]) == (250, 40, 96)
    props = cg.domain_props("r")
    assert (props["CPUWeight"], props["CPUCap"], props["MemoryLimitMiB"]) == (250, 40, 96)
    text = cg.hvctl("info", "r").stdout
    assert "CPU weight: 250" in text and "CPU cap:    40%" in text and "96 MiB" in text

    start(cg, "r")
    status = cg.request("PATCH", "/api/v1/domains/r", {"cpu_weight": 500, "memory_limit": 80})[0]
    assert status == 200
    assert (group(cg, "cpu", "r") / "cpu.shares").read_text().strip() == "5120"
    assert (group(cg, "memory", "r") / "memory.limit_in_bytes").read_text().strip() == \
        str(80 << 20)
    cg.domain("r").Update({"cpu_cap": dbus.UInt32(60)})
    assert (group(cg, "cpu", "r", "vcpu") / "cpu.cfs_quota_us").read_text().strip() == "60000"

    cg.restart()
    info = cg.hvctl_json("info", "r")
    assert (info["cpu_weight"], info["cpu_cap"], info["memory_limit"]) == (500, 60, 80)
    assert info["state"] == "running"


def test_restart_readopts_and_sweeps(cg):
    create_spin(cg, "kept", "--cpu-cap", "30")
    start(cg, "kept")
    kept = group(cg, "cpu", "kept")
    # A group no domain claims, and one left in a single hierarchy.
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    stray = [CGROUP / c / cg.root.lstrip("/") / one for c in ("cpu", "cpuacct", "memory")]
    stray.append(CGROUP / "cpu" / cg.root.lstrip("/") / two)
    for d in stray:
        d.mkdir()
    cg.restart()
    assert kept.exists() and cg.hvctl_json("info", "kept")["state"] == "running"
    wait_for(lambda: not any(d.exists() for d in stray),
             what=f"the unclaimed cgroups to go: {[str(d) for d in stray if d.exists()]}")
    # Adopted groups still change live, and go with the domain.
    cg.hvctl("set", "kept", "--cpu-cap", "20", check=True)
    assert (kept / "vcpu" / "cpu.cfs_quota_us").read_text().strip() == "20000"
    cg.hvctl("destroy", "kept", check=True)
    wait_for(lambda: not kept.exists(), what="the domain's cgroup to be removed")
