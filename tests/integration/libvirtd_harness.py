"""Starts virtlogd and libvirtd for the kvm tests, isolated from the host's libvirt.

Without systemd nobody starts libvirt's daemons, so the tests do. A privileged libvirtd keeps its
QEMU driver state in fixed places (/run/libvirt, /var/lib/libvirt, /var/cache/libvirt,
/var/log/libvirt) and reads /etc/libvirt. Both daemons therefore run in a private mount
namespace where those directories are the test's own (fresh tmpfs mounts, a capabilities cache
shared by the session, and a configuration that runs QEMU as root, or as a given user, without
cgroups or a security driver), and in a private network namespace where a test network's bridge
cannot disturb the host. The control socket lives in the test's directory, reachable from the
host namespace: qemu+unix:///system?socket=PATH.

libvirt_anchor.py is their parent in there: it reaps what ends under it (QEMU guests included)
and starts libvirtd on request, so a test can kill libvirtd and start it again while guests and
their console logs carry on, as on a real host. stop() destroys every guest and ends everything
the test started.
"""
import grp
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

from hvd_harness import wait_for

LIBVIRTD_CONF = """\
unix_sock_dir = "{run}"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_filters = "1:rpc.keepalive 1:qemu.qemu_process"
log_outputs = "3:file:{dir}/libvirtd.log"
"""

VIRTLOGD_CONF = """\
log_outputs = "3:file:{dir}/virtlogd.log"
"""

QEMU_CONF = """\
user = "{user}"
group = "{group}"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
"""

# Private copies of the directories a privileged libvirtd writes to.
PRIVATE_DIRS = ["/run/libvirt", "/var/lib/libvirt", "/var/log/libvirt"]

NAMESPACE_SETUP = """\
set -e
for d in {dirs}; do mkdir -p "$d"; mount -t tmpfs -o mode=0755 tmpfs "$d"; done
mkdir -p /var/cache/libvirt
mount --bind "{cache}" /var/cache/libvirt
mount --bind "{etc}" /etc/libvirt
exec "{python}" "{anchor}" "{etc}/virtlogd.conf" "{etc}/libvirtd.conf" "{run}/libvirtd.pid" \\
    "{dir}/daemons.out"
"""

ANCHOR = pathlib.Path(__file__).resolve().parent / "libvirt_anchor.py"


def missing_tools():
    """Names of the programs these tests need that are not installed (empty when all are)."""
    tools = ["libvirtd", "virtlogd", "virsh", "qemu-system-x86_64", "unshare", "nsenter"]
    return [t for t in tools if not shutil.which(t)]


def daemon_env():
    """The environment for libvirt's daemons: no D-Bus (no machined, no polkit, no firewalld)."""
    env = dict(os.environ)
    for key in ["DBUS_SYSTEM_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS", "NOTIFY_SOCKET"]:
        env.pop(key, None)
    return env


class Libvirtd:
    """virtlogd + libvirtd in private namespaces, state under directory.

    cache_dir keeps QEMU's probed capabilities between instances (probing takes seconds).
    qemu_user is the user QEMU runs as (with that user's primary group)."""

    def __init__(self, directory, cache_dir, qemu_user="root"):
        self.dir = pathlib.Path(directory)
        self.etc = self.dir / "etc"
        self.run = self.dir / "run"
        self.cache = pathlib.Path(cache_dir)
        self.socket = self.run / "libvirt-sock"
        self.uri = f"qemu+unix:///system?socket={self.socket}"
        self.qemu_user = qemu_user
        self.anchor = None
        self.virtlogd_pid = None
        self.libvirtd_pid = None

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.etc.mkdir(exist_ok=True)
        self.run.mkdir(exist_ok=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        (self.etc / "libvirtd.conf").write_text(LIBVIRTD_CONF.format(run=self.run, dir=self.dir))
        (self.etc / "virtlogd.conf").write_text(VIRTLOGD_CONF.format(dir=self.dir))
        group = grp.getgrgid(pwd.getpwnam(self.qemu_user).pw_gid).gr_name
        (self.etc / "qemu.conf").write_text(QEMU_CONF.format(user=self.qemu_user, group=group))
        script = NAMESPACE_SETUP.format(dirs=" ".join(PRIVATE_DIRS), cache=self.cache,
                                        etc=self.etc, run=self.run, dir=self.dir,
                                        python=sys.executable, anchor=ANCHOR)
        with open(self.dir / "anchor.err", "ab") as err:
            self.anchor = subprocess.Popen(
                ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script],
                env=daemon_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                text=True)
        self.virtlogd_pid = self._answer("virtlogd")
        # Its socket is in the daemons' mount namespace, seen through virtlogd's root.
        sock = pathlib.Path(f"/proc/{self.virtlogd_pid}/root/run/libvirt/virtlogd-sock")

        def listening():
            if not _alive(self.virtlogd_pid):
                log = self.dir / "virtlogd.log"
                raise RuntimeError(f"virtlogd exited:\n{log.read_text() if log.exists() else ''}")
            return sock.exists()
        wait_for(listening, timeout=30, interval=0.02, what="virtlogd to listen")
        self.start_libvirtd()
        return self

    def _answer(self, what):
        line = self.anchor.stdout.readline().split()
        if len(line) != 2 or line[0] != what:
            self.anchor.kill()
            self.anchor.wait()
            raise RuntimeError(f"starting {what} failed: {line}\n"
                               f"{(self.dir / 'anchor.err').read_text()}")
        return int(line[1])

    def start_libvirtd(self):
        """Starts libvirtd (again) in the namespaces and waits until it answers."""
        if self.socket.exists():
            self.socket.unlink()
        self.anchor.stdin.write("libvirtd\n")
        self.anchor.stdin.flush()
        self.libvirtd_pid = self._answer("libvirtd")

        def answering():
            if not _alive(self.libvirtd_pid):
                raise RuntimeError("libvirtd exited:\n"
                                   f"{(self.dir / 'daemons.out').read_text()}")
            return self.socket.exists() and self.virsh("uri", check=False).returncode == 0
        wait_for(answering, timeout=30, interval=0.05, what="libvirtd to answer")

    def kill_libvirtd(self, sig=signal.SIGKILL):
        """Ends libvirtd as a crash would (guests keep running) and waits until it is gone."""
        os.kill(self.libvirtd_pid, sig)
        wait_for(lambda: not _alive(self.libvirtd_pid), timeout=30, what="libvirtd to exit")

    def virsh(self, *args, check=True):
        p = subprocess.run(["virsh", "-c", self.uri, *args], capture_output=True, text=True,
                           timeout=60, env=daemon_env())
        if check and p.returncode != 0:
            raise AssertionError(f"virsh {' '.join(args)} failed: {p.stdout}{p.stderr}")
        return p

    def domain_xml(self, name):
        """The live XML of a running domain, parsed."""
        return ET.fromstring(self.virsh("dumpxml", name).stdout)

    def create_network(self, name, bridge):
        """An isolated network (a bridge without addresses) that NICs can attach to."""
        xml = (f"<network><name>{name}</name><bridge name='{bridge}' stp='off'/>"
               "</network>")
        path = self.dir / f"net-{name}.xml"
        path.write_text(xml)
        self.virsh("net-create", str(path))

    def namespace_pids(self):
        """Every process in the daemons' network namespace (QEMU guests included: libvirt gives
        them a mount namespace of their own, but not a network one)."""
        try:
            ns = os.readlink(f"/proc/{self.virtlogd_pid}/ns/net")
        except (OSError, TypeError):
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == ns:
                    pids.append(int(entry))
            except OSError:
                continue
        return pids

    def qemu_pid(self, name):
        """The pid of the QEMU process running domain name, or None."""
        for pid in self.namespace_pids():
            try:
                cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"-name" in cmdline and f"guest={name},".encode() in b" ".join(cmdline):
                return pid
        return None

    def report(self, lines=60):
        """The last lines of the daemons' logs and of each guest's QEMU log, for a failed test."""
        parts = []
        logs = [self.dir / "libvirtd.log", self.dir / "virtlogd.log", self.dir / "daemons.out"]
        qemu_logs = pathlib.Path(f"/proc/{self.virtlogd_pid}/root/var/log/libvirt/qemu")
        try:
            logs += sorted(qemu_logs.glob("*.log"))
        except OSError:
            pass
        for log in logs:
            try:
                tail = log.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"--- {log.name}, last lines:\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self):
        """Destroys every guest, then has the anchor end libvirtd, virtlogd and anything left,
        so nothing outlives the test."""
        if not self.anchor:
            return
        if self.libvirtd_pid and _alive(self.libvirtd_pid):
            p = self.virsh("list", "--name", check=False)
            for name in p.stdout.split():
                self.virsh("destroy", name, check=False)
        try:
            self.anchor.stdin.write("stop\n")
            self.anchor.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.anchor.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.anchor.kill()
            self.anchor.wait()
        self.anchor.stdout.close()
        self.anchor = None


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
