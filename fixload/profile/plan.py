"""The plan: a profile with its load multiplier applied, and what each scenario will do when.

The multiplier follows the original wrapper to the letter (FLOWS.md): it scales load, never thresholds.
How it scales each scenario, and the duration, iterations and VUs that follow, are each executor's own
(`scaled`, `nominal_duration`, ... in fixload.engine's modules). JavaScript's `Math.round` rounds halves up
(2.25 × 18 = 40.5 → 41), Python's `round` rounds them to even (→ 40); we follow JavaScript (`js_round`),
because the profile was written for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fixload.common.durations import format_duration
from fixload.engine.base import MultiplierError, ScenarioPlan
from fixload.engine.base import js_round as js_round  # the flows' rounding (locustfiles/ads.py imports it here)
from fixload.engine.base import round_rate as round_rate
from fixload.profile.limits import multiplier_bound_error
from fixload.profile.schema import Profile

MULTIPLIER_ENV = "K6_LOAD_MULTIPLIER"


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
            "startGrid": format_duration(self.profile.settings.start_grid),
            "scenarios": {name: s.as_dict() for name, s in self.scenarios.items()},
            "thresholds": self.profile.model_dump(by_alias=True, mode="json")["thresholds"],
        }


def build_plan(profile: Profile, multiplier: float = 1.0, multiplier_source: str = "default", source: str = "") -> Plan:
    scenarios = {}
    for name, scenario in profile.scenarios.items():
        scaled = scenario.scaled(multiplier)
        scenarios[name] = ScenarioPlan(
            name=name,
            flow=profile.flow_of(name),
            executor=scenario.executor,
            scenario=scaled,
            start=scenario.start_time,
            duration=scaled.nominal_duration(),
            start_grid=profile.settings.start_grid,
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
