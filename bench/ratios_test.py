#!/usr/bin/env python3
"""Tests of ratios.py: which peer each goal line is measured against, and
the figures it takes (python3 bench/ratios_test.py; run by `make test`)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ratios  # noqa: E402


def row(w, peer, level, qps, us, p99="-", rnd="1"):
    return {"round": rnd, "workload": w, "peer": peer, "level": level, "qps": str(qps),
            "us_per_q": str(us), "p99_ms": str(p99), "rss_mib": "10", "rcodes": "NOERROR:100.00%", "status": "ok"}


def cells(rows):
    out = {}
    for r in rows:
        out.setdefault((r["workload"], r["peer"], r["level"]), []).append(r)
    return out


class GoalsTest(unittest.TestCase):
    def goals(self, rows, validating):
        got = {}
        for line in ratios.goals(ratios.figures(cells(rows)), validating, "resolverd"):
            got[line[0]] = (line[2], line[6])  # row -> (peer, met)
        return got

    def test_peers_compared(self):
        cases = [
            {
                "name": "a validating node meets only validating peers in W2, however cheap the others are",
                "validating": {"resolverd", "unbound-validating"},
                "rows": [row("W2", "resolverd", "10:100", 200000, 4.0), row("W2", "unbound", "10:100", 250000, 3.0),
                         row("W2", "unbound-validating", "10:100", 240000, 5.0)],
                "want": {"W2 (validating) CPU µs/q at saturation": ("unbound-validating", True)},
            },
            {
                "name": "unsigned: every peer counts, the cheapest wins",
                "validating": set(),
                "rows": [row("W2", "resolverd", "10:100", 200000, 4.0), row("W2", "unbound", "10:100", 250000, 3.0),
                         row("W2", "pdns", "10:100", 240000, 5.0)],
                "want": {"W2 CPU µs/q at saturation": ("unbound", False)},
            },
            {
                "name": "W1 never validates, and the Go ceiling is no peer",
                "validating": {"resolverd"},
                "rows": [row("W1", "resolverd", "10:100", 300000, 2.5), row("W1", "nsd", "10:100", 290000, 3.0),
                         row("W1", "limit", "10:100", 150000, 1.0)],
                "want": {"W1 CPU µs/q at saturation": ("nsd", True)},
            },
            {
                "name": "fixed rate: ours over theirs at most 1.2; W3 p99 against Unbound only",
                "validating": set(),
                "rows": [row("W3", "resolverd", "p2000", 2000, 90.0, p99=0.5), row("W3", "unbound", "p2000", 2000, 80.0, p99=0.4),
                         row("W3", "kresd", "p2000", 2000, 120.0, p99=0.3)],
                "want": {"W3 CPU µs/q at 2,000 qps": ("unbound", True), "W3 p99 ms at 2,000 qps": ("unbound", False)},
            },
        ]
        for c in cases:
            with self.subTest(c["name"]):
                self.assertEqual(self.goals(c["rows"], c["validating"]), c["want"])

    def test_saturation_is_the_busier_level_median_over_rounds(self):
        rows = [row("W3", "resolverd", "10:100", 20000, 50.0, rnd="1"), row("W3", "resolverd", "10:100", 22000, 40.0, rnd="2"),
                row("W3", "resolverd", "50:500", 30000, 30.0, rnd="1"), row("W3", "resolverd", "50:500", 32000, 34.0, rnd="2"),
                row("W3", "resolverd", "1:1", 90000, 1.0)]
        fig = ratios.figures(cells(rows))[("W3", "resolverd")]
        self.assertEqual((fig["level"], fig["qps"], fig["us"], fig["n"]), ("50:500", 31000, 32.0, 2))


if __name__ == "__main__":
    unittest.main()
