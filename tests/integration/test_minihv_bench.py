"""The benchmark harness runs (quick sizes) and shows what pv saves over full mode."""
import json
import pathlib
import subprocess
import sys

from minihv_helpers import require_kvm

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "bench/minihv/minihv-bench.py"


def test_bench_reports_pv_against_full(build, tmp_path):
    require_kvm()
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--build", str(build), "--quick", "--json",
                        str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for heading in ("workload", "pv/full", "cpu loop: host", "first console byte", "targets:"):
        assert heading in r.stdout
    res = json.loads(out.read_text())
    w = res["workloads"]
    # structural facts, not timings: what each mode pays per operation
    assert w["pv/clock"]["exits"] == 0  # the shared page: no exit at all
    assert w["pv/console"]["exits_per_op"] < 0.01  # one exit per 4 KiB buffer
    assert w["full/console"]["exits_per_op"] >= 1  # at least one THR write per byte
    assert w["pv/blkread"]["exits_per_op"] < 0.01  # one ioeventfd doorbell per batch
    assert w["full/blkread"]["exits_per_op"] >= 1
    assert w["full/clock"]["exits_per_op"] >= 14  # index and data port per CMOS register
    # the ratios clear their targets by an order of magnitude or more here
    for name, target in (("console", 50), ("blkwrite", 10), ("blkread", 10), ("cpu", 100)):
        assert w[f"ratio/{name}"] >= target, name
    assert all(m["vmm_overhead_bytes"] < 4 << 20 for m in res["memory"].values())


SNAPSHOT_SCRIPT = SCRIPT.parent / "snapshot-bench.py"


def test_snapshot_bench_reports_save_restore_and_clones(build, tmp_path):
    require_kvm()
    out = tmp_path / "snapshot-bench.json"
    r = subprocess.run([sys.executable, str(SNAPSHOT_SCRIPT), "--build", str(build), "--quick",
                        "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for heading in ("save of a 64 MiB pv guest", "to the first guest instruction",
                    "to the first console byte", "clones of a 16 MiB image", "targets:"):
        assert heading in r.stdout
    res = json.loads(out.read_text())
    # structural facts, not timings: zero pages are holes, and clones share the image's pages
    assert res["save"]["written_bytes"] < 16 << 20 < res["save"]["file_size"]
    assert res["clones"]["guest_rss_kib_mean"] >= 8 * 1024
    assert res["clones"]["guest_private_kib_mean"] <= 0.10 * 16 * 1024
    # restore (cold and from a warm-pool VMM), clone time and clone memory, each judged
    assert [t["target"].split(" ")[0] for t in res["targets"]] == ["restore", "restore", "20",
                                                                   "each"]
    assert all(isinstance(t["met"], bool) for t in res["targets"])
    assert any("warm-pool" in t["target"] for t in res["targets"])


MIGRATE_SCRIPT = SCRIPT.parent / "migrate-bench.py"


def test_migrate_bench_reports_downtime_and_total_time(build, tmp_path):
    require_kvm()
    out = tmp_path / "migrate-bench.json"
    r = subprocess.run([sys.executable, str(MIGRATE_SCRIPT), "--build", str(build), "--quick",
                        "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for heading in ("live migration of a 64 MiB pv guest", "idle", "writing 10 MB/s",
                    "downtime:", "total time:", "targets:"):
        assert heading in r.stdout
    res = json.loads(out.read_text())
    # structural facts, not timings: the filled 8 MiB go over, and the downtime is within the
    # total time
    for s in res["scenarios"].values():
        assert s["mib_sent_mean"] >= 8
        assert 0 < s["downtime_ms_p50"] <= s["total_ms_p50"]
    assert len(res["targets"]) == 2
