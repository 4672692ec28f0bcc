#!/usr/bin/env python3
"""minihv save/restore benchmark: the save of a 64 MiB pv guest; `minihv run --restore` to the
guest's first instruction (the VMM's ready signal, written just before the vCPUs are released)
and to its first console byte, p50 and p90, spawned cold and handed to a waiting
`minihv pool` VMM (hvd's warm pool); and 100 clones of one image started at once: the
time until all are running and the host memory each adds. Prints the figures against their
targets.

Usage: snapshot-bench.py [--build DIR] [--quick] [--json FILE]"""
import argparse
import array
import json
import os
import pathlib
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TARGET_RESTORE_P90_MS = 2.0
TARGET_CLONES_S = 1.0
TARGET_CLONE_SHARE = 0.10


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def ready_fd_pair():
    r, w = os.pipe()
    return r, w


def wait_ready(r, timeout=30):
    ready, _, _ = select.select([r], [], [], timeout)
    got = os.read(r, 16) if ready else b""
    os.close(r)
    if got != b"ready\n":
        raise RuntimeError(f"minihv never became ready ({got!r})")


class Bench:
    def __init__(self, build, quick):
        self.build = pathlib.Path(build)
        self.quick = quick
        self.minihv = self.build / "drivers/minihv/vmm/minihv"
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="minihv-snapshot-bench-"))
        self.results = {}

    def guest(self, name):
        return self.build / "drivers/minihv/guest" / f"{name}-pv.elf"

    def start(self, memory, cmdline, tag):
        r, w = ready_fd_pair()
        ctl = self.tmp / f"{tag}.sock"
        p = subprocess.Popen([str(self.minihv), "run", "--memory", str(memory), "--cmdline",
                              cmdline, "--control", str(ctl), "--console", "/dev/null",
                              "--ready-fd", str(w), str(self.guest("counter"))],
                             stderr=subprocess.DEVNULL, pass_fds=(w,))
        os.close(w)
        wait_ready(r)
        time.sleep(0.3)  # the guest filled its memory and is counting
        return p, ctl

    def save(self, ctl, image, then):
        out = subprocess.run([str(self.minihv), "save", "--control", str(ctl), "--then", then,
                              str(image)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    def bench_save(self):
        """Saves of a running 64 MiB guest that wrote 8 MiB (then resumes it)."""
        p, ctl = self.start(64, "fill period_ms=50", "save")
        vmm_ms, wall_ms = [], []
        for i in range(5 if self.quick else 20):
            image = self.tmp / f"save{i % 2}.img"
            t0 = time.perf_counter()
            reply = self.save(ctl, image, "resume")
            wall_ms.append((time.perf_counter() - t0) * 1000)
            vmm_ms.append(reply["save_ms"])
        p.terminate()
        p.wait()
        self.results["save"] = {
            "memory_mib": 64,
            "file_size": reply["file_size"],
            "written_bytes": reply["written_bytes"],
            "vmm_ms_p50": percentile(vmm_ms, 50), "vmm_ms_p90": percentile(vmm_ms, 90),
            "cli_ms_p50": percentile(wall_ms, 50), "cli_ms_p90": percentile(wall_ms, 90),
        }

    def saved_image(self, memory, cmdline, name):
        p, ctl = self.start(memory, cmdline, name)
        image = self.tmp / f"{name}.img"
        self.save(ctl, image, "stop")
        p.wait()
        return image

    def bench_restore(self):
        """Restores of images of a counter that prints every millisecond, at two memory sizes:
        the memory is mapped, not read, so the time should not grow with it."""
        self.results["restore"] = {}
        for memory in (64, 512):
            image = self.saved_image(memory, "period_ms=1", f"restore{memory}")
            to_ready, to_byte = [], []
            for _ in range(10 if self.quick else 50):
                r, w = ready_fd_pair()
                t0 = time.perf_counter()
                p = subprocess.Popen([str(self.minihv), "run", "--restore", str(image),
                                      "--ready-fd", str(w)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, pass_fds=(w,))
                os.close(w)
                wait_ready(r)
                t1 = time.perf_counter()
                select.select([p.stdout], [], [], 30)
                p.stdout.read1(1)
                t2 = time.perf_counter()
                p.terminate()
                p.wait()
                p.stdout.close()
                to_ready.append((t1 - t0) * 1000)
                to_byte.append((t2 - t0) * 1000)
            pooled_ready, pooled_byte = self.pooled_restores(image, memory)
            image.unlink()
            self.results["restore"][str(memory)] = {
                "to_first_instruction_ms_p50": percentile(to_ready, 50),
                "to_first_instruction_ms_p90": percentile(to_ready, 90),
                "to_first_console_byte_ms_p50": percentile(to_byte, 50),
                "to_first_console_byte_ms_p90": percentile(to_byte, 90),
                "pooled_to_first_instruction_ms_p50": percentile(pooled_ready, 50),
                "pooled_to_first_instruction_ms_p90": percentile(pooled_ready, 90),
                "pooled_to_first_console_byte_ms_p50": percentile(pooled_byte, 50),
                "pooled_to_first_console_byte_ms_p90": percentile(pooled_byte, 90),
            }

    def pooled_restores(self, image, memory):
        """Restores handed to a waiting `minihv pool` VMM of the image's shape, as hvd's warm
        pool does: timed from sending it the `minihv run --restore` arguments."""
        to_ready, to_byte = [], []
        for _ in range(10 if self.quick else 50):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            p = subprocess.Popen([str(self.minihv), "pool", "--mode", "pv", "--memory",
                                  str(memory), "--vcpus", "1", "--socket", str(theirs.fileno()),
                                  "--room", " " * 512], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 pass_fds=(theirs.fileno(),))
            theirs.close()
            ours.settimeout(30)
            if ours.recv(16) != b"waiting\n":
                raise RuntimeError("minihv pool never said it was waiting")
            r, w = ready_fd_pair()
            out_r, out_w = os.pipe()
            args = [str(self.minihv), "run", "--restore", str(image), "--ready-fd", "3"]
            t0 = time.perf_counter()
            ours.sendmsg([b"".join(a.encode() + b"\0" for a in args)],
                         [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w, out_w]))])
            os.close(w)
            os.close(out_w)
            wait_ready(r)
            t1 = time.perf_counter()
            select.select([out_r], [], [], 30)
            os.read(out_r, 1)
            t2 = time.perf_counter()
            p.terminate()
            p.wait()
            os.close(out_r)
            ours.close()
            to_ready.append((t1 - t0) * 1000)
            to_byte.append((t2 - t0) * 1000)
        return to_ready, to_byte

    def bench_clones(self):
        """100 restores of one 16 MiB image started together; memory once all run a while."""
        n = 20 if self.quick else 100
        mem_mib = 16
        image = self.saved_image(mem_mib, "fill period_ms=100", "clones")
        procs, readers = [], []
        t0 = time.perf_counter()
        try:
            for i in range(n):
                r, w = ready_fd_pair()
                procs.append(subprocess.Popen(
                    [str(self.minihv), "run", "--restore", str(image), "--ready-fd", str(w),
                     "--console", "/dev/null"], stderr=subprocess.DEVNULL, pass_fds=(w,)))
                os.close(w)
                readers.append(r)
            for r in readers:
                wait_ready(r)
            elapsed = time.perf_counter() - t0
            time.sleep(1.0)  # every clone has read its 8 MiB at least once
            guest_private, guest_rss, process_pss = [], [], []
            for p in procs:
                m = smaps(p.pid, image)
                guest_private.append(m["Private_Clean"] + m["Private_Dirty"])
                guest_rss.append(m["Rss"])
                process_pss.append(pss_total(p.pid))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
        self.results["clones"] = {
            "count": n, "memory_mib": mem_mib, "seconds_to_all_running": elapsed,
            "guest_rss_kib_mean": sum(guest_rss) / n,
            "guest_private_kib_mean": sum(guest_private) / n,
            "guest_private_kib_max": max(guest_private),
            "process_pss_kib_mean": sum(process_pss) / n,
        }


def smaps(pid, image):
    fields, inside = {"Rss": 0, "Private_Clean": 0, "Private_Dirty": 0}, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = line.rstrip().endswith(str(image))
            elif inside and line.split(":")[0] in fields:
                fields[line.split(":")[0]] += int(line.split()[1])
    return fields


def pss_total(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("HVD_BUILD_DIR", "build"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    b = Bench(args.build, args.quick)
    try:
        b.bench_save()
        b.bench_restore()
        b.bench_clones()
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    s, r, c = b.results["save"], b.results["restore"], b.results["clones"]
    print(f"save of a {s['memory_mib']} MiB pv guest ({s['written_bytes'] >> 10} KiB written, "
          f"zero pages left as holes): p50 {s['vmm_ms_p50']:.2f} ms in the VMM, "
          f"{s['cli_ms_p50']:.2f} ms for `minihv save` (p90 {s['vmm_ms_p90']:.2f} / "
          f"{s['cli_ms_p90']:.2f} ms)")
    for memory, m in r.items():
        print(f"restore of a {memory} MiB image, from spawning `minihv run --restore`:")
        print(f"  to the first guest instruction: p50 {m['to_first_instruction_ms_p50']:.2f} ms, "
              f"p90 {m['to_first_instruction_ms_p90']:.2f} ms")
        print(f"  to the first console byte:      p50 {m['to_first_console_byte_ms_p50']:.2f} "
              f"ms, p90 {m['to_first_console_byte_ms_p90']:.2f} ms")
        print(f"  handed to a warm-pool VMM, to the first guest instruction: p50 "
              f"{m['pooled_to_first_instruction_ms_p50']:.2f} ms, p90 "
              f"{m['pooled_to_first_instruction_ms_p90']:.2f} ms; to the first console byte: "
              f"p50 {m['pooled_to_first_console_byte_ms_p50']:.2f} ms, p90 "
              f"{m['pooled_to_first_console_byte_ms_p90']:.2f} ms")
    r = r["64"]
    share = c["guest_private_kib_mean"] / (c["memory_mib"] * 1024)
    print(f"{c['count']} clones of a {c['memory_mib']} MiB image: all running after "
          f"{c['seconds_to_all_running']:.3f} s; per clone: guest memory mapped "
          f"{c['guest_rss_kib_mean']:.0f} KiB, of it private {c['guest_private_kib_mean']:.0f} "
          f"KiB ({share:.1%} of guest memory, max {c['guest_private_kib_max']} KiB); whole "
          f"process PSS {c['process_pss_kib_mean']:.0f} KiB")
    targets = [
        (f"restore to running p90 <= {TARGET_RESTORE_P90_MS} ms",
         r["to_first_instruction_ms_p90"] <= TARGET_RESTORE_P90_MS,
         f"{r['to_first_instruction_ms_p90']:.2f} ms"),
        (f"restore to running from a warm-pool VMM p90 <= {TARGET_RESTORE_P90_MS} ms",
         r["pooled_to_first_instruction_ms_p90"] <= TARGET_RESTORE_P90_MS,
         f"{r['pooled_to_first_instruction_ms_p90']:.2f} ms"),
        (f"{c['count']} clones running <= {TARGET_CLONES_S} s" +
         (" (quick run: 20 clones)" if b.quick else ""),
         c["seconds_to_all_running"] <= TARGET_CLONES_S, f"{c['seconds_to_all_running']:.3f} s"),
        (f"each clone adds <= {TARGET_CLONE_SHARE:.0%} of guest memory until it writes",
         share <= TARGET_CLONE_SHARE, f"{share:.1%}"),
    ]
    print("targets:")
    for what, ok, value in targets:
        print(f"  {'met   ' if ok else 'MISSED'}  {what}: {value}")
    b.results["targets"] = [{"target": w, "met": ok, "value": v} for w, ok, v in targets]
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(b.results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
