#!/usr/bin/env python3
"""The product against the best peer, per workload, from run-peers.sh results.

Reads one or more results.tsv files of ../shared/bench/run-peers.sh (and the
env.txt beside each, for its "validating:" line: which peers validated DNSSEC
in W2 and W3) and prints Markdown:

1. per workload and peer: the saturation level with the most QPS (of
   c10q100 and c50q500, each the median over rounds), the CPU µs per answered
   query there, the CPU µs per query and p99 at the fixed-rate probe
   (-Q: W1/W2 10k qps, W3 2k), RSS;
2. the goals of issue 21, one line each, against the best comparable peer
   (the lowest CPU per query; in W2 and W3 a validating product is compared
   with validating peers only; the Go ceiling `limit` is never a peer):
   - CPU µs/query at saturation: the peer's / ours, goal >= 1.2;
   - CPU µs/query at the fixed rate: ours / the peer's, goal <= 1.2;
   - W3 p99 at the fixed rate: ours <= Unbound's.
Every figure is a median over the rounds (n = how many).

Usage: ratios.py [--product resolverd] results.tsv [...]
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

SAT_GOAL = 1.2    # peer's CPU/query over ours at saturation: at least
FIXED_GOAL = 1.2  # ours over the best peer's at a fixed rate: at most
NOT_PEERS = {"limit"}


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def median(rows, col):
    v = [x for x in (num(r.get(col)) for r in rows) if x is not None]
    return statistics.median(v) if v else None


def spread(rows, col):
    v = [x for x in (num(r.get(col)) for r in rows) if x is not None]
    return (min(v), max(v)) if v else (None, None)


def f(x, d=0):
    return "-" if x is None else f"{x:,.{d}f}"


def validating_peers(tsv):
    """Peers named on the "validating:" line of the env.txt beside tsv."""
    env = os.path.join(os.path.dirname(tsv) or ".", "env.txt")
    try:
        with open(env) as fh:
            for line in fh:
                if line.startswith("validating:"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def load(paths):
    cells = defaultdict(list)  # (workload, peer, level) -> rows
    validating = set()
    for path in paths:
        validating |= validating_peers(path)
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if row.get("status", "ok") != "ok":
                    continue
                cells[(row["workload"], row["peer"], row["level"])].append(row)
    return cells, validating


def figures(cells):
    """(workload, peer) -> the figures of its best saturation level and probe."""
    out = {}
    for (w, peer) in sorted({(w, p) for w, p, _ in cells}):
        levels = [l for (ww, p, l) in cells if ww == w and p == peer]
        sat = [(median(cells[(w, peer, l)], "qps") or 0, l) for l in levels if l not in ("1:1",) and not l.startswith("p")]
        probe = next((l for l in levels if l.startswith("p")), None)
        fig = {"qps": None, "level": None, "n": 0, "us": None, "us_spread": (None, None),
               "qps_spread": (None, None), "rss": None, "rcodes": "-",
               "probe": probe[1:] if probe else None, "probe_us": None, "probe_us_spread": (None, None),
               "probe_p99": None, "probe_qps": None, "probe_n": 0}
        if sat:
            qps, lvl = max(sat)
            rows = cells[(w, peer, lvl)]
            fig.update(qps=qps, level=lvl, n=len(rows), us=median(rows, "us_per_q"),
                       us_spread=spread(rows, "us_per_q"), qps_spread=spread(rows, "qps"),
                       rss=median(rows, "rss_mib"), rcodes=rows[0].get("rcodes", "-"))
        if probe:
            rows = cells[(w, peer, probe)]
            fig.update(probe_us=median(rows, "us_per_q"), probe_us_spread=spread(rows, "us_per_q"),
                       probe_p99=median(rows, "p99_ms"), probe_qps=median(rows, "qps"), probe_n=len(rows))
        out[(w, peer)] = fig
    return out


def with_spread(m, s, d=1):
    lo, hi = s
    if m is None:
        return "-"
    if lo is None or lo == hi:
        return f(m, d)
    return f"{f(m, d)} [{f(lo, d)}–{f(hi, d)}]"


def validates(validating, w, peer):
    """Whether peer validated DNSSEC in workload w (W1 never touches the internet)."""
    return w != "W1" and peer in validating


def goals(figs, validating, product):
    """Issue 21's goal lines: (row, ours, peer, theirs, ratio text, goal text, met)."""
    workloads = sorted({w for w, _ in figs})
    out = []
    for w in workloads:
        ours = figs.get((w, product))
        if not ours:
            continue
        peers = [(p, b) for (ww, p), b in figs.items()
                 if ww == w and p != product and p not in NOT_PEERS and validates(validating, w, p) == validates(validating, w, product)]
        mode = " (validating)" if validates(validating, w, product) else ""
        sat = [(p, b) for p, b in peers if b["us"]]
        if ours["us"] and sat:
            p, b = min(sat, key=lambda x: x[1]["us"])
            r = b["us"] / ours["us"]
            out.append((f"{w}{mode} CPU µs/q at saturation", f"{f(ours['us'], 1)} ({f(ours['qps'])} qps)",
                       p, f"{f(b['us'], 1)} ({f(b['qps'])} qps)", f"theirs/ours {r:.2f}", f"≥ {SAT_GOAL}×", r >= SAT_GOAL))
        fixed = [(p, b) for p, b in peers if b["probe_us"] and b["probe"] == ours["probe"]]
        if ours["probe_us"] and fixed:
            p, b = min(fixed, key=lambda x: x[1]["probe_us"])
            r = ours["probe_us"] / b["probe_us"]
            out.append((f"{w}{mode} CPU µs/q at {f(num(ours['probe']))} qps", f(ours["probe_us"], 1),
                       p, f(b["probe_us"], 1), f"ours/theirs {r:.2f}", f"≤ {FIXED_GOAL}×", r <= FIXED_GOAL))
        if w == "W3":
            ub = [(p, b) for p, b in peers if p.startswith("unbound") and b["probe_p99"] is not None]
            if ours["probe_p99"] is not None and ub:
                p, b = min(ub, key=lambda x: x[1]["probe_p99"])
                r = ours["probe_p99"] / b["probe_p99"] if b["probe_p99"] else None
                out.append((f"{w}{mode} p99 ms at {f(num(ours['probe']))} qps", f(ours["probe_p99"], 3),
                           p, f(b["probe_p99"], 3), f"ours/theirs {f(r, 2)}", "≤ 1×", r is not None and r <= 1))
    return out


def main(argv):
    product = "resolverd"
    if len(argv) > 1 and argv[0] == "--product":
        product, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cells, validating = load(argv)
    figs = figures(cells)
    workloads = sorted({w for w, _ in figs})

    print("| workload | peer | saturation QPS, median [min–max] (level, rounds) | CPU µs/q at saturation | "
          "CPU µs/q at the fixed rate | p99 ms at the fixed rate | RSS MiB | rcodes |")
    print("|---|---|---|---|---|---|---|---|")
    for w in workloads:
        rows = sorted(((p, b) for (ww, p), b in figs.items() if ww == w), key=lambda x: (x[1]["us"] or 1e9))
        for p, b in rows:
            name = f"**{p}**" if p == product else p
            if validates(validating, w, p):
                name += " (validating)"
            rate = ""
            if b["probe"]:
                rate = f" @{b['probe']}"
                if b["probe_qps"] is not None and b["probe_qps"] < 0.95 * float(b["probe"]):
                    rate += f" (only {f(b['probe_qps'])} qps)"
            lvl = "c" + b["level"].replace(":", "q") if b["level"] else "-"
            print(f"| {w} | {name} | {with_spread(b['qps'], b['qps_spread'], 0)} ({lvl}, ×{b['n']}) | "
                  f"{with_spread(b['us'], b['us_spread'])} | {with_spread(b['probe_us'], b['probe_us_spread'])}{rate} | "
                  f"{f(b['probe_p99'], 3)} | {f(b['rss'])} | {b['rcodes']} |")
    print()

    rows = goals(figs, validating, product)
    if rows:
        print(f"| goal (issue 21) | {product} | best comparable peer | its figure | ratio | goal | met |")
        print("|---|---|---|---|---|---|---|")
        for row, ours, p, theirs, ratio, goal, met in rows:
            print(f"| {row} | {ours} | {p} | {theirs} | {ratio} | {goal} | {'yes' if met else '**no**'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
