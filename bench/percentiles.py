"""Percentile accuracy, add/merge cost and memory of fixload's Trend storage, against the alternatives.

Run: ``python bench/percentiles.py [--samples N] [--seed S]``. Everything is measured in this run, on this
machine, against exact percentiles (k6's linear interpolation over the sorted samples):

* fixload.metrics.registry (ddsketch, 0.25 % relative accuracy, exact for small series), through the real Registry:
  4 simulated workers, msgpack snapshots, merged on a master;
* a hand-written log-bucket dict (same math as DDSketch, no library) -- the "write our own" option;
* hdrhistogram (3 significant digits), if installed;
* Locust's own StatsEntry (response times rounded into buckets before any percentile is taken).

It ends with the issue's example: a true p95 of 1,360 ms that Locust reports as 1,400 ms.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import msgpack
from locust.stats import RequestStats, StatsEntry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from fixload.metrics.registry import Registry
from fixload.metrics.sinks import RELATIVE_ACCURACY, TrendSink

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def exact_percentile(ordered: list[float], p: float) -> float:
    i = p / 100 * (len(ordered) - 1)
    lo, hi = math.floor(i), math.ceil(i)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (i - lo)


class LogBuckets:
    """The do-it-yourself candidate: value -> ceil(log_gamma(v)) bucket counts in a dict."""

    __slots__ = ("buckets", "count", "gamma", "inv_log_gamma")

    def __init__(self, alpha: float = RELATIVE_ACCURACY) -> None:
        self.gamma = (1 + alpha) / (1 - alpha)
        self.inv_log_gamma = 1 / math.log(self.gamma)
        self.buckets: dict[int, int] = {}
        self.count = 0

    def add(self, v: float) -> None:
        k = math.ceil(math.log(v) * self.inv_log_gamma)
        b = self.buckets
        b[k] = b.get(k, 0) + 1
        self.count += 1

    def merge(self, other: LogBuckets) -> None:
        for k, c in other.buckets.items():
            self.buckets[k] = self.buckets.get(k, 0) + c
        self.count += other.count

    def percentile(self, p: float) -> float:
        rank = p / 100 * (self.count - 1)
        seen = 0
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if seen > rank:
                return 2 * self.gamma**k / (self.gamma + 1)
        return math.nan


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def errors_line(name: str, get: Callable[[float], float], ordered: list[float]) -> str:
    parts = []
    worst = 0.0
    for p in PERCENTILES:
        exact = exact_percentile(ordered, p)
        err = abs(get(p) - exact) / exact
        worst = max(worst, err)
        parts.append(f"p{p:g}={get(p):9.2f} ({err:6.3%})")
    return f"{name:<24} worst {worst:6.3%}   " + "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20251106)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    n = args.samples
    # heavy-tailed latencies: log-normal body (median ~420 ms) with a Pareto tail on 2 % of requests
    values = [
        rng.lognormvariate(math.log(420.0), 0.6) if rng.random() > 0.02 else 600.0 * rng.paretovariate(1.5)
        for _ in range(n)
    ]
    ordered = sorted(values)
    tags = {"scenario": "booking_flow", "method": "POST", "name": "/bookings", "status": "201"}
    print(
        f"{n:,} samples, seed {args.seed}, {args.workers} workers; exact p95 = {exact_percentile(ordered, 95):.2f} ms"
    )
    print()

    # fixload: Registry on each worker, msgpack delta to the master, merged
    workers = [Registry() for _ in range(args.workers)]

    def fill() -> None:
        for i, v in enumerate(values):
            workers[i % args.workers].add("http_req_duration", v, tags)

    add_s, _ = timed(fill)
    payloads = [msgpack.packb(w.snapshot(reset=True)) for w in workers]
    master = Registry()
    merge_s, _ = timed(lambda: [master.merge(msgpack.unpackb(p)) for p in payloads])
    merged = master.aggregate("http_req_duration", {"scenario": "booking_flow"})
    series_bytes = len(msgpack.packb(master.series("http_req_duration")[0].sink.snapshot()))
    tracemalloc.start()
    sink = TrendSink()
    for v in values[:200_000]:
        sink.add(v)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    # the bare sink, without the registry's tag lookup
    bare = TrendSink()
    bare_s, _ = timed(lambda: [bare.add(v) for v in values])

    # do-it-yourself log buckets
    own_parts = [LogBuckets() for _ in range(args.workers)]

    def fill_own() -> None:
        for i, v in enumerate(values):
            own_parts[i % args.workers].add(v)

    own_s, _ = timed(fill_own)
    own = LogBuckets()
    own_merge_s, _ = timed(lambda: [own.merge(part) for part in own_parts])

    # Locust's StatsEntry: integer ms, rounded into buckets
    stats = RequestStats()
    entry = StatsEntry(stats, "/bookings", "POST")
    locust_s, _ = timed(lambda: [entry.log(round(v), 0) for v in values])

    print(errors_line("fixload (ddsketch)", merged.percentile, ordered))
    print(errors_line("own log-bucket dict", own.percentile, ordered))
    try:
        from hdrh.histogram import HdrHistogram

        hdr = HdrHistogram(1, 3_600_000_000, 3)
        hdr_s, _ = timed(lambda: [hdr.record_value(int(v * 1000)) for v in values])
        print(errors_line("hdrhistogram (3 digits)", lambda p: hdr.get_value_at_percentile(p) / 1000, ordered))
        hdr_line = f"{hdr_s / n * 1e6:.2f} µs/add (µs integers), encoded {len(hdr.encode())} B"
    except ImportError:
        hdr_line = "not installed (pip install hdrhistogram)"
    print(errors_line("Locust StatsEntry", lambda p: float(entry.get_response_time_percentile(p / 100)), ordered))
    print()
    print("cost per sample")
    print(f"  fixload Registry.add (4 tags)  {add_s / n * 1e6:.2f} µs")
    print(f"  fixload TrendSink.add          {bare_s / n * 1e6:.2f} µs")
    print(f"  own log-bucket dict add        {own_s / n * 1e6:.2f} µs")
    print(f"  Locust StatsEntry.log          {locust_s / n * 1e6:.2f} µs")
    print(f"  hdrhistogram                   {hdr_line}")
    print("merge on the master")
    print(f"  fixload: {args.workers} msgpack deltas     {merge_s * 1e3:.1f} ms ({max(map(len, payloads))} B each)")
    print(f"  own dict: {args.workers} in-process merges {own_merge_s * 1e3:.1f} ms")
    print("memory per series")
    print(
        f"  msgpack snapshot of the merged series: {series_bytes} B; "
        f"tracemalloc of a 200k-sample TrendSink: {traced / 1024:.1f} KiB"
    )
    print()

    # the example: a true p95 of 1,360 ms reported as 1,400 ms by Locust
    example = [1000.0 + 400.0 * i / 999 for i in range(1000)]  # spread so that the true p95 ~ 1,380
    example = [v * 1360.0 / exact_percentile(sorted(example), 95) for v in example]
    loc = StatsEntry(RequestStats(), "/bookings", "POST")
    ours = TrendSink()
    for v in example:
        loc.log(round(v), 0)
        ours.add(v)
    true_p95 = exact_percentile(sorted(example), 95)
    print(
        f"issue example: true p95 {true_p95:,.0f} ms -> fixload {ours.percentile(95):,.0f} ms, "
        f"Locust {loc.get_response_time_percentile(0.95):,} ms "
        f"(so 'p(95)<1400' passes here and fails on Locust's number)"
    )


if __name__ == "__main__":
    main()
