#!/usr/bin/env python3
"""The seed's claim on a real OS: the same Linux guest (Debian's stock kernel, the tests' busybox
root disk) measures its own disk throughput (dd to and from the raw disk, O_DIRECT) under the
same QEMU through hvd's kvm driver, in pv mode (virtio-blk) and in full mode (IDE through
ata_piix), and the ratio is put next to minihv's pv/full ratio for its block device from this
run's minihv benchmark (it sorts before this file, so its results are there)."""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib
import linux_guest
from hvd_harness import Bus, Hvd, build_dir
from libvirtd_harness import Libvirtd, missing_tools

RESULT = re.compile(r"hvd-bench: dev=(\S+) bs=(\S+) mib=(\d+) write_cs=(\d+) read_cs=(\d+)")
SIZES = ("4k", "1M")
BOOT_TIMEOUT_S = 240


def run_guest(h, work, mode):
    """Boots the guest in mode, which runs dd and powers off; returns its device and, by request
    size, (MiB/s written, MiB/s read)."""
    name = f"bench-{mode}"
    disk = linux_guest.build_disk(work / f"{name}.img")
    h.hvctl("create", name, "--driver", "kvm", "--mode", mode, "--memory", "384",
            "--kernel", linux_guest.kernel(), "--initrd", linux_guest.initrd(), "--disk", str(disk),
            "--cmdline", linux_guest.cmdline(mode, "hvd.bench=dd", "hvd.acpi=ignore"), check=True)
    h.hvctl("start", name, check=True, timeout=120)
    log = pathlib.Path(h.hvctl_json("info", name)["console_log"])
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        found = RESULT.findall(log.read_text(errors="replace")) if log.exists() else []
        if len(found) == len(SIZES):
            break
        time.sleep(0.5)
    else:
        raise SystemExit(f"{mode}: no result from the guest:\n{log.read_text(errors='replace')}")
    h.hvctl("destroy", name)
    by_size = {bs: (int(mib) * 100 / max(int(w), 1), int(mib) * 100 / max(int(r), 1))
               for _, bs, mib, w, r in found}
    return found[0][0], by_size


def minihv_block_ratio():
    """minihv's pv and full block throughput (sectors/s) from this run, or None."""
    path = benchlib.RESULTS_DIR / "minihv.json"
    try:
        w = json.loads(path.read_text())["workloads"]
        return {op: (w[f"pv/{op}"]["ops_per_s"], w[f"full/{op}"]["ops_per_s"])
                for op in ("blkwrite", "blkread")}
    except (OSError, KeyError, ValueError):
        return None


def main():
    lack = linux_guest.missing() + missing_tools()
    if lack:
        print(f"Linux guest benchmark skipped: {', '.join(lack)} missing")
        return 0
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-linux-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    lv = Libvirtd(work / "libvirt", work / "libvirt-cache")
    results = {}
    bus.start()
    lv.start()
    h = Hvd(build_dir(), bus, work / "hvd", config="[kvm]\ndomain-type = qemu\n", kvm_uri=lv.uri)
    try:
        h.start()
        for mode in ("pv", "full"):
            dev, by_size = run_guest(h, work, mode)
            results[mode] = {"device": dev, "mib_s": by_size}
            for bs, (write, read) in by_size.items():
                print(f"{mode}: {dev} {bs} requests: write {write:.1f} MiB/s, read {read:.1f} MiB/s")
    finally:
        h.stop()
        lv.stop()
        bus.stop()
        shutil.rmtree(work, ignore_errors=True)

    pv, full = results["pv"], results["full"]
    rows = []
    for bs in SIZES:
        for i, op in enumerate(("write", "read")):
            rows.append((f"Linux disk {op}, {bs} requests, pv ({pv['device']}, virtio-blk)",
                         pv["mib_s"][bs][i], full["mib_s"][bs][i],
                         f"full mode ({full['device']}, IDE)", "MiB/s", "higher"))
    minihv = minihv_block_ratio()
    if minihv:
        for op, (p, f) in minihv.items():
            rows.append((f"minihv {op}, pv (same run)", p, f, "minihv full mode", "sectors/s",
                         "higher"))
        results["minihv_block"] = minihv
    benchlib.print_table("The same Linux guest under QEMU (TCG): pv against full, next to minihv",
                         rows)
    benchlib.save("minihv_linux", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
