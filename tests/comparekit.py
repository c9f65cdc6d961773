"""Synthetic runs for the `fixload compare` statistics tests (issue 27): summaries as a run writes them.

`write_run` draws every request's latency (log-normal around each flow's median, times its `slow` factor),
records it in a Registry as the flows do and in per-2-s windows as `fixload.runtime.live` samples them, then
writes the summary with `build_summary`, its `timeSeries` (`fixload.report.timeseries.encode`) and an
experiment identity. `shift` multiplies a whole run (the run-to-run drift a shared machine adds).
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fixload.metrics.registry import Registry
from fixload.metrics.thresholds import ThresholdSet
from fixload.report.summary import RunInfo, ScenarioCounts, build_summary, write_summary
from fixload.report.timeseries import encode

STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FLOWS = {"booking_flow": (100.0, 8), "payments_flow": (400.0, 5)}
"""flow -> (median request latency ms, iterations per second); booking sends 3 requests an iteration."""
REQUESTS = {"booking_flow": 3, "payments_flow": 1}
IDENTITY = {
    "profile": "synthetic",
    "profileHash": "sha256:0000000000000001",
    "profileSpecHash": "sha256:00000000000000aa",
    "multiplier": 1,
    "target": "http://127.0.0.1:4000",
    "workers": 0,
    "fixloadVersion": "0.1.0",
    "locustfilesHash": "sha256:00000000000000bb",
}


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def write_run(
    directory: Path,
    name: str,
    *,
    seed: int,
    slow: dict[str, float] | None = None,
    shift: float = 1.0,
    windows: int = 15,
    fails: dict[str, float] | None = None,
    started: datetime = STARTED,
    identity: dict[str, Any] | None = None,
    sigma: float = 0.45,
) -> Path:
    """One run of the two flows for `windows` x 2 s; returns the summary's path."""
    rng = random.Random(seed)
    registry = Registry()
    for flow in FLOWS:
        registry.define(f"{flow}_success_rate", "rate")
    points: list[dict[str, Any]] = []
    totals = {flow: {"completed": 0, "failed": 0} for flow in FLOWS}
    for k in range(1, windows + 1):
        point: dict[str, Any] = {"t": 2.0 * k, "scenarios": {}}
        for flow, (median, rate) in FLOWS.items():
            factor = (slow or {}).get(flow, 1.0) * shift
            latencies = []
            for _ in range(rate * 2):
                ok = rng.random() >= (fails or {}).get(flow, 0.0)
                for _ in range(REQUESTS[flow]):
                    value = median * factor * rng.lognormvariate(0.0, sigma)
                    latencies.append(value)
                    tags = {"scenario": flow, "method": "GET", "status": "200", "expected_response": "true"}
                    registry.add("http_req_duration", value, tags)
                    registry.add("http_reqs", 1, tags)
                    registry.add("http_req_failed", False, tags)
                registry.add("iterations", 1, {"scenario": flow})
                registry.add(f"{flow}_success_rate", ok, {"scenario": flow})
                totals[flow]["completed"] += 1
                totals[flow]["failed"] += not ok
            q50, q95, q99 = _quantiles(latencies)
            point["scenarios"][flow] = {
                "target": float(rate),
                "achieved": float(rate),
                "p95": q95,
                "dropped": 0,
                "started": totals[flow]["completed"],
                "completed": totals[flow]["completed"],
                "failed": totals[flow]["failed"],
                "requests": len(latencies),
                "q50": q50,
                "q95": q95,
                "q99": q99,
            }
        points.append(point)
    seconds = 2.0 * windows
    info = RunInfo(
        "synthetic",
        float((identity or IDENTITY)["multiplier"]),
        started,
        started + timedelta(seconds=seconds),
        "passed",
    )
    counts = [
        ScenarioCounts(
            flow, "constant-arrival-rate", flow, t["completed"], t["completed"], 0, t["completed"], 0, seconds
        )
        for flow, t in totals.items()
    ]
    extra = {"timeSeries": encode(points, 2.0), "experiment": dict(identity or IDENTITY)}
    summary = build_summary(registry, ThresholdSet.parse({}), info, counts, extra=extra)
    return write_summary(directory / name, summary)
