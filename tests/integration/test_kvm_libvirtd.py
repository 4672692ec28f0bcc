"""The kvm driver on a real libvirtd with QEMU (TCG): full and pv guests through hvctl, the
domain XML's device models, the lifecycle, statistics, guests that power off or crash, and the
domain type "auto" takes from what libvirt can run."""
import json
import os
import pathlib

import dbus
import pytest

from hvd_harness import wait_for
from kvm_fixtures import (console, create, guest_kernel, kvm_hvd, libvirt_cache,  # noqa: F401
                          libvirtd, libvirtd_nobody, state, wait_console, wait_state)


def disk_image(workdir, name):
    path = workdir / f"{name}.img"
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    return path


def devices(xml):
    return xml.find("devices")


def test_full_and_pv_guests_through_hvctl(kvm_hvd, libvirtd, workdir):
    hvd = kvm_hvd
    # QEMU hands a Multiboot guest its initrd as a module: the guest boots all the same.
    initrd = workdir / "initrd.img"
    initrd.write_bytes(b"hvd test initrd\n" * 64)
    create(hvd, "full1", "--mode", "full", "--disk", str(disk_image(workdir, "full1")),
           "--network", "hvdtest", "--initrd", str(initrd))
    create(hvd, "pv1", "--mode", "pv", "--disk", str(disk_image(workdir, "pv1")),
           "--network", "hvdtest", "--vcpus", "2", "--cpuset", "1")

    for name in ["full1", "pv1"]:
        p = hvd.hvctl("start", name)
        assert p.returncode == 0, p.stderr
        assert state(hvd, name) == ("running", "booted")
    assert "hello mode=full" in wait_console(hvd, "full1", "hello mode=full")
    assert "hello mode=pv" in wait_console(hvd, "pv1", "hello mode=pv")

    # full: emulated PC devices only.
    full = libvirtd.domain_xml("full1")
    assert full.get("type") == "qemu"
    assert full.find("os/kernel").text == str(guest_kernel())
    assert full.find("os/cmdline").text == "mode=full"
    assert full.find("os/initrd").text == str(initrd)
    dev = devices(full)
    assert dev.find("disk/target").get("bus") == "ide"
    assert dev.find("interface/model").get("type") == "e1000"
    assert dev.find("interface/source").get("network") == "hvdtest"
    assert dev.find("serial/target").get("type") == "isa-serial"
    assert dev.find("memballoon").get("model") == "none"
    assert not [e for e in full.iter() if "virtio" in e.attrib.values()]

    # pv: virtio disk, NIC, console and balloon; the serial console stays for early output.
    pv = libvirtd.domain_xml("pv1")
    dev = devices(pv)
    assert dev.find("disk/target").get("bus") == "virtio"
    assert dev.find("interface/model").get("type") == "virtio"
    assert "virtio" in [c.find("target").get("type") for c in dev.findall("console")]
    assert dev.find("memballoon").get("model") == "virtio"
    assert dev.find("serial/target").get("type") == "isa-serial"
    info = hvd.hvctl_json("info", "pv1")
    assert dev.find("serial/log").get("file") == info["console_log"]

    # Pinning: both vCPUs on host CPU 1, in the XML and in the QEMU threads' affinity.
    pins = {p.get("vcpu"): p.get("cpuset") for p in pv.findall("cputune/vcpupin")}
    assert pins == {"0": "1", "1": "1"}
    qemu = libvirtd.qemu_pid("pv1")
    vcpu_threads = [t for t in os.listdir(f"/proc/{qemu}/task")
                    if pathlib.Path(f"/proc/{qemu}/task/{t}/comm").read_text().startswith("CPU ")]
    assert len(vcpu_threads) == 2
    for t in vcpu_threads:
        status = pathlib.Path(f"/proc/{qemu}/task/{t}/status").read_text()
        assert "Cpus_allowed_list:\t1\n" in status

    # Statistics from libvirt: CPU time, memory and the balloon.
    stats = info["stats"]
    assert stats["cpu_time_ns"] > 0
    assert stats["memory_kib"] == 64 * 1024
    assert stats["balloon_maximum_kib"] == 64 * 1024
    assert stats["vcpus"] == 2
    text = hvd.hvctl("info", "pv1", check=True).stdout
    assert "Statistics:" in text and "balloon_current_kib: 65536" in text

    # Pause and resume, as hvd and libvirt both see it.
    for name in ["full1", "pv1"]:
        hvd.hvctl("pause", name, check=True)
        assert state(hvd, name) == ("paused", "user")
        assert libvirtd.virsh("domstate", name).stdout.strip() == "paused"
        hvd.hvctl("resume", name, check=True)
        assert state(hvd, name) == ("running", "unpaused")
        assert libvirtd.virsh("domstate", name).stdout.strip() == "running"

    # A graceful shutdown reaches the guest as the ACPI power button.
    p = hvd.hvctl("stop", "pv1")
    assert p.returncode == 0, p.stderr
    assert state(hvd, "pv1") == ("shutoff", "shutdown")
    assert "power button pressed" in console(hvd, "pv1")

    hvd.hvctl("destroy", "full1", check=True)
    assert state(hvd, "full1") == ("shutoff", "destroyed")
    assert libvirtd.virsh("list", "--all", "--name").stdout.split() == []


def test_reboot_restarts_the_guest(kvm_hvd):
    create(kvm_hvd, "rb", "--mode", "full")
    kvm_hvd.hvctl("start", "rb", check=True)
    wait_console(kvm_hvd, "rb", "hello")
    p = kvm_hvd.hvctl("reboot", "rb")
    assert p.returncode == 0, p.stderr
    wait_console(kvm_hvd, "rb", "hello", count=2)
    assert state(kvm_hvd, "rb") == ("running", "rebooted")
    kvm_hvd.hvctl("destroy", "rb", check=True)


def test_guest_that_powers_off_is_shut_off(kvm_hvd, libvirtd):
    create(kvm_hvd, "off", "--mode", "full", cmdline="mode=full poweroff")
    kvm_hvd.hvctl("start", "off", check=True)
    wait_state(kvm_hvd, "off", ("shutoff", "shutdown"))
    assert "powering off" in console(kvm_hvd, "off")
    # A transient domain leaves nothing behind in libvirt.
    assert libvirtd.virsh("list", "--all", "--name").stdout.split() == []
    # And it starts again.
    kvm_hvd.hvctl("start", "off", check=True)
    wait_console(kvm_hvd, "off", "powering off", count=2)
    wait_state(kvm_hvd, "off", ("shutoff", "shutdown"))


def test_guest_panic_follows_the_on_crash_policy(kvm_hvd, libvirtd):
    create(kvm_hvd, "pd", "--on-crash", "destroy", cmdline="panic")
    create(kvm_hvd, "pp", "--on-crash", "preserve", cmdline="panic")
    kvm_hvd.hvctl("start", "pd", check=True)
    kvm_hvd.hvctl("start", "pp", check=True)
    # destroy: hvd tears the crashed guest down and says why.
    wait_state(kvm_hvd, "pd", ("shutoff", "crashed"))
    assert "panic" in console(kvm_hvd, "pd")
    # preserve: the crashed guest stays for inspection until destroyed.
    wait_state(kvm_hvd, "pp", ("crashed", "guest-fault"))
    assert libvirtd.virsh("domstate", "pp").stdout.strip() == "crashed"
    kvm_hvd.hvctl("destroy", "pp", check=True)
    assert state(kvm_hvd, "pp") == ("shutoff", "crashed")


def test_guest_panic_with_restart_policy(kvm_hvd):
    create(kvm_hvd, "pr", "--on-crash", "restart", cmdline="panic")
    kvm_hvd.hvctl("start", "pr", check=True)
    # It panics at every boot: hvd restarts it a few times, then gives up.
    wait_state(kvm_hvd, "pr", ("shutoff", "crashed"), timeout=30)
    boots = console(kvm_hvd, "pr").count("hello")
    rows = kvm_hvd.db_query("SELECT detail FROM events WHERE domain = 'pr' AND "
                            "event = 'state-changed' ORDER BY id")
    details = [json.loads(r[0]) for r in rows]
    steps = [(d["old_state"], d["state"], d["reason"]) for d in details]
    restarts = steps.count(("crashed", "starting", "booting"))
    assert restarts >= 1 and boots == restarts + 1
    assert steps.count(("starting", "running", "restarted")) == restarts
    # Every step is the policy's: no stray shut-off in between, nothing "started outside hvd".
    assert ("starting", "shutoff", "destroyed") not in steps
    assert steps[-1] == ("crashed", "shutoff", "crashed")


def test_names_and_paths_with_xml_special_characters(kvm_hvd, libvirtd, workdir):
    odd = workdir / "we<ird> & 'quoted' \"dir\""
    odd.mkdir()
    kernel = odd / "hello.elf"
    kernel.write_bytes(guest_kernel().read_bytes())
    cmdline = "mode=odd a<b & c=\"d\" 'e' </cmdline>"
    create(kvm_hvd, "odd.name_1", "--mode", "full", kernel=kernel, cmdline=cmdline)
    p = kvm_hvd.hvctl("start", "odd.name_1")
    assert p.returncode == 0, p.stderr
    wait_console(kvm_hvd, "odd.name_1", "hello mode=odd")
    xml = libvirtd.domain_xml("odd.name_1")
    assert xml.find("os/kernel").text == str(kernel)
    assert xml.find("os/cmdline").text == cmdline
    kvm_hvd.hvctl("destroy", "odd.name_1", check=True)


def test_start_errors_are_clear(kvm_hvd, workdir):
    create(kvm_hvd, "nokernel", kernel=workdir / "missing.elf")
    p = kvm_hvd.hvctl("start", "nokernel")
    assert p.returncode == 1
    assert "starting domain 'nokernel' failed" in p.stderr
    assert str(workdir / "missing.elf") in p.stderr
    assert state(kvm_hvd, "nokernel") == ("shutoff", "failed")

    create(kvm_hvd, "nonet", "--network", "no-such-net")
    p = kvm_hvd.hvctl("start", "nonet")
    assert p.returncode == 1
    assert "no-such-net" in p.stderr

    # hvctl makes paths absolute; over D-Bus a relative one is refused by the kvm driver.
    with pytest.raises(dbus.DBusException) as err:
        kvm_hvd.manager().CreateDomain({"name": "rel", "driver": "kvm", "kernel": "boot/k"})
    assert err.value.get_dbus_name() == "org.hvd1.Error.InvalidArgument"
    assert "'kernel' must be an absolute path" in err.value.get_dbus_message()


def kvm_driver(hvd):
    return hvd.hvctl_json("host")["drivers"]["kvm"]


def test_auto_takes_qemu_when_qemu_cannot_open_dev_kvm(libvirtd_nobody, make_hvd):
    """libvirt's domain capabilities offer kvm there all the same (it probes QEMU with more
    privileges than guests get), yet every kvm guest would fail to start."""
    st = os.stat("/dev/kvm") if os.path.exists("/dev/kvm") else None
    if st is None or st.st_mode & 0o006 == 0o006 or st.st_uid == 65534:
        pytest.skip("/dev/kvm is not closed to nobody here")
    hvd = make_hvd(config="[kvm]\ndomain-type = auto\n", kvm_uri=libvirtd_nobody.uri).start()
    # libvirt 9 probes QEMU again at each look at its capabilities there (they say kvm, which
    # it finds unusable for nobody): slow, so hvd may come up before its connection does.
    wait_for(lambda: kvm_driver(hvd)["available"], timeout=60, what="the kvm driver")
    driver = kvm_driver(hvd)
    assert driver["domain_type"] == "qemu" and driver["domain_type_setting"] == "auto"
    assert driver["kvm_usable"] is False
    why = "libvirt runs QEMU as uid 65534, gid 65534, which cannot open /dev/kvm"
    assert why in driver["kvm_usable_reason"]
    text = hvd.hvctl("host", check=True).stdout
    assert f"kvm     available, domain type qemu (kvm unusable: {why} (Permission denied))" in text

    # And a guest starts, under TCG.
    create(hvd, "tcg")
    p = hvd.hvctl("start", "tcg")
    assert p.returncode == 0, p.stderr
    assert libvirtd_nobody.domain_xml("tcg").get("type") == "qemu"
    wait_console(hvd, "tcg", "hello mode=pv")
    hvd.hvctl("destroy", "tcg", check=True)


def test_auto_takes_kvm_when_libvirt_can_run_it(libvirtd, make_hvd):
    hvd = make_hvd(config="[kvm]\ndomain-type = auto\n", kvm_uri=libvirtd.uri).start()
    driver = kvm_driver(hvd)
    offered = libvirtd.virsh("domcapabilities", "--virttype", "kvm", check=False)
    if offered.returncode == 0 and "<domain>kvm</domain>" in offered.stdout and \
            os.access("/dev/kvm", os.R_OK | os.W_OK):
        # The harness runs QEMU as root.
        assert driver["domain_type"] == "kvm" and driver["kvm_usable"] is True, driver
        assert "runs QEMU as uid 0, gid 0, which can open /dev/kvm" in driver["summary"]
    else:
        assert driver["domain_type"] == "qemu" and driver["kvm_usable"] is False, driver
    assert hvd.hvctl("host", check=True).stdout.count(
        f"kvm     available, domain type {driver['domain_type']} (kvm ") == 1

    # A configured type is used as it is, and the host view says so.
    hvd.stop()
    hvd.config = "[kvm]\ndomain-type = qemu\n"
    hvd.start()
    assert kvm_driver(hvd)["summary"].startswith("domain type qemu (configured")
