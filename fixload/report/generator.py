"""Whether the generator kept its own schedule: a run's `generator` block and the warning beside its verdict.

A threshold on durations judges what the generator measured. A generator that fell behind (its iterations
started late, or Locust saw one of its processes at the CPU ceiling) measured its own delay as well as the
target's: on a busy machine a red run may be the generator's, not the target's. k6 says nothing of it;
fixload says it beside the verdict, which stays k6's, so nobody lays it at the target's door unread.
`fixload capacity` takes its default bounds (`--max-start-lag`, `--cpu-ceiling`) from these constants, and
allows each step's start grid on top of its lag bound as the run does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fixload.metrics.registry import Registry

START_LAG_BOUND_MS = 100.0
"""Iteration start lag p95 above this (plus the plan's start grid, which delays starts on purpose): the
generator fell behind its schedule. A generator keeping up stays within a few ms (docs/sizing.md)."""
CPU_BOUND_PERCENT = 90.0
"""Locust's own ceiling (`locust.runners.CPU_WARNING_THRESHOLD`): a process above it warns and is saturated."""


def generator_block(registry: Registry, cpu_warning: bool, start_grid_ms: float = 0.0) -> dict[str, Any]:
    """The summary's `generator`: start lag p95 and max, the bound they were judged by (with the start grid it
    allows for), Locust's CPU warning, and `fellBehind` when either says the generator did not keep up."""
    bound = START_LAG_BOUND_MS + start_grid_ms
    p95 = peak = None
    if registry.has_samples("iteration_start_lag"):
        lag = registry.aggregate("iteration_start_lag")
        p95, peak = lag.compute("p(95)"), lag.compute("max")
    late = p95 is not None and p95 > bound
    return {
        "startLagP95Ms": p95,
        "startLagMaxMs": peak,
        "startLagBoundMs": bound,
        "startGridMs": start_grid_ms,
        "cpuWarning": cpu_warning,
        "fellBehind": late or cpu_warning,
    }


def generator_warning(block: Mapping[str, Any] | None) -> str | None:
    """The console's line when the generator fell behind: what showed it, and what it means for the verdict."""
    if not block or not block.get("fellBehind"):
        return None
    signs = []
    p95, bound = block.get("startLagP95Ms"), block.get("startLagBoundMs")
    if p95 is not None and bound is not None and p95 > bound:
        signs.append(f"iteration start lag p95 {p95:,.0f}ms (bound {bound:g}ms)")
    if block.get("cpuWarning"):
        signs.append(f"a Locust process above {CPU_BOUND_PERCENT:g} % CPU")
    return (
        f"WARN the generator fell behind its schedule: {', '.join(signs)}. Its timings include its own delay,"
        " so a crossed threshold may be the generator's, not the target's: give it more processes"
        " (--workers, docs/sizing.md) or a quieter machine, and run again"
    )


__all__ = ["CPU_BOUND_PERCENT", "START_LAG_BOUND_MS", "generator_block", "generator_warning"]
