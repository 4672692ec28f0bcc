#!/usr/bin/python3
"""minihv network benchmark: the httpd and udpecho guests on a tap in a private network
namespace, pv against full mode, measured in the same run: guest->host TCP throughput (curl of
a generated body), UDP echo throughput, ping latency, and what each frame cost in exits and
doorbells (from the VMM's stats). Prints where pv stands against its targets (>= 1 Gbit/s
guest->host, pv/full >= 300x). Nothing leaves the namespace.

Usage: net-bench.py [--build DIR] [--quick] [--json FILE]"""
import argparse
import json
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

SOURCE = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE / "tests" / "integration"))

from net_helpers import GUEST_ADDR, Netns, NetGuest, net_skip_reason  # noqa: E402

# Body sizes: pv moves hundreds of MB/s, full mode tens of KB/s (every NE2000 register access
# and data-port word is an exit and the guest's TCP code is emulated at ring 0).
SIZES = {
    "normal": {"pv": {"http": 512 << 20, "udp_s": 3.0, "ping": 200, "runs": 3},
               "full": {"http": 256 << 10, "udp_s": 5.0, "ping": 20, "runs": 1}},
    "quick": {"pv": {"http": 64 << 20, "udp_s": 1.0, "ping": 50, "runs": 1},
              "full": {"http": 64 << 10, "udp_s": 2.0, "ping": 5, "runs": 1}},
}
TARGET_GBITS = 1.0
TARGET_RATIO = 300

UDP_CLIENT = r"""
import json, socket, sys, time
seconds, size, addr = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
payload = b"u" * size
window, sent, got, lost = 16, 0, 0, 0
t0 = time.monotonic()
while time.monotonic() - t0 < seconds:
    while sent - got - lost < window:
        s.sendto(payload, (addr, 7))
        sent += 1
    try:
        s.recv(65536)
        got += 1
    except socket.timeout:
        lost = sent - got  # give up on what is in flight
elapsed = time.monotonic() - t0
s.settimeout(0.2)
try:
    while sent - got - lost > 0:
        s.recv(65536)
        got += 1
except socket.timeout:
    pass
print(json.dumps({"sent": sent, "echoed": got, "bytes": got * size, "seconds": elapsed}))
"""


def start(build, ns, name, mode, stats):
    g = NetGuest(build, ns, name, mode, stats=stats)
    g.wait_ready(f"{name}: listening on {GUEST_ADDR}")
    return g


def stop(g, stats):
    g.stop()
    return json.loads(pathlib.Path(stats).read_text())


def frames_cost(st):
    net = st["net"]
    frames = net["tx_frames"] + net["rx_frames"]
    return {
        "frames": frames,
        "device_exits_per_frame": net["exits_per_frame"],
        "doorbells_per_frame": net["doorbells_per_frame"],
        "all_exits_per_frame": st["exits"]["total"] / frames if frames else None,
    }


def bench_http(build, ns, mode, size, runs, tmp):
    stats = tmp / f"http-{mode}.json"
    g = start(build, ns, "httpd", mode, stats)
    rates = []
    try:
        for _ in range(runs):
            r = ns.run(["curl", "-s", "-S", "--max-time", "600", "-o", "/dev/null", "-w",
                        "%{http_code} %{size_download} %{time_total}",
                        f"http://{GUEST_ADDR}/bytes/{size}"], timeout=660)
            code, got, seconds = r.stdout.split()
            if code != "200" or int(got) != size:
                raise RuntimeError(f"curl: {r.stdout} {r.stderr}")
            rates.append(size / float(seconds))
    finally:
        st = stop(g, stats)
    return {"bytes": size, "bytes_per_s": max(rates), "runs": rates, **frames_cost(st)}


def bench_udp_and_ping(build, ns, mode, seconds, pings, tmp):
    stats = tmp / f"udp-{mode}.json"
    g = start(build, ns, "udpecho", mode, stats)
    try:
        r = ns.run(["ping", "-q", "-c", str(pings), "-i", "0.01", "-W", "2", GUEST_ADDR],
                   timeout=120)
        m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", r.stdout)
        if not m:
            raise RuntimeError(f"ping: {r.stdout} {r.stderr}")
        rtt = {"min_ms": float(m.group(1)), "avg_ms": float(m.group(2)),
               "max_ms": float(m.group(3))}
        r = ns.run([sys.executable, "-c", UDP_CLIENT, str(seconds), "1472", GUEST_ADDR],
                   timeout=seconds + 60)
        udp = json.loads(r.stdout)
    finally:
        st = stop(g, stats)
    udp["bytes_per_s"] = udp["bytes"] / udp["seconds"]
    return {"ping": rtt, "udp": udp, "udp_cost": frames_cost(st)}


def ratio(a, b):
    return a / b if a and b else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(SOURCE / "build"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    reason = net_skip_reason()
    if reason:
        print(f"network benchmark skipped: {reason}")
        return 0
    build = pathlib.Path(args.build)
    sizes = SIZES["quick" if args.quick else "normal"]
    results = {"modes": {}}
    with tempfile.TemporaryDirectory(prefix="minihv-net-bench-") as tmpdir:
        tmp = pathlib.Path(tmpdir)
        for mode in ("pv", "full"):
            ns = Netns()
            try:
                sz = sizes[mode]
                http = bench_http(build, ns, mode, sz["http"], sz["runs"], tmp)
                rest = bench_udp_and_ping(build, ns, mode, sz["udp_s"], sz["ping"], tmp)
            finally:
                ns.close()
            results["modes"][mode] = {"http": http, **rest}
            print(f"{mode}: http {http['bytes_per_s'] * 8 / 1e6:.1f} Mbit/s "
                  f"({http['bytes'] >> 10} KiB body), udp echo "
                  f"{rest['udp']['bytes_per_s'] * 8 / 1e6:.2f} Mbit/s "
                  f"({rest['udp']['echoed']}/{rest['udp']['sent']} echoed), ping avg "
                  f"{rest['ping']['avg_ms']:.3f} ms; per frame: "
                  f"{http['device_exits_per_frame']:.3f} device exits, "
                  f"{http['doorbells_per_frame']:.3f} doorbells, "
                  f"{http['all_exits_per_frame']:.3f} exits of any kind")
    pv, full = results["modes"]["pv"], results["modes"]["full"]
    results["ratios"] = {
        "http_throughput": ratio(pv["http"]["bytes_per_s"], full["http"]["bytes_per_s"]),
        "udp_throughput": ratio(pv["udp"]["bytes_per_s"], full["udp"]["bytes_per_s"]),
        "ping_latency": ratio(full["ping"]["avg_ms"], pv["ping"]["avg_ms"]),
    }
    gbits = pv["http"]["bytes_per_s"] * 8 / 1e9
    r = results["ratios"]["http_throughput"]
    results["targets"] = {"pv_gbit_per_s": gbits, "pv_gbit_target": TARGET_GBITS,
                          "pv_over_full": r, "pv_over_full_target": TARGET_RATIO}
    print(f"\npv/full: http {r:.0f}x, udp {results['ratios']['udp_throughput']:.0f}x, "
          f"ping latency {results['ratios']['ping_latency']:.1f}x")
    print(f"target pv guest->host >= {TARGET_GBITS} Gbit/s: {gbits:.2f} Gbit/s, "
          f"{'met' if gbits >= TARGET_GBITS else 'NOT met'}")
    print(f"target pv/full >= {TARGET_RATIO}x: {r:.0f}x, "
          f"{'met' if r >= TARGET_RATIO else 'NOT met'}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
