"""The bounds of the numbers a whole plan, the environment or the command line gives fixload.

Why bounds at all: a number with no upper limit reaches arithmetic that divides by it, multiplies by it
or loops over it. Each bound is far above any load test this harness is for, and low enough that the
arithmetic stays exact and the plan executable. Every check names the field, the value and the bound
(exit 104, nothing sent). A scenario's own fields are bounded by its executor (fixload.engine.fields: a
rate at most 100000/s, at most 100000 VUs and 100000000 iterations, other numbers at most 1e9; any
duration at most 30d, fixload.common.durations); here:

- the whole plan's VUs per process: at most 5000 (`MAX_VUS_PER_PROCESS`): one Locust process holds a few
  thousand users, more spawn for hours; the message names the `--workers` that would do;
- seconds in `settings` at most 30 days, minutes at most a year (`windowDays`: at most 3660);
- the load multiplier (`--multiplier`, `K6_LOAD_MULTIPLIER`, `settings.defaultMultiplier`): above 0 and
  at most 1000. A peak start rate above what one process measured (`MEASURED_STARTS_PER_PROCESS`) is a
  warning naming `--workers`, not an error: the run works, it just drops iterations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from fixload.common.durations import MAX_DURATION_S
from fixload.engine.base import ScenarioPlan, with_multiplier

MAX_VUS_PER_PROCESS = 5_000
MAX_MULTIPLIER = 1000.0
MAX_SETTING_SECONDS = MAX_DURATION_S
MAX_SETTING_MINUTES = 525_600.0
SPAWN_RATE_PER_PROCESS = 100.0
"""Users Locust starts per second per process (Locust warns above 100 per worker): 5000 VUs take 50 s."""
SPAWN_WARNING_S = 10.0
MEASURED_STARTS_PER_PROCESS = 210.0
"""Iterations/s one fixload process starts of the five flows at baseline.json's mix with at most 1 % dropped
and iteration_start_lag p95 at most 5 ms: `python bench/sizing.py` on 2026-12-07 (this project's 2-core VM,
quiet, generator and simulator pinned to a core each): x2.375 of baseline's peak rates = 213.8 arrivals/s
(254.1 iterations/s with analytics_flow's VUs, 1,097 requests/s), rounded down; docs/sizing.md. A
one-request flow does more (GET /ping: 1,000/s in that run), a faster core more again: the warning is advice,
not a bound."""


@dataclass(frozen=True)
class PlanCheck:
    """What the bounds say about a plan: errors stop the run (104), warnings are printed and it goes on."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def multiplier_bound_error(value: float) -> str | None:
    if not math.isfinite(value) or value <= 0:
        return f"expected a positive number, got {value!r}"
    if value > MAX_MULTIPLIER:
        return f"expected a positive number of at most {MAX_MULTIPLIER:g}, got {value!r}"
    return None


class PlanLike(Protocol):
    """What the bounds read of a plan: `fixload.profile.plan.Plan` is one (plan imports limits, so limits names
    only what it reads and imports nothing of plan)."""

    @property
    def multiplier(self) -> float: ...
    @property
    def scenarios(self) -> Mapping[str, ScenarioPlan]: ...


def check_plan(plan: PlanLike, processes: int | None = 1) -> PlanCheck:
    """Bounds that need the whole (multiplied) plan: rates per second, VUs, iterations, per-process ceilings.

    `processes`: the Locust processes that will share the VUs and the starts (1, or the --workers count);
    None when unknown (a worker runs only its share): the per-process ceilings are then not checked.
    """
    errors: list[str] = []
    warnings: list[str] = []
    multiplier = plan.multiplier
    total_vus = 0
    peak = 0.0
    for name, scenario in plan.scenarios.items():
        # each executor's own bounds (rates, iterations, VUs once scaled); the peak counts when none is broken
        errors += scenario.scenario.bound_errors(f"scenarios.{name}", multiplier)
        peak += scenario.peak_rate or 0.0
        total_vus += scenario.vus[1]
    if processes is None:
        return PlanCheck(tuple(errors), tuple(warnings))
    ceiling = MAX_VUS_PER_PROCESS * max(1, processes)
    if total_vus > ceiling and not any("VUs; the bound" in e for e in errors):
        needed = math.ceil(total_vus / MAX_VUS_PER_PROCESS)
        errors.append(
            f"scenarios: {with_multiplier(f'{total_vus} VUs in all', multiplier)}"
            f" over {max(1, processes)} process(es) is more"
            f" than the ceiling of {MAX_VUS_PER_PROCESS} VUs per process; run with --workers {needed} (or more)"
        )
    spawn_s = total_vus / (SPAWN_RATE_PER_PROCESS * max(1, processes))
    if spawn_s > SPAWN_WARNING_S and not errors:
        warnings.append(
            f"Locust takes about {spawn_s:.0f}s to start {total_vus} VUs ({SPAWN_RATE_PER_PROCESS:g} VUs/s per process)"
            "; more --workers start them sooner"
        )
    capacity = MEASURED_STARTS_PER_PROCESS * max(1, processes)
    if peak > capacity and not errors:
        needed = math.ceil(peak / MEASURED_STARTS_PER_PROCESS)
        warnings.append(
            f"peak start rate {peak:.6g} iterations/s over all scenarios is above the {capacity:g}/s measured for"
            f" {max(1, processes)} process(es) (docs/sizing.md): expect late or dropped iterations; run with"
            f" --workers {needed} (or more)"
        )
    return PlanCheck(tuple(errors), tuple(warnings))
