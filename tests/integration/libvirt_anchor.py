"""Parent of libvirt's daemons inside the kvm tests' private namespaces.

A child subreaper: it starts virtlogd, starts libvirtd whenever asked, and reaps every process
that ends under it. libvirt daemonizes QEMU, so a guest's process is an orphan; without a
subreaper it would wait for PID 1 to reap it, and libvirt waits for a destroyed guest's pid to
vanish. Orphans come here instead and are reaped at once.

Protocol, one line each way: "libvirtd" starts libvirtd and answers "libvirtd PID"; "stop" (or
the end of stdin) ends everything under it and exits. Startup prints "virtlogd PID". The
daemons' own output goes to OUTPUT; virtlogd's pid file goes beside libvirtd's.
Usage: libvirt_anchor.py VIRTLOGD_CONF LIBVIRTD_CONF LIBVIRTD_PIDFILE OUTPUT
"""
import ctypes
import os
import select
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def spawn(argv, output):
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    return os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions)


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def children():
    me = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def end(pids, sig, timeout):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap()
        if not [p for p in pids if p in children()]:
            return
        time.sleep(0.02)


def main():
    virtlogd_conf, libvirtd_conf, pidfile, output = sys.argv[1:5]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    # Its default pid file, /run/virtlogd.pid, is outside the private directories: a second
    # test's virtlogd would find it locked and exit.
    virtlogd = spawn(["virtlogd", "--config", virtlogd_conf, "--pid-file",
                      os.path.join(os.path.dirname(pidfile), "virtlogd.pid")], output)
    libvirtd = None
    print(f"virtlogd {virtlogd}", flush=True)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.02)
        reap()
        if not ready:
            continue
        line = sys.stdin.readline().strip()
        if line == "libvirtd":
            # On one CPU: libvirt re-probes QEMU (seconds) whenever the host CPUID it reads
            # differs from its cache, and on some hosts, virtual machines among them, CPUID
            # differs from CPU to CPU. libvirt sets each guest's affinity itself.
            cpu = str(min(os.sched_getaffinity(0)))
            libvirtd = spawn(["taskset", "-c", cpu, "libvirtd", "--config", libvirtd_conf,
                              "--pid-file", pidfile], output)
            print(f"libvirtd {libvirtd}", flush=True)
            continue
        # "stop" or end of input: libvirtd first (it may still be tidying up its guests), then
        # whatever is left, virtlogd last.
        rest = [p for p in children() if p not in (libvirtd, virtlogd)]
        if libvirtd in children():
            end([libvirtd], signal.SIGTERM, 15)
        end(rest, signal.SIGKILL, 10)
        end([p for p in children() if p != virtlogd], signal.SIGKILL, 10)
        end([virtlogd], signal.SIGTERM, 10)
        end(children(), signal.SIGKILL, 10)
        return


if __name__ == "__main__":
    main()
