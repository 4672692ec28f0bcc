#!/usr/bin/env python3
"""Prints every benchmark's rows from bench/results/*.json as one table: hvd against the
reference tools measured in the same run, as ratios (what `make bench` ends with)."""
import json
import pathlib
import sys

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def fmt(value, unit):
    if value is None:
        return "-"
    return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def main():
    files = sorted(RESULTS.glob("*.json"))
    if not files:
        print("no results: run make bench")
        return 1
    rows, machine, date = [], None, None
    for f in files:
        data = json.loads(f.read_text())
        machine, date = data.get("machine", machine), data.get("date", date)
        for table in data.get("tables", []):
            for metric, ours, ref, ref_name, unit, better in table["rows"]:
                if ours is None:
                    continue
                ratio = "-"
                if ref:
                    r = ref / ours if better == "lower" else ours / ref
                    ratio = f"{r:,.1f}x"
                rows.append((metric, fmt(ours, unit), fmt(ref, unit) if ref else "-",
                             ref_name if ref else "-", ratio))
    print(f"\nhvd benchmarks, {date[:10] if date else '?'}, {machine}")
    header = ("metric", "hvd", "reference", "reference tool", "hvd advantage")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
