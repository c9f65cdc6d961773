"""The plan: a profile with its load multiplier applied, and what each scenario will do when.

The multiplier follows the original wrapper to the letter (FLOWS.md): it scales load, never thresholds.
JavaScript's `Math.round` rounds halves up (2.25 × 18 = 40.5 → 41), Python's `round` rounds them to even
(→ 40); we follow JavaScript, because the profile was written for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fixload.common.durations import format_duration
from fixload.engine.schedules import arrival_count, peak_rate
from fixload.profile.limits import multiplier_bound_error
from fixload.profile.schema import (
    ConstantArrivalRate,
    ConstantVUs,
    PerVUIterations,
    Profile,
    RampingArrivalRate,
    RampingVUs,
    SharedIterations,
    Stage,
)

MULTIPLIER_ENV = "K6_LOAD_MULTIPLIER"


class MultiplierError(ValueError):
    pass


def js_round(value: float) -> int:
    """JavaScript's Math.round: halves go up (2.5 → 3, -2.5 → -2, -0.5 → 0), the one js_round of fixload
    (the multiplier's rounding here, the flows' clicks and conversions in fixload.flows.flow).

    Not `floor(value + 0.5)`: that addition itself rounds, so 0.49999999999999994 would become 1. Beyond
    2**52 every double is whole and comes back unchanged. NaN and ±Infinity have no integer: ValueError.
    """
    if not math.isfinite(value):
        raise ValueError(f"Math.round of {value!r} is not an integer")
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole


def round_rate(value: float) -> float:
    """The original's two-decimal rounding of rates: Math.round(x * 100) / 100."""
    return js_round(value * 100) / 100


def parse_multiplier(raw: str | float, source: str) -> float:
    """A multiplier as given on the command line, in K6_LOAD_MULTIPLIER or in the web UI's form (text or
    number): a positive number of at most fixload.profile.limits.MAX_MULTIPLIER, else MultiplierError (exit 104)."""
    if isinstance(raw, bool):
        raise MultiplierError(f"{source}: expected a positive number, got {raw!r}")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            raise MultiplierError(f"{source}: expected a positive number, got {raw!r}") from None
    else:
        value = float(raw)
    problem = multiplier_bound_error(value)
    if problem:
        raise MultiplierError(f"{source}: {problem}")
    return value


def resolve_multiplier(option: str | float | None, env: Mapping[str, str], profile: Profile) -> tuple[float, str]:
    """`--multiplier` beats K6_LOAD_MULTIPLIER beats settings.defaultMultiplier beats 1."""
    if option is not None and str(option).strip() != "":
        return parse_multiplier(option, "--multiplier"), "--multiplier"
    if env.get(MULTIPLIER_ENV, "").strip():
        return parse_multiplier(env[MULTIPLIER_ENV], MULTIPLIER_ENV), MULTIPLIER_ENV
    if profile.settings.default_multiplier is not None:
        return profile.settings.default_multiplier, "settings.defaultMultiplier"
    return 1.0, "default"


def _scaled_stages(stages: list[Stage], m: float) -> list[Stage]:
    return [s.model_copy(update={"target": js_round(s.target * m)}) for s in stages]


def _scaled_pool(pre: int, most: int | None, m: float) -> dict[str, int]:
    pre_scaled = max(1, math.ceil(pre * m))
    most_scaled = max(pre_scaled, math.ceil((most if most is not None else pre) * m))
    return {"pre_allocated_vus": pre_scaled, "max_vus": most_scaled}


def scale_scenario(scenario: Any, m: float) -> Any:
    """One scenario with the multiplier applied, by the original's rules."""
    if m == 1:
        return scenario
    if isinstance(scenario, ConstantArrivalRate):
        pool = _scaled_pool(scenario.pre_allocated_vus, scenario.max_vus, m)
        update = {"rate": round_rate(scenario.rate * m), **pool}
    elif isinstance(scenario, RampingArrivalRate):
        update = {
            "start_rate": round_rate(scenario.start_rate * m),
            "stages": _scaled_stages(scenario.stages, m),
            **_scaled_pool(scenario.pre_allocated_vus, scenario.max_vus, m),
        }
    elif isinstance(scenario, ConstantVUs):
        update = {"vus": max(1, math.ceil(scenario.vus * m))}
    elif isinstance(scenario, RampingVUs):
        update = {"start_vus": math.ceil(scenario.start_vus * m), "stages": _scaled_stages(scenario.stages, m)}
    elif isinstance(scenario, PerVUIterations):
        update = {"vus": max(1, math.ceil(scenario.vus * m))}
    else:  # shared-iterations: k6 demands iterations >= vus
        vus = max(1, math.ceil(scenario.vus * m))
        update = {"vus": vus, "iterations": max(scenario.iterations, vus)}
    if isinstance(scenario, ConstantArrivalRate) and update["rate"] <= 0:
        raise MultiplierError(f"the multiplier {m} rounds the rate of {scenario.rate} to 0")
    return scenario.model_copy(update=update)


def scenario_duration(scenario: Any) -> float:
    """How long a scenario runs before gracefulStop, as k6 counts it."""
    if isinstance(scenario, ConstantArrivalRate | ConstantVUs):
        return scenario.duration
    if isinstance(scenario, RampingArrivalRate | RampingVUs):
        return sum(s.duration for s in scenario.stages)
    return scenario.max_duration


@dataclass(frozen=True)
class ScenarioPlan:
    name: str
    flow: str
    executor: str
    scenario: Any
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def hard_end(self) -> float:
        """When the last running iteration is interrupted: the end plus gracefulStop.

        Also for ramping-vus: k6 cuts gracefulRampDown off at the end plus gracefulStop (`k6 inspect
        --execution-requirements` gives 25s for 20s of stages, gracefulStop 5s and gracefulRampDown 60s).
        """
        return self.end + self.scenario.graceful_stop

    @property
    def is_arrival_rate(self) -> bool:
        return isinstance(self.scenario, ConstantArrivalRate | RampingArrivalRate)

    @property
    def expected_iterations(self) -> int | None:
        """k6's exact count for arrival-rate executors and the finite ones; None for VU-time executors."""
        if self.is_arrival_rate:
            return arrival_count(self.scenario)
        if isinstance(self.scenario, PerVUIterations):
            return self.scenario.vus * self.scenario.iterations
        if isinstance(self.scenario, SharedIterations):
            return self.scenario.iterations
        return None

    @property
    def peak_rate(self) -> float | None:
        return peak_rate(self.scenario) if self.is_arrival_rate else None

    @property
    def vus(self) -> tuple[int, int]:
        """(VUs ready at start, the most VUs it may use)."""
        s = self.scenario
        if self.is_arrival_rate:
            return s.pre_allocated_vus, s.vus_max
        if isinstance(s, RampingVUs):
            return s.start_vus, max([s.start_vus, *(int(st.target) for st in s.stages)])
        return s.vus, s.vus

    def as_dict(self) -> dict[str, Any]:
        pre, most = self.vus
        return {
            "name": self.name,
            "flow": self.flow,
            "executor": self.executor,
            "options": self.scenario.model_dump(by_alias=True, mode="json"),
            "startTime": format_duration(self.start),
            "duration": format_duration(self.duration),
            "gracefulStop": format_duration(self.scenario.graceful_stop),
            "startSeconds": self.start,
            "endSeconds": self.end,
            "expectedIterations": self.expected_iterations,
            "peakRatePerSecond": self.peak_rate,
            "preAllocatedVUs": pre,
            "maxVUs": most,
        }


@dataclass(frozen=True)
class Plan:
    profile: Profile
    source: str
    multiplier: float
    multiplier_source: str
    scenarios: dict[str, ScenarioPlan] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Until the last scenario's last iteration must have stopped."""
        return max(s.hard_end for s in self.scenarios.values())

    @property
    def nominal_duration(self) -> float:
        return max(s.end for s in self.scenarios.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile.profile,
            "source": self.source,
            "multiplier": self.multiplier,
            "multiplierSource": self.multiplier_source,
            "nominalDuration": format_duration(self.nominal_duration),
            "maxDuration": format_duration(self.duration),
            "scenarios": {name: s.as_dict() for name, s in self.scenarios.items()},
            "thresholds": self.profile.model_dump(by_alias=True, mode="json")["thresholds"],
        }


def build_plan(profile: Profile, multiplier: float = 1.0, multiplier_source: str = "default", source: str = "") -> Plan:
    scenarios = {}
    for name, scenario in profile.scenarios.items():
        scaled = scale_scenario(scenario, multiplier)
        scenarios[name] = ScenarioPlan(
            name=name,
            flow=profile.flow_of(name),
            executor=scenario.executor,
            scenario=scaled,
            start=scenario.start_time,
            duration=scenario_duration(scaled),
        )
    return Plan(profile, source, multiplier, multiplier_source, scenarios)


def format_plan(plan: Plan) -> str:
    """The plan as a table people read before they send load."""
    lines = [
        f"profile   {plan.profile.profile}  ({plan.source})",
        f"multiplier {plan.multiplier:g} (from {plan.multiplier_source})",
        f"duration  {format_duration(plan.nominal_duration)}"
        f" (at most {format_duration(plan.duration)} with gracefulStop)",
        "",
    ]
    header = ("scenario", "flow", "executor", "start", "end", "iterations", "peak/s", "VUs")
    rows = [header]
    for s in plan.scenarios.values():
        pre, most = s.vus
        rows.append(
            (
                s.name,
                s.flow,
                s.executor,
                format_duration(s.start),
                format_duration(s.end),
                "-" if s.expected_iterations is None else str(s.expected_iterations),
                "-" if s.peak_rate is None else f"{s.peak_rate:g}",
                f"{pre}→{most}" if pre != most else str(pre),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append("")
    lines.append("thresholds")
    for selector, expressions in plan.profile.thresholds.items():
        shown = ", ".join(e if isinstance(e, str) else str(e.get("threshold")) for e in expressions)
        lines.append(f"  {selector}: {shown}")
    return "\n".join(lines)
