#!/usr/bin/env python3
"""minihv domains through the whole stack:
  - start latency: D-Bus Start -> the guest's first console byte, median and p99 over 100
    starts, against `virsh start` of the same tiny Multiboot guest under libvirtd + QEMU (TCG)
    measured in the same run (when libvirtd and QEMU are installed);
  - the same start latency with resource enforcement on (each VMM in its own cgroup, vCPU
    threads in a child group, weight, cap and memory limit set), next to it without;
  - the same start latency from a warm pool ([minihv] warm-pool = 2 of the guest's shape: the
    VMM, its VM and vCPUs made before the start), next to the cold start;
  - density: 200 concurrent minihv domains of 2 MiB: host memory per domain beyond guest RAM,
    and hvd's resident memory, next to an idle libvirtd's."""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib
import dbus
from bench_dbus import ROOMY
from hvd_harness import Bus, Hvd, build_dir, wait_for

STARTS = int(os.environ.get("BENCH_STARTS", "100"))
DENSITY = int(os.environ.get("BENCH_DENSITY", "200"))
REFERENCE_STARTS = int(os.environ.get("BENCH_REFERENCE_STARTS", "10"))


def meminfo(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def wait_growth(path, size, timeout=30):
    """Spins until the file at path is larger than size; returns the time it happened."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if os.stat(path).st_size > size:
                return time.perf_counter()
        except FileNotFoundError:
            pass
    raise TimeoutError(f"{path} did not grow")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def hvd_start_latency(h, conn):
    m = h.manager(conn)
    m.CreateDomain({"name": "lat", "driver": "minihv", "mode": "pv", "kernel": "hello",
                    "memory_mib": dbus.UInt64(2)})
    uuid = h.hvctl_json("info", "lat")["uuid"]
    log = h.state_dir / "consoles" / f"{uuid}.log"
    d = h.domain("lat", conn)
    times = []
    for _ in range(STARTS):
        size = log.stat().st_size if log.exists() else -1
        t0 = time.perf_counter()
        d.Start()
        times.append(wait_growth(log, size) - t0)
        wait_for(lambda: h.domain_props("lat", conn)["State"] == "shutoff", what="power-off")
    return times


def warm_pool_start_latency(build, bus, work):
    """hvd_start_latency with a warm pool of the guest's shape, each start made once a pooled
    VMM waits (the pool refills between starts, off the loop); also how many took one."""
    h = Hvd(build, bus, work / "hvd-pool", config=ROOMY + "[kvm]\nenabled = no\n"
            "[minihv]\nwarm-pool = 2\nwarm-pool-memory = 2\n")
    try:
        h.start()
        conn = bus.connect()
        pool = lambda: h.hvctl_json("host")["drivers"]["minihv"]["warm_pool"]  # noqa: E731
        wait_for(lambda: pool()["waiting"] == 2, what="the warm pool to fill")
        h.manager(conn).CreateDomain({"name": "lat", "driver": "minihv", "mode": "pv",
                                      "kernel": "hello", "memory_mib": dbus.UInt64(2)})
        uuid = h.hvctl_json("info", "lat")["uuid"]
        log = h.state_dir / "consoles" / f"{uuid}.log"
        d = h.domain("lat", conn)
        times = []
        for _ in range(STARTS):
            wait_for(lambda: pool()["waiting"] >= 1, what="a pooled VMM")
            size = log.stat().st_size if log.exists() else -1
            t0 = time.perf_counter()
            d.Start()
            times.append(wait_growth(log, size) - t0)
            wait_for(lambda: h.domain_props("lat", conn)["State"] == "shutoff", what="power-off")
        return {"start_seconds": times, "taken": pool()["taken"]}
    finally:
        h.stop()


def hvd_density(h, conn):
    m = h.manager(conn)
    for i in range(DENSITY):
        m.CreateDomain({"name": f"dense{i:03d}", "driver": "minihv", "mode": "pv",
                        "kernel": "echo", "memory_mib": dbus.UInt64(2)})
    time.sleep(0.5)
    before = meminfo("MemAvailable")
    for i in range(DENSITY):
        h.domain(f"dense{i:03d}", conn).Start()
    time.sleep(1.0)
    after = meminfo("MemAvailable")
    stats = h.hvctl_json("stats", "dense000")["stats"]
    guest_resident = statistics.mean(
        h.hvctl_json("stats", f"dense{i:03d}")["stats"]["memory"]["guest_resident_bytes"]
        for i in range(0, DENSITY, max(1, DENSITY // 20)))
    result = {
        "domains": DENSITY,
        "host_bytes_per_domain": (before - after) / DENSITY,
        "guest_resident_bytes": guest_resident,
        "beyond_guest_bytes": (before - after) / DENSITY - guest_resident,
        "vmm_overhead_bytes": stats["memory"]["vmm_overhead_bytes"],
        "hvd_rss_bytes": benchlib.rss(h.proc.pid),
    }
    for i in range(DENSITY):
        h.domain(f"dense{i:03d}", conn).Destroy()
    return result


def cgroups_usable():
    """Whether this host lets hvd enforce resources (v2 with cpu and memory, or v1 cpu,
    cpuacct and memory hierarchies, writable by us)."""
    root = pathlib.Path("/sys/fs/cgroup")
    v2 = root / "cgroup.controllers"
    if v2.exists():
        return {"cpu", "memory"} <= set(v2.read_text().split()) and os.access(root, os.W_OK)
    return all(os.access(root / c, os.W_OK) for c in ("cpu", "cpuacct", "memory"))


def remove_cgroups(subtree):
    root = pathlib.Path("/sys/fs/cgroup")
    for base in [root, root / "cpu", root / "cpuacct", root / "memory"]:
        top = base / subtree.lstrip("/")
        for d in sorted(top.rglob("*"), key=lambda p: -len(p.parts)) if top.is_dir() else []:
            if d.is_dir():
                try:
                    d.rmdir()
                except OSError:
                    pass
        try:
            top.rmdir()
        except OSError:
            pass


def enforced_start_latency(build, bus, work):
    """Start latency with resource control on, in an hvd of its own with its own subtree."""
    subtree = f"/hvd-bench-{os.getpid()}"
    h = Hvd(build, bus, work / "hvd-cgroups", config=ROOMY + "[kvm]\nenabled = no\n",
            cgroup_root=subtree)
    try:
        h.start()
        conn = bus.connect()
        summary = h.request("GET", "/api/v1/host")[2]["drivers"]["minihv"]["summary"]
        return {"start_seconds": hvd_start_latency(h, conn), "summary": summary}
    finally:
        h.stop()
        remove_cgroups(subtree)


def reference(work):
    """virsh start -> first console byte of the same guest under libvirtd + QEMU (TCG), and
    libvirtd's idle RSS, or None when libvirtd or QEMU is not installed."""
    if not (shutil.which("virsh") and shutil.which("qemu-system-x86_64") and
            os.path.exists("/usr/sbin/libvirtd")):
        return None
    try:
        from libvirtd_harness import Libvirtd
    except ImportError:
        return None
    guest = build_dir() / "drivers/minihv/guest/hello-full.elf"
    lv = Libvirtd(work / "libvirtd", work / "libvirt-cache")
    lv.start()
    try:
        log = work / "qemu-console.log"
        xml = work / "ref.xml"
        xml.write_text(f"""<domain type='qemu'><name>ref</name><memory unit='MiB'>32</memory>
<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><kernel>{guest}</kernel></os>
<on_poweroff>destroy</on_poweroff><devices><serial type='file'><source path='{log}'/>
<target port='0'/></serial><memballoon model='none'/></devices></domain>""")
        virsh = ["virsh", "-q", "-c", lv.uri]
        subprocess.run(virsh + ["define", str(xml)], check=True, capture_output=True)
        times = []
        for _ in range(REFERENCE_STARTS):
            # QEMU creates (and truncates) the file as it starts: the first byte is size > 0.
            if log.exists():
                log.unlink()
            t0 = time.perf_counter()
            subprocess.run(virsh + ["start", "ref"], check=True, capture_output=True)
            times.append(wait_growth(log, 0) - t0)
            subprocess.run(virsh + ["destroy", "ref"], capture_output=True)
        return {"start_seconds": times, "libvirtd_rss_bytes": benchlib.rss(lv.libvirtd_pid)}
    finally:
        lv.stop()


def main():
    build = build_dir()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-minihv-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    bus.start()
    # A minihv-only host: the kvm driver (and libvirt with it) is not loaded.
    h = Hvd(build, bus, work / "hvd",
            config=ROOMY + "[kvm]\nenabled = no\n")
    results = {}
    try:
        h.start()
        conn = bus.connect()
        results["hvd_start_seconds"] = hvd_start_latency(h, conn)
        results["density"] = hvd_density(h, conn)
        h.stop()
        results["warm_pool"] = warm_pool_start_latency(build, bus, work)
        results["enforced"] = enforced_start_latency(build, bus, work) if cgroups_usable() \
            else None
    finally:
        h.stop()
        bus.stop()
    results["reference"] = reference(work)
    shutil.rmtree(work, ignore_errors=True)

    starts = results["hvd_start_seconds"]
    ref = results["reference"]
    ref_starts = ref["start_seconds"] if ref else None
    med = statistics.median(starts) * 1000
    p99 = percentile(starts, 0.99) * 1000
    rows = [
        (f"start -> first console byte, median ({STARTS} starts)", med,
         statistics.median(ref_starts) * 1000 if ref_starts else None,
         "virsh start, QEMU TCG", "ms", "lower"),
        ("start -> first console byte, p99", p99,
         percentile(ref_starts, 0.99) * 1000 if ref_starts else None, "virsh start, QEMU TCG",
         "ms", "lower"),
    ]
    warm = results["warm_pool"]["start_seconds"]
    rows += [
        (f"from the warm pool ({results['warm_pool']['taken']} of {STARTS} taken one), median",
         statistics.median(warm) * 1000, med, "cold start", "ms", "lower"),
        ("from the warm pool, p99", percentile(warm, 0.99) * 1000, p99, "cold start", "ms",
         "lower"),
    ]
    enforced = results["enforced"]
    if enforced:
        e = enforced["start_seconds"]
        rows += [
            (f"with resource control ({enforced['summary'].split(': ', 1)[1].split(' at ')[0]}),"
             " median", statistics.median(e) * 1000, med, "without", "ms", "lower"),
            ("with resource control, p99", percentile(e, 0.99) * 1000, p99, "without", "ms",
             "lower"),
        ]
    d = results["density"]
    rows += [
        (f"host memory per domain beyond guest RAM ({d['domains']} domains)",
         d["beyond_guest_bytes"] / 1024, None, "-", "KiB", "lower"),
        ("minihv process overhead per domain", d["vmm_overhead_bytes"] / 1024, None, "-", "KiB",
         "lower"),
        (f"daemon RSS with {d['domains']} running domains (kvm driver off)",
         d["hvd_rss_bytes"] / 1048576,
         ref["libvirtd_rss_bytes"] / 1048576 if ref else None, "libvirtd (idle)", "MiB",
         "lower"),
    ]
    benchlib.print_table("minihv through hvd (targets: start >= 20x faster than virsh start; "
                         "start with resource control <= 5 ms median; "
                         "start from the warm pool <= 1 ms; "
                         "<= 1 MiB per domain beyond guest RAM; hvd RSS <= 15 MiB)", rows)
    if not enforced:
        print("  cgroups cannot be used here: no start latency with resource control measured")
    if not ref:
        print("  libvirtd or QEMU is not installed: no reference measured")
    benchlib.save("hvd-minihv", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
