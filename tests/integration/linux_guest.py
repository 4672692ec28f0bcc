"""A real Linux guest for the kvm tests: Debian's stock kernel and initrd (linux-image-amd64),
booting a small ext4 root disk built here from busybox-static and an init script."""
import glob
import os
import pathlib
import shutil
import subprocess

BUSYBOX = "/bin/busybox"
# Drivers the guest loads itself from its root disk: the distro initrd brings the disk and file
# system ones, not these (the power button, its input events, the virtio console, the NICs).
GUEST_MODULES = ["kernel/drivers/input/evdev.ko", "kernel/drivers/acpi/button.ko",
                 "kernel/drivers/char/virtio_console.ko", "kernel/net/core/failover.ko",
                 "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
                 "kernel/drivers/net/ethernet/intel/e1000/e1000.ko"]
FS_MIB = 24    # the root file system; the disk is larger, the rest is scratch for dd
SCRATCH_MIB = 32  # where the scratch area starts
BENCH_MIB = 16    # what the disk benchmark moves each way
DISK_MIB = SCRATCH_MIB + BENCH_MIB

INIT = r"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
for m in evdev button virtio_console failover net_failover virtio_net e1000; do
    insmod /lib/modules/$m.ko 2>&1 | grep -v -e 'File exists' -e '^$'
done
sleep 1
cmdline=$(cat /proc/cmdline)
disk=$(ls /sys/block | grep -e '^vd' -e '^sd' -e '^hd' | tr '\n' ' ')
net=$(for n in /sys/class/net/*; do d=$(readlink $n/device/driver); [ -n "$d" ] && echo ${d##*/}; done | head -n 1)
ata=no; [ -d /sys/module/ata_piix ] && ata=ata_piix
echo "hvd-guest: up disk=${disk% } net=${net:-none} ata=$ata boot=$(cat /proc/sys/kernel/random/boot_id)"
case "$cmdline" in
*hvd.acpi=ignore*) echo "hvd-guest: ignoring the power button" ;;
*)
    for e in /dev/input/event*; do
        (dd if=$e bs=24 count=1 >/dev/null 2>&1 && echo "hvd-guest: power button" &&
         sync && poweroff -f) &
    done
    echo "hvd-guest: power button powers off" ;;
esac
case "$cmdline" in *hvd.reboot=now*) echo "hvd-guest: rebooting"; reboot -f ;; esac
case "$cmdline" in *hvd.bench=dd*)
    # The guest measures its own disk through the raw disk past the file system, O_DIRECT (each
    # request a device command), in 4 KiB requests (BENCH_MIB once) and in 1 MiB requests
    # (BENCH_MIB eight times), timed by the guest's clock (centiseconds of /proc/uptime).
    dev=/dev/${disk%% *}
    cs() { u=$(cut -d' ' -f1 /proc/uptime); echo $(( ${u%.*} * 100 + 1${u#*.} - 100 )); }
    measure() {
        bs=$1 per_mib=$2 loops=$3 n=$((BENCH_MIB * $2)) at=$((SCRATCH_MIB * $2))
        t0=$(cs)
        for i in $(seq $loops); do
            dd if=/dev/zero of=$dev bs=$bs count=$n seek=$at oflag=direct 2>/dev/null
        done
        t1=$(cs)
        for i in $(seq $loops); do
            dd if=$dev of=/dev/null bs=$bs count=$n skip=$at iflag=direct 2>/dev/null
        done
        t2=$(cs)
        echo "hvd-bench: dev=$dev bs=$bs mib=$((BENCH_MIB * loops)) write_cs=$((t1 - t0)) read_cs=$((t2 - t1))"
    }
    measure 4k 256 1
    measure 1M 1 8
    poweroff -f ;;
esac
# hvd.net=ADDRESS/PREFIX: the NIC gets the address and busybox httpd serves /body, of
# hvd.body_mib MiB (default 8) of zeros, on port 80 (the network benchmark's Linux anchor).
for w in $cmdline; do
    case "$w" in hvd.net=*) addr=${w#hvd.net=} ;; hvd.body_mib=*) body_mib=${w#hvd.body_mib=} ;; esac
done
if [ -n "$addr" ]; then
    for n in /sys/class/net/*; do [ -e $n/device ] && nic=${n##*/}; done
    ip addr add $addr dev $nic && ip link set $nic up
    mkdir -p /tmp/www
    dd if=/dev/zero of=/tmp/www/body bs=1M count=${body_mib:-8} 2>/dev/null
    httpd -p 80 -h /tmp/www
    echo "hvd-guest: net $nic $addr"
fi
for tty in ttyS0 hvc0; do
    [ -e /dev/$tty ] || continue
    (while :; do setsid getty -l /bin/login-root 0 $tty vt100; sleep 1; done) &
done
echo "hvd-guest: ready"
while :; do wait; sleep 1; done
"""

LOGIN = """#!/bin/sh
exec login -f root
"""


def kernel_release():
    """The newest stock kernel installed (linux-image-amd64), or None."""
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    for k in reversed(kernels):
        release = k[len("/boot/vmlinuz-"):]
        if os.path.exists(f"/boot/initrd.img-{release}"):
            return release
    return None


def missing():
    """What this machine lacks to build and boot the guest (empty when nothing)."""
    lack = []
    if not kernel_release():
        lack.append("linux-image-amd64 (a kernel with its initrd in /boot)")
    if not os.path.exists(BUSYBOX):
        lack.append("busybox-static")
    if not shutil.which("mkfs.ext4"):
        lack.append("e2fsprogs")
    return lack


def kernel():
    return f"/boot/vmlinuz-{kernel_release()}"


def initrd():
    return f"/boot/initrd.img-{kernel_release()}"


def build_disk(path):
    """Writes a raw disk at path: an ext4 file system (mkfs.ext4 -d) of FS_MIB with busybox, the
    init script and the guest's extra modules, then unused space up to DISK_MIB."""
    path = pathlib.Path(path)
    root = path.with_suffix(".root")
    shutil.rmtree(root, ignore_errors=True)
    for d in ["bin", "dev", "etc", "proc", "sys", "tmp", "run", "root", "lib/modules"]:
        (root / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            (root / "bin" / a).symlink_to("busybox")
    (root / "sbin").symlink_to("bin")
    (root / "init").write_text(INIT.replace("BENCH_MIB", str(BENCH_MIB))
                               .replace("SCRATCH_MIB", str(SCRATCH_MIB)))
    (root / "init").chmod(0o755)
    (root / "bin" / "login-root").write_text(LOGIN)
    (root / "bin" / "login-root").chmod(0o755)
    (root / "etc" / "passwd").write_text("root::0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "etc" / "profile").write_text("PS1='hvd-guest# '\nexport PATH=/bin\n")
    for m in GUEST_MODULES:
        shutil.copy(f"/lib/modules/{kernel_release()}/{m}", root / "lib" / "modules")
    with open(path, "wb") as f:
        f.truncate(DISK_MIB << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "hvdroot", "-d", str(root), str(path),
                    f"{FS_MIB}M"], check=True, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    return path


def cmdline(mode, *extra):
    """The kernel command line: the root disk as each mode's guest sees it."""
    root = "/dev/vda" if mode == "pv" else "/dev/sda"
    return " ".join([f"root={root}", "rootfstype=ext4", "rw", "init=/init", "console=ttyS0",
                     "panic=-1", "quiet", *extra])
