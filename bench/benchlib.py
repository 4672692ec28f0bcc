"""Helpers shared by the benchmark drivers: results tables with ratios, and a results file."""
import datetime
import json
import os
import pathlib
import platform
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "integration"))

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"


def machine():
    """A one-line description of this machine: CPU model, cores, memory, kernel."""
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // (1024 * 1024)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, {mem} GiB, Linux {platform.release()}"


TABLES = []


def rss(pid, field="VmRSS"):
    """Resident memory of process pid in bytes (field: VmRSS, or a part of it from
    /proc/PID/status: RssAnon, RssFile, RssShmem)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def print_table(title, rows):
    """rows: (metric, hvd value, reference value, reference name, unit, better) where better
    is 'lower' or 'higher'; prints the ratio as 'how many times better hvd is'. The rows are
    kept for save(), so `make bench` can print every benchmark in one table at the end."""
    TABLES.append({"title": title, "rows": [list(r) for r in rows]})
    print(f"\n{title}")
    print(f"  {machine()}, {datetime.date.today().isoformat()}")
    header = ("metric", "hvd", "reference", "ref tool", "hvd advantage")
    table = [header]
    for metric, ours, ref, ref_name, unit, better in rows:
        if ours is None:
            table.append((metric, "n/a", "", ref_name, ""))
            continue
        if ref:
            ratio = (ref / ours) if better == "lower" else (ours / ref)
            adv = f"{ratio:.1f}x"
        else:
            adv = "(no reference)"
        table.append((metric, f"{ours:.1f} {unit}", f"{ref:.1f} {unit}" if ref else "-",
                      ref_name, adv))
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for r in table:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def save(name, data):
    RESULTS_DIR.mkdir(exist_ok=True)
    data = dict(data, date=datetime.datetime.now().isoformat(timespec="seconds"),
                machine=machine(), tables=TABLES)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(data, indent=2))
