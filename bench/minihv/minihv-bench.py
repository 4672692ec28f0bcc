#!/usr/bin/env python3
"""minihv benchmark: the same bench guest in pv and full mode, with exits per operation,
throughput and pv/full ratios for console, block, clock and CPU work; the time from
`minihv run` to the guest's first console byte (against QEMU measured in the same run); and
the host memory a VM costs beyond its guest memory.

Usage: minihv-bench.py [--build DIR] [--quick] [--json FILE]"""
import argparse
import json
import os
import pathlib
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SOURCE = pathlib.Path(__file__).resolve().parents[2]

# Work per workload, sized so that each full-mode run takes a fraction of a second on a host
# that emulates ring-0 code instruction by instruction, and pv runs long enough to time.
SIZES = {
    "normal": {
        "pv": {"console": 16 << 20, "blkwrite": 65536, "blkread": 65536, "clock": 10_000_000,
               "cpu": 300_000_000},
        "full": {"console": 16 << 10, "blkwrite": 128, "blkread": 4096, "clock": 500,
                 "cpu": 20_000},
    },
    "quick": {
        "pv": {"console": 1 << 20, "blkwrite": 4096, "blkread": 4096, "clock": 1_000_000,
               "cpu": 10_000_000},
        "full": {"console": 2 << 10, "blkwrite": 16, "blkread": 256, "clock": 50,
                 "cpu": 2_000},
    },
}
UNITS = {"console": "bytes", "blkwrite": "sectors", "blkread": "sectors", "clock": "reads",
         "cpu": "iterations"}
TARGET_RATIO = {"console": 50, "blkwrite": 10, "blkread": 10, "cpu": 100}


class Bench:
    def __init__(self, build, quick):
        self.build = pathlib.Path(build)
        self.quick = quick
        self.sizes = SIZES["quick" if quick else "normal"]
        self.minihv = self.build / "drivers/minihv/vmm/minihv"
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="minihv-bench-"))
        self.disk = self.tmp / "disk.img"
        with open(self.disk, "wb") as f:
            f.truncate(64 << 20)
        self.results = {}

    def guest(self, name, mode):
        return self.build / "drivers/minihv/guest" / f"{name}-{mode}.elf"

    def run_bench_guest(self, mode, cmdline, cpu=None):
        console = self.tmp / "console.out"
        stats = self.tmp / "stats.json"
        console.unlink(missing_ok=True)
        cmd = [str(self.minihv), "run", "--mode", mode, "--disk", str(self.disk), "--cmdline",
               cmdline, "--console", str(console), "--stats-file", str(stats),
               *(["--cpuset", str(cpu)] if cpu is not None else []),
               str(self.guest("bench", mode))]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            sys.exit(f"bench guest failed ({mode}, {cmdline}): {r.stderr.strip()}")
        lines = [l for l in console.read_text(errors="replace").splitlines()
                 if l.startswith("bench: ")]
        return lines, json.loads(stats.read_text())

    def workloads(self):
        base_lines, base = {}, {}
        for mode in ("pv", "full"):
            _, base[mode] = self.run_bench_guest(mode, "idle=1")  # the same output, no work
        tsc_hz = base["pv"]["tsc_khz"] * 1000
        self.results["tsc_hz"] = tsc_hz
        work = {}
        for mode in ("pv", "full"):
            for name, n in self.sizes[mode].items():
                best = None
                for _ in range(3 if name == "cpu" else 1):
                    lines, stats = self.run_bench_guest(mode, f"{name}={n}")
                    m = next(re.search(r"ops=(\d+) cycles=(\d+)", l) for l in lines
                             if l.startswith(f"bench: {name} "))
                    cycles = int(m.group(2))
                    if best is None or cycles < best[0]:
                        best = (cycles, stats)
                cycles, stats = best
                exits = stats["exits"]["total"] - base[mode]["exits"]["total"]
                seconds = cycles / tsc_hz
                work[(mode, name)] = {
                    "ops": n, "seconds": seconds, "ops_per_s": n / seconds,
                    "exits": exits, "exits_per_op": exits / n,
                }
        self.results["workloads"] = {f"{m}/{w}": v for (m, w), v in work.items()}
        self.cpu_against_host(work, tsc_hz)
        return work

    def cpu_against_host(self, work, tsc_hz):
        """The same loop on the host and in a pv guest, interleaved, both pinned to one CPU,
        best of several rounds each: this host's run-to-run noise is ~15%."""
        n = self.sizes["pv"]["cpu"]
        cpu = sorted(os.sched_getaffinity(0))[-1]
        host, guest = [], []
        for _ in range(3 if self.quick else 7):
            out = subprocess.run([str(self.build / "bench/minihv/minihv-bench-cpuloop"), str(n)],
                                 capture_output=True, text=True, check=True,
                                 preexec_fn=lambda: os.sched_setaffinity(0, {cpu})).stdout
            host.append(int(re.search(r"cycles=(\d+)", out).group(1)))
            lines, _ = self.run_bench_guest("pv", f"cpu={n}", cpu=cpu)
            line = next(l for l in lines if l.startswith("bench: cpu "))
            guest.append(int(re.search(r"cycles=(\d+)", line).group(1)))
        pv = work[("pv", "cpu")]
        pv["seconds"] = min(min(guest) / tsc_hz, pv["seconds"])
        pv["ops_per_s"] = n / pv["seconds"]
        self.results["workloads"]["pv/cpu"] = pv
        self.results["host_cpu"] = {"ops": n, "seconds": min(host) / tsc_hz}

    def first_byte(self, cmd, needle):
        """Seconds from spawning cmd until needle appears on its standard output."""
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        buf, took = b"", None
        fd = p.stdout.fileno()
        while took is None:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            if needle in buf:
                took = time.perf_counter() - t0
        p.kill()
        p.wait()
        return took

    def boot_times(self):
        boot = {}
        runs = 5 if self.quick else 21
        for mode in ("pv", "full"):
            cmd = [str(self.minihv), "run", "--mode", mode, str(self.guest("hello", mode))]
            times = [self.first_byte(cmd, b"H") for _ in range(runs)]
            boot[f"minihv-{mode}"] = times
        qemu = shutil.which("qemu-system-x86_64")
        if qemu:
            base = [qemu, "-kernel", str(self.guest("hello", "full")), "-nographic",
                    "-no-reboot", "-net", "none", "-m", "64"]
            boot["qemu-tcg"] = [self.first_byte(base + ["-accel", "tcg"], b"Hello")
                                for _ in range(3 if self.quick else 5)]
            if not self.quick:
                boot["qemu-kvm"] = [self.first_byte(base + ["-accel", "kvm"], b"Hello")]
        self.results["boot_seconds"] = boot
        return boot

    def memory(self):
        mem = {}
        for mode in ("pv", "full"):
            sock = self.tmp / f"control-{mode}.sock"
            r, w = os.pipe()
            p = subprocess.Popen([str(self.minihv), "run", "--mode", mode, "--control",
                                  str(sock), "--console", "/dev/null", "--ready-fd", str(w),
                                  str(self.guest("echo", mode))], pass_fds=(w,),
                                 stderr=subprocess.DEVNULL)
            os.close(w)
            os.read(r, 16)
            os.close(r)
            time.sleep(0.2)
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock))
            s.sendall(b'{"cmd":"stats"}\n')
            data = b""
            while not data.endswith(b"\n"):
                data += s.recv(65536)
            s.sendall(b'{"cmd":"destroy"}\n')
            s.close()
            p.wait(timeout=10)
            mem[mode] = json.loads(data)["memory"]
        self.results["memory"] = mem
        return mem


def fmt_rate(v):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.2f} {unit}"
    return f"{v:.1f} "


def verdict(ok):
    return "PASS" if ok else "MISS"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("HVD_BUILD_DIR", SOURCE / "build"))
    ap.add_argument("--quick", action="store_true", help="small sizes (for tests)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("minihv-bench: /dev/kvm is not usable here")
    b = Bench(args.build, args.quick)
    try:
        work = b.workloads()
        boot = b.boot_times()
        mem = b.memory()
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)

    print(f"minihv benchmark (TSC {b.results['tsc_hz'] / 1e9:.3f} GHz"
          f"{', quick sizes' if args.quick else ''})")
    print()
    print(f"{'workload':10} {'mode':5} {'ops':>11} {'exits/op':>11} {'throughput':>20} "
          f"{'pv/full':>9}")
    targets = []
    for name in ("console", "blkwrite", "blkread", "clock", "cpu"):
        pv, full = work[("pv", name)], work[("full", name)]
        ratio = pv["ops_per_s"] / full["ops_per_s"]
        for mode, w in (("pv", pv), ("full", full)):
            print(f"{name:10} {mode:5} {w['ops']:>11} {w['exits_per_op']:>11.4f} "
                  f"{fmt_rate(w['ops_per_s']) + UNITS[name] + '/s':>20} "
                  f"{(f'{ratio:.0f}x' if mode == 'pv' else ''):>9}")
        b.results["workloads"][f"ratio/{name}"] = ratio
        if name in TARGET_RATIO:
            targets.append((f"{name} pv/full >= {TARGET_RATIO[name]}x", ratio >= TARGET_RATIO[name],
                            f"{ratio:.0f}x"))
    clock_exits = work[("pv", "clock")]["exits"]
    targets.append(("clock reads in pv cost 0 exits", clock_exits == 0, f"{clock_exits} exits"))
    host = b.results["host_cpu"]
    pv_cpu = work[("pv", "cpu")]["seconds"]
    slowdown = pv_cpu / host["seconds"] - 1
    print()
    print(f"cpu loop: host {host['seconds'] * 1e3:.1f} ms, pv {pv_cpu * 1e3:.1f} ms "
          f"({slowdown * 100:+.1f}%) for {host['ops']} iterations")
    targets.append(("cpu in pv within 5% of the host", abs(slowdown) <= 0.05,
                    f"{slowdown * 100:+.1f}%"))

    print()
    print("time from spawn to the guest's first console byte (median / max):")
    for name, times in boot.items():
        ok = [t for t in times if t is not None]
        if ok:
            print(f"  {name:12} {statistics.median(ok) * 1e3:9.2f} ms / {max(ok) * 1e3:9.2f} ms"
                  f"  ({len(ok)} runs)")
        else:
            print(f"  {name:12} no output")
    pv_boot = statistics.median(t for t in boot["minihv-pv"] if t is not None)
    targets.append(("boot to first byte <= 5 ms (pv, median)", pv_boot <= 0.005,
                    f"{pv_boot * 1e3:.2f} ms"))

    print()
    print("host memory per VM beyond guest memory (VMM anonymous memory minus guest pages):")
    for mode, m in mem.items():
        print(f"  {mode:5} {m['vmm_overhead_bytes'] / 1024:8.0f} KiB  (RSS {m['vmm_rss_bytes'] / 1024:.0f}"
              f" KiB including shared libraries, guest resident {m['guest_resident_bytes'] / 1024:.0f} KiB)")
        targets.append((f"memory overhead <= 1 MiB ({mode})", m["vmm_overhead_bytes"] <= 1 << 20,
                        f"{m['vmm_overhead_bytes'] / 1024:.0f} KiB"))

    print()
    print("targets:")
    for what, ok, value in targets:
        print(f"  {verdict(ok)}  {what}: {value}")
    b.results["targets"] = [{"target": w, "met": ok, "value": v} for w, ok, v in targets]
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(b.results, indent=2) + "\n")


if __name__ == "__main__":
    main()
