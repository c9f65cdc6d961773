"""What a wake-up costs on this machine: the same Python work done in bursts of different sizes, one burst per
gevent sleep, in one process pinned to the generator's core.

An open-model generator spreads its starts evenly and wakes for each cell of its start grid
(`settings.startGrid`); Locust's paced loop lets its users drift into a few bursts a second. Where an idle
core loses its caches (a VM whose vCPU halts, a host that runs other guests on it) the work just after each
wake-up runs slower, and spread-out work pays that more often. This bench prices it: each row does `--units`
units of work (a small dict built and measured, a few µs each) in bursts of `size` every `period`, and
reports the CPU per unit and, against the largest bursts (the cheapest, the baseline of the same run), what
each wake-up added. Rounds are interleaved; medians are reported.

    python bench/wakeups.py [--rounds 3] [--seconds 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gevent
from _common import GENERATOR_CPU, finish

BURSTS = ((0.0008, 1), (0.005, 6), (0.02, 24), (0.04, 48))
"""(period s, units per burst): the same 1,200 units/s as one per start at 1,200 starts/s, a 5-ms and a 20-ms
start grid's cells, and bursts the size of a paced loop's at that rate (bench/cost.py's wake-ups per request)."""


def unit() -> int:
    """A few µs of the kind of work a request does in Python: small objects made, hashed, dropped."""
    d = {}
    for i in range(40):
        d[i] = str(i) * 3
    return len(d)


def burst_cost(period: float, size: int, seconds: float) -> dict[str, float]:
    """CPU µs per unit and wake-ups per second doing `size` units every `period` s for `seconds` s."""
    before, start, done = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), 0
    due = start
    while time.monotonic() - start < seconds:
        for _ in range(size):
            unit()
        done += size
        due += period
        gevent.sleep(max(0.0, due - time.monotonic()))
    after, took = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - start
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"us_per_unit": 1e6 * cpu / done, "wakeups_per_s": (after.ru_nvcsw - before.ru_nvcsw) / took}


def bench(rounds: int, seconds: float) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {GENERATOR_CPU})
    runs: dict[str, list[dict[str, float]]] = {f"{size}/{period * 1000:g}ms": [] for period, size in BURSTS}
    for _ in range(rounds):
        for (period, size), name in zip(BURSTS, runs, strict=True):
            runs[name].append(burst_cost(period, size, seconds))
    rows = []
    base = statistics.median(r["us_per_unit"] for r in runs[list(runs)[-1]])
    for (period, size), measured in zip(BURSTS, runs.values(), strict=True):
        us = statistics.median(r["us_per_unit"] for r in measured)
        rows.append(
            {
                "burst": size,
                "period_ms": period * 1000,
                "us_per_unit": round(us, 1),
                "over_largest": round(us / base, 3),
                "us_per_wakeup": round((us - base) * size, 1),  # what each burst's wake-up added to its units
                "wakeups_per_s": round(statistics.median(r["wakeups_per_s"] for r in measured)),
            }
        )
    return {"rounds": rounds, "seconds": seconds, "cpu": GENERATOR_CPU, "rows": rows}


def report(r: dict[str, Any]) -> str:
    lines = [f"the same work in bursts, one per wake-up, on CPU {r['cpu']}; {r['rounds']} rounds x {r['seconds']:g} s:"]
    for row in r["rows"]:
        lines.append(
            f"  {row['burst']:>3} units every {row['period_ms']:>4g} ms: {row['us_per_unit']:6.1f} µs/unit "
            f"({row['over_largest']:.2f}x the largest bursts; each wake-up added {row['us_per_wakeup']:.0f} µs; "
            f"{row['wakeups_per_s']} wake-ups/s)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per burst size per round")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds above 0")
    return finish(bench(args.rounds, args.seconds), report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
