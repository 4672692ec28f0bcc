"""Helpers of the benchmarks that compare hvd's kvm driver with virsh on the test harness's
private libvirtd (QEMU, TCG): the same guest under a name hvd does not know, timing, percentiles."""
import time
import xml.etree.ElementTree as ET

from hvd_harness import build_dir


def percentile(values, q):
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def timed(fn):
    """Milliseconds fn() took."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def reference_xml(lv, h, work, memory_mib, name="src", ref="ref"):
    """Defines kvm domain name in hvd h (the hello guest, pv), starts it once and returns the path
    of its live XML from libvirtd lv renamed ref and without its UUID and security label: the
    same QEMU configuration for virsh. name is left shut off."""
    kernel = build_dir() / "tests" / "guests" / "hello-multiboot.elf"
    h.hvctl("create", name, "--driver", "kvm", "--mode", "pv", "--memory", str(memory_mib),
            "--kernel", str(kernel), "--cmdline", "mode=pv", check=True)
    h.hvctl("start", name, check=True, timeout=120)
    root = ET.fromstring(lv.virsh("dumpxml", name).stdout)
    h.hvctl("destroy", name, check=True)
    root.find("name").text = ref
    for tag in ("uuid", "seclabel"):
        for el in root.findall(tag):
            root.remove(el)
    path = work / f"{ref}.xml"
    path.write_text(ET.tostring(root, encoding="unicode"))
    return path
