#!/usr/bin/env python3
"""The Linux anchor of the network benchmark: the same Linux guest (Debian's stock kernel, the
tests' busybox root disk) under QEMU (TCG) through hvd's kvm driver, on an hvd network, with
virtio-net (pv mode) and e1000 (full mode), measured host<->guest the way minihv's guests are
(curl of a body the guest serves, ping), next to minihv's pv ring and NE2000 figures from this
run's minihv network benchmark (it sorts before this file, so its results are there).

hvd runs in the private libvirtd's network namespace (named with ip netns attach), where QEMU's
tap joins hvd's bridge; nothing leaves that namespace."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import benchlib
import linux_guest
from hvd_harness import Bus, build_dir
from libvirtd_harness import Libvirtd, missing_tools
from net_helpers import net_skip_reason
from netns_hvd import NetnsHvd

SUBNET = "10.93.0.0/24"
BODY_MIB = {"pv": 128, "full": 16}
PINGS = 20
BOOT_TIMEOUT_S = 240
NIC = {"pv": "virtio-net", "full": "e1000"}


def ns_run(ns, args, timeout=300):
    return subprocess.run(["ip", "netns", "exec", ns, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def run_guest(h, ns, work, mode):
    """Boots the guest in mode on the network; returns its curl throughput and ping figures."""
    name = f"netbench-{mode}"
    disk = linux_guest.build_disk(work / f"{name}.img")
    h.hvctl("create", name, "--driver", "kvm", "--mode", mode, "--memory", "384",
            "--kernel", linux_guest.kernel(), "--initrd", linux_guest.initrd(), "--disk", str(disk),
            "--network", "bench", check=True)
    # The lease is given at the first start: started and forced off at once, the domain keeps
    # it, and the guest takes it from its command line on the next boot.
    h.hvctl("start", name, check=True, timeout=120)
    addr = h.hvctl_json("info", name)["interfaces"][0]["ipv4"]
    h.hvctl("destroy", name, check=True)
    h.hvctl("set", name, "--cmdline", linux_guest.cmdline(mode, f"hvd.net={addr}/24",
                                                          f"hvd.body_mib={BODY_MIB[mode]}",
                                                          "hvd.acpi=ignore"), check=True)
    h.hvctl("start", name, check=True, timeout=120)
    log = pathlib.Path(h.hvctl_json("info", name)["console_log"])
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while "hvd-guest: ready" not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline:
            raise SystemExit(f"{mode}: the guest did not come up:\n{log.read_text(errors='replace')}")
        time.sleep(0.5)
    text = log.read_text(errors="replace")
    if "hvd-guest: net " not in text:
        raise SystemExit(f"{mode}: the guest's network did not come up:\n{text}")
    p = ns_run(ns, ["curl", "-s", "-o", "/dev/null", "--max-time", "240", "-w",
                    "%{size_download} %{time_total}", f"http://{addr}/body"])
    size, seconds = p.stdout.split()
    if int(size) != BODY_MIB[mode] << 20:
        raise SystemExit(f"{mode}: curl got {size} bytes: {p.stderr}")
    p = ns_run(ns, ["ping", "-c", PINGS, "-i", "0.2", "-W", "5", addr], timeout=120)
    m = re.search(r"= [\d.]+/([\d.]+)/", p.stdout)
    h.hvctl("destroy", name)
    return {"nic": NIC[mode], "bytes": int(size), "seconds": float(seconds),
            "bytes_per_s": int(size) / float(seconds), "ping_avg_ms": float(m.group(1)) if m else None}


def minihv_net():
    """minihv's pv and full figures from this run, or None."""
    try:
        return json.loads((benchlib.RESULTS_DIR / "minihv-net.json").read_text())["modes"]
    except (OSError, KeyError, ValueError):
        return None


def main():
    lack = linux_guest.missing() + missing_tools()
    reason = net_skip_reason()
    if lack or reason:
        print(f"Linux network anchor skipped: {reason or ', '.join(lack) + ' missing'}")
        return 0
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-netlinux-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    lv = Libvirtd(work / "libvirt", work / "libvirt-cache")
    ns = f"hvd-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    results = {}
    bus.start()
    lv.start()
    h = None
    try:
        subprocess.run(["ip", "netns", "attach", ns, str(lv.virtlogd_pid)], check=True)

        class Ns:
            name = ns
        h = NetnsHvd(build_dir(), bus, work / "hvd", Ns, config="[kvm]\ndomain-type = qemu\n",
                     kvm_uri=lv.uri)
        h.start()
        h.hvctl("network", "create", "bench", "--subnet", SUBNET, check=True)
        for mode in ("pv", "full"):
            r = results[mode] = run_guest(h, ns, work, mode)
            print(f"{mode} ({r['nic']}): guest->host TCP {r['bytes_per_s'] * 8 / 1e6:.1f} Mbit/s, "
                  f"ping {r['ping_avg_ms']} ms")
    finally:
        if h:
            h.stop()
        lv.stop()
        bus.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    pv, full = results["pv"], results["full"]
    rows = [
        ("Linux guest->host TCP (curl): pv (virtio-net)", pv["bytes_per_s"] * 8 / 1e6,
         full["bytes_per_s"] * 8 / 1e6, "full mode (e1000)", "Mbit/s", "higher"),
        ("Linux ping round trip: pv (virtio-net)", pv["ping_avg_ms"], full["ping_avg_ms"],
         "full mode (e1000)", "ms", "lower"),
    ]
    minihv = minihv_net()
    if minihv:
        mp, mf = minihv["pv"], minihv["full"]
        rows += [
            ("minihv guest->host TCP: pv ring (same run)", mp["http"]["bytes_per_s"] * 8 / 1e6,
             pv["bytes_per_s"] * 8 / 1e6, "Linux virtio-net (QEMU TCG)", "Mbit/s", "higher"),
            ("minihv guest->host TCP: NE2000 (same run)", mf["http"]["bytes_per_s"] * 8 / 1e6,
             full["bytes_per_s"] * 8 / 1e6, "Linux e1000 (QEMU TCG)", "Mbit/s", "higher"),
            ("minihv ping: pv ring (same run)", mp["ping"]["avg_ms"], pv["ping_avg_ms"],
             "Linux virtio-net (QEMU TCG)", "ms", "lower"),
            ("minihv ping: NE2000 (same run)", mf["ping"]["avg_ms"], full["ping_avg_ms"],
             "Linux e1000 (QEMU TCG)", "ms", "lower"),
        ]
        results["minihv"] = {"pv_bytes_per_s": mp["http"]["bytes_per_s"],
                             "full_bytes_per_s": mf["http"]["bytes_per_s"]}
    benchlib.print_table("Network: the same Linux guest under QEMU (TCG), virtio-net against "
                         "e1000, next to minihv", rows)
    benchlib.save("minihv-net-linux", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
