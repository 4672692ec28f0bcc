#!/usr/bin/env python3
"""minihv live migration benchmark: a 64 MiB pv guest moved between two `minihv` processes over
loopback TCP, idle (8 MiB of memory filled once, then only read) and while it rewrites 25 of
those pages every 10 ms (10.2 MB/s, round robin); downtime (the source's pause to the target's confirmation
that the guest runs, as the source's migrate-send answer reports it) and total time (the
request to that answer), p50 and p90 over several runs. Prints the figures against the target:
downtime <= 10 ms.

Usage: migrate-bench.py [--build DIR] [--quick] [--json FILE]"""
import argparse
import json
import os
import pathlib
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TARGET_DOWNTIME_MS = 10.0
MEMORY_MIB = 64
SCENARIOS = {
    "idle": "fill period_ms=100",
    "writing 10 MB/s": "dirty_pages=25 period_ms=10",  # 25 pages every 10 ms: 10.2 MB/s
}


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def read_json_line(sock, buf):
    while b"\n" not in buf[0]:
        ready, _, _ = select.select([sock], [], [], 60)
        if not ready:
            raise RuntimeError("no answer from the source within 60 s")
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the source closed its control socket")
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\n", 1)
    return json.loads(line)


class Bench:
    def __init__(self, build, quick):
        self.build = pathlib.Path(build)
        self.quick = quick
        self.minihv = self.build / "drivers/minihv/vmm/minihv"
        self.guest = self.build / "drivers/minihv/guest/counter-pv.elf"
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="minihv-migrate-bench-"))

    def wait_socket(self, path, proc):
        deadline = time.monotonic() + 20
        while not path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"minihv did not serve {path}")
            time.sleep(0.01)

    def one(self, cmdline, i):
        ctl = self.tmp / f"src{i}.sock"
        tctl = self.tmp / f"tgt{i}.sock"
        src = subprocess.Popen([str(self.minihv), "run", "--memory", str(MEMORY_MIB),
                                "--cmdline", cmdline, "--control", str(ctl), "--console",
                                "/dev/null", str(self.guest)], stderr=subprocess.DEVNULL)
        tgt = None
        try:
            self.wait_socket(ctl, src)
            time.sleep(0.5)  # the guest filled its memory and is counting
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
                lst.bind(("127.0.0.1", 0))
                lst.listen(1)
                a = socket.create_connection(lst.getsockname())
                b, _ = lst.accept()
            tgt = subprocess.Popen([str(self.minihv), "run", "--control", str(tctl),
                                    "--console", "/dev/null", "--incoming", str(b.fileno())],
                                   stderr=subprocess.DEVNULL, pass_fds=(b.fileno(),))
            b.close()
            c = socket.socket(socket.AF_UNIX)
            c.connect(str(ctl))
            buf = [b""]
            t0 = time.perf_counter()
            socket.send_fds(c, [b'{"cmd":"migrate-send"}\n'], [a.fileno()])
            a.close()
            events = 0
            while True:
                msg = read_json_line(c, buf)
                if "event" not in msg:
                    break
                events += 1
            wall_ms = (time.perf_counter() - t0) * 1000
            c.close()
            if not msg.get("ok"):
                raise RuntimeError(f"the migration failed: {msg}")
            if src.wait(timeout=20) != 7:
                raise RuntimeError("the source did not exit 'migrated'")
            self.wait_socket(tctl, tgt)
            return {"downtime_ms": msg["downtime_ms"], "total_ms": msg["total_ms"],
                    "wall_ms": wall_ms, "iterations": msg["iterations"],
                    "mib_sent": msg["bytes_sent"] / 1048576, "last_dirty_pages":
                    msg["last_dirty_pages"], "events": events}
        finally:
            for p in (src, tgt):
                if p and p.poll() is None:
                    p.kill()
                if p:
                    p.wait()

    def run(self):
        runs = 3 if self.quick else 8
        results = {}
        self.one(SCENARIOS["idle"], "warm-up")  # not counted: the first start pays cold caches
        for name, cmdline in SCENARIOS.items():
            samples = [self.one(cmdline, f"{len(results)}-{i}") for i in range(runs)]
            r = {"runs": runs, "memory_mib": MEMORY_MIB, "cmdline": cmdline}
            for key in ("downtime_ms", "total_ms"):
                values = [s[key] for s in samples]
                r[f"{key}_p50"] = percentile(values, 50)
                r[f"{key}_p90"] = percentile(values, 90)
            r["iterations_mean"] = sum(s["iterations"] for s in samples) / runs
            r["mib_sent_mean"] = sum(s["mib_sent"] for s in samples) / runs
            r["samples"] = samples
            results[name] = r
        return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("HVD_BUILD_DIR", "build"))
    ap.add_argument("--quick", action="store_true", help="3 runs per scenario instead of 8")
    ap.add_argument("--json")
    args = ap.parse_args()
    b = Bench(args.build, args.quick)
    try:
        results = b.run()
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    print(f"live migration of a {MEMORY_MIB} MiB pv guest between two minihv over loopback TCP:")
    for name, r in results.items():
        print(f"  {name} ({r['runs']} runs; after the full pass {r['iterations_mean']:.1f} "
              f"more, the last one paused; {r['mib_sent_mean']:.1f} MiB sent):")
        print(f"    downtime:   p50 {r['downtime_ms_p50']:.2f} ms, p90 {r['downtime_ms_p90']:.2f} ms")
        print(f"    total time: p50 {r['total_ms_p50']:.1f} ms, p90 {r['total_ms_p90']:.1f} ms")
    targets = [(f"downtime p90 <= {TARGET_DOWNTIME_MS:g} ms, {name}",
                r["downtime_ms_p90"] <= TARGET_DOWNTIME_MS, f"{r['downtime_ms_p90']:.2f} ms")
               for name, r in results.items()]
    print("targets:")
    for what, ok, value in targets:
        print(f"  {'met   ' if ok else 'MISSED'}  {what}: {value}")
    out = {"scenarios": results,
           "targets": [{"target": w, "met": ok, "value": v} for w, ok, v in targets]}
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
