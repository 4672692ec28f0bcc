#!/usr/bin/env python3
"""hvd's overhead on a real libvirtd: `hvctl start` of a kvm domain to running against `virsh
start` of the same guest (the same QEMU configuration, defined under another name) on the test
harness's private libvirtd (QEMU, TCG), rounds alternating between the two; destroy likewise.
Also `virsh create` of the XML, a transient domain as hvd's are. Target: hvd's start stays
within 5% of virsh's."""
import shutil
import statistics
import sys
import tempfile
import pathlib

import benchlib
from hvd_harness import Bus, Hvd, build_dir
from kvm_reference import percentile, reference_xml, timed
from libvirtd_harness import Libvirtd, missing_tools

RUNS = 9
MEMORY_MIB = 64


def rounds(lv, h, xml):
    """RUNS x (virsh start, virsh destroy, virsh create, virsh destroy, hvctl start, hvctl
    destroy); milliseconds each. virsh create starts a transient domain from the XML, as hvd
    does with its domains."""
    lv.virsh("define", str(xml))
    transient = xml.with_name("ref-transient.xml")
    transient.write_text(xml.read_text().replace("<name>ref</name>", "<name>ref-t</name>"))
    out = {"virsh_start": [], "virsh_destroy": [], "virsh_create": [], "hvd_start": [],
           "hvd_destroy": []}
    try:
        for _ in range(RUNS):
            out["virsh_create"].append(timed(lambda: lv.virsh("create", str(transient))))
            lv.virsh("destroy", "ref-t")
            out["virsh_start"].append(timed(lambda: lv.virsh("start", "ref")))
            out["virsh_destroy"].append(timed(lambda: lv.virsh("destroy", "ref")))
            out["hvd_start"].append(timed(lambda: h.hvctl("start", "src", check=True,
                                                          timeout=120)))
            out["hvd_destroy"].append(timed(lambda: h.hvctl("destroy", "src", check=True)))
    finally:
        lv.virsh("undefine", "ref")
    return out


def main():
    lack = missing_tools()
    if lack:
        print(f"kvm start against virsh skipped: {', '.join(lack)} missing")
        return 0
    work = pathlib.Path(tempfile.mkdtemp(prefix="hvd-bench-kvm-start-"))
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
        t = rounds(lv, h, xml)
    finally:
        if h:
            h.stop()
        lv.stop()
        bus.stop()
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in t.items()}
    overhead = (med["hvd_start"] - med["virsh_start"]) / med["virsh_start"] * 100
    print(f"start to running p50: hvctl {med['hvd_start']:.1f} ms, virsh start "
          f"{med['virsh_start']:.1f} ms, virsh create {med['virsh_create']:.1f} ms: hvd's "
          f"overhead against virsh start {overhead:+.1f}% (target under 5%)")
    benchlib.print_table("kvm on a real libvirtd (QEMU, TCG) against virsh", [
        (f"kvm start to running through hvctl ({MEMORY_MIB} MiB), p50", med["hvd_start"],
         med["virsh_start"], "virsh start", "ms", "lower"),
        ("kvm start to running through hvctl, p50", med["hvd_start"], med["virsh_create"],
         "virsh create (transient)", "ms", "lower"),
        ("kvm start to running, p90", percentile(t["hvd_start"], 90),
         percentile(t["virsh_start"], 90), "virsh start, p90", "ms", "lower"),
        ("kvm destroy through hvctl, p50", med["hvd_destroy"], med["virsh_destroy"],
         "virsh destroy", "ms", "lower"),
    ])
    benchlib.save("kvm-start", dict(t, overhead_percent=overhead))
    return 0


if __name__ == "__main__":
    sys.exit(main())
