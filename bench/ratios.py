#!/usr/bin/env python3
"""The product against the best peer, per workload, from run-peers.sh results.

Reads one or more results.tsv files of ../shared/bench/run-peers.sh and prints
a Markdown table: per workload and peer the best saturation QPS (the larger of
the c10q100 and c50q500 levels, each the median over rounds), CPU µs per query
at that level, p99 at the fixed-rate probe and RSS; then resolverd's ratio to
the best other peer of each workload.

Usage: ratios.py [--product resolverd] results.tsv [...]
"""
import csv
import statistics
import sys
from collections import defaultdict


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def main(argv):
    product = "resolverd"
    if len(argv) > 1 and argv[0] == "--product":
        product, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cells = defaultdict(list)  # (workload, peer, level) -> rows
    for path in argv:
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row.get("status", "ok") != "ok":
                    continue
                cells[(row["workload"], row["peer"], row["level"])].append(row)

    def median(rows, col):
        v = [x for x in (num(r.get(col)) for r in rows) if x is not None]
        return statistics.median(v) if v else None

    workloads = sorted({w for w, _, _ in cells})
    best = {}  # (w, peer) -> dict
    for w in workloads:
        for peer in sorted({p for ww, p, _ in cells if ww == w}):
            sat = []
            for lvl in ("10:100", "50:500"):
                rows = cells.get((w, peer, lvl))
                if rows:
                    sat.append((median(rows, "qps"), lvl, rows))
            if not sat:
                continue
            qps, lvl, rows = max(sat, key=lambda s: s[0] or 0)
            probe = [r for (ww, p, l), rs in cells.items() if ww == w and p == peer and l.startswith("p") for r in rs]
            plevel = next((l for (ww, p, l) in cells if ww == w and p == peer and l.startswith("p")), "")
            best[(w, peer)] = {
                "qps": qps, "level": lvl, "rounds": len(rows),
                "us": median(rows, "us_per_q"), "p99": median(probe, "p99_ms"),
                "probe": plevel[1:], "rss": median(rows, "rss_mib"),
                "spread": (min(num(r["qps"]) for r in rows), max(num(r["qps"]) for r in rows)),
            }

    def f(x, d=0):
        return "-" if x is None else f"{x:,.{d}f}"

    print("| workload | peer | best saturation QPS (median [min–max], rounds) | CPU µs/query | p99 ms at fixed rate | RSS MiB |")
    print("|---|---|---|---|---|---|")
    for w in workloads:
        rows = sorted(((p, b) for (ww, p), b in best.items() if ww == w), key=lambda x: -(x[1]["qps"] or 0))
        for p, b in rows:
            lo, hi = b["spread"]
            name = f"**{p}**" if p == product else p
            print(f"| {w} | {name} | {f(b['qps'])} [{f(lo)}–{f(hi)}] {b['level']} ×{b['rounds']} | {f(b['us'], 1)} | "
                  f"{f(b['p99'], 3)} @{b['probe']} | {f(b['rss'])} |")
    print()
    print(f"| workload | {product} QPS | best other peer | its QPS | ratio | {product} p99 ms | peer p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for w in workloads:
        ours = best.get((w, product))
        others = [(p, b) for (ww, p), b in best.items() if ww == w and p != product and p != "limit"]
        if not ours or not others:
            continue
        p, b = max(others, key=lambda x: x[1]["qps"] or 0)
        ratio = (ours["qps"] or 0) / b["qps"] if b["qps"] else None
        print(f"| {w} | {f(ours['qps'])} | {p} | {f(b['qps'])} | {f(ratio, 2)}× | {f(ours['p99'], 3)} | {f(b['p99'], 3)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
