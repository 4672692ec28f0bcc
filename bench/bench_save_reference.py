#!/usr/bin/env python3
"""The reference for minihv's save and restore: `virsh save` and `virsh restore` of a 64 MiB
guest under QEMU (TCG, the test harness's private libvirtd), timed in the same run, next to
hvd's own kvm save and resume of the same guest (the overhead hvd adds to libvirt) and to
minihv's save and restore from this run's bench_minihv_snapshot (it sorts before this file)."""
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import benchlib
from hvd_harness import Bus, Hvd, build_dir
from kvm_reference import percentile, reference_xml, timed
from libvirtd_harness import Libvirtd, missing_tools

RUNS = 5
MEMORY_MIB = 64


def virsh_rounds(lv, xml, work):
    """RUNS x (virsh save, virsh restore) of the reference guest; milliseconds each."""
    image = work / "ref.save"
    saves, restores = [], []
    lv.virsh("create", str(xml))
    time.sleep(1)  # booted: its memory is in use
    for _ in range(RUNS):
        saves.append(timed(lambda: lv.virsh("save", "ref", str(image))))
        restores.append(timed(lambda: lv.virsh("restore", str(image))))
        image.unlink()
    lv.virsh("destroy", "ref")
    return saves, restores


def hvd_rounds(h):
    """RUNS x (hvctl save, hvctl start) of hvd's kvm domain 'src'; milliseconds each."""
    saves, resumes = [], []
    h.hvctl("start", "src", check=True, timeout=120)
    time.sleep(1)
    for _ in range(RUNS):
        saves.append(timed(lambda: h.hvctl("save", "src", check=True, timeout=120)))
        resumes.append(timed(lambda: h.hvctl("start", "src", check=True, timeout=120)))
    h.hvctl("destroy", "src", check=True)
    return saves, resumes


def minihv_snapshot():
    try:
        return json.loads((benchlib.RESULTS_DIR / "minihv-snapshot.json").read_text())
    except (OSError, ValueError):
        return None


def main():
    lack = missing_tools()
    if lack:
        print(f"virsh save reference skipped: {', '.join(lack)} missing")
        return 0
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-save-"))
    work.chmod(0o755)
    bus = Bus(work / "bus")
    lv = Libvirtd(work / "libvirt", work / "libvirt-cache")
    h = None
    bus.start()
    lv.start()
    try:
        h = Hvd(build_dir(), bus, work / "hvd", config="[kvm]\ndomain-type = qemu\n",
                kvm_uri=lv.uri)
        h.start()
        xml = reference_xml(lv, h, work, MEMORY_MIB)
        v_save, v_restore = virsh_rounds(lv, xml, work)
        h_save, h_resume = hvd_rounds(h)
    finally:
        if h:
            h.stop()
        lv.stop()
        bus.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"virsh save p50 {statistics.median(v_save):.0f} ms, restore p50 "
          f"{statistics.median(v_restore):.0f} ms; hvd kvm save p50 {statistics.median(h_save):.0f}"
          f" ms, resume p50 {statistics.median(h_resume):.0f} ms")
    rows = [
        (f"kvm save through hvd ({MEMORY_MIB} MiB, TCG), p50", statistics.median(h_save),
         statistics.median(v_save), "virsh save", "ms", "lower"),
        ("kvm resume through hvd, p50", statistics.median(h_resume),
         statistics.median(v_restore), "virsh restore", "ms", "lower"),
    ]
    m = minihv_snapshot()
    if m:
        rows.append((f"minihv save of a {MEMORY_MIB} MiB guest, p50", m["save"]["cli_ms_p50"],
                     statistics.median(v_save), "virsh save", "ms", "lower"))
        r = m["restore"].get(str(MEMORY_MIB))
        if r:
            rows.append((f"minihv restore {MEMORY_MIB} MiB -> first console byte, p90",
                         r["to_first_console_byte_ms_p90"], percentile(v_restore, 90),
                         "virsh restore, p90", "ms", "lower"))
    benchlib.print_table("Save and restore against virsh", rows)
    benchlib.save("save-reference", {"virsh_save_ms": v_save, "virsh_restore_ms": v_restore,
                                     "hvd_kvm_save_ms": h_save, "hvd_kvm_resume_ms": h_resume})
    return 0


if __name__ == "__main__":
    sys.exit(main())
