"""What every executor's options are made of: k6's camelCase names, durations, counts and their bounds.

A profile written for k6 must load unchanged and a mistake in one must be caught before any traffic, with
a message naming the field: so the models are strict (unknown keys are errors) and keep k6's spelling.
Each number has an upper bound far above any load test this harness is for and low enough that the
arithmetic dividing, multiplying or looping over it stays exact and executable (`timeUnit: "1ns"` made a
period of 0 ns, `maxVUs: 10000000` asked Locust for ten million users). The whole-plan bounds (VUs per
process, the multiplier) are fixload.profile.limits'.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from fixload.common.durations import DurationError, duration_bound_error, parse_duration

MAX_RATE_PER_SECOND = 100_000.0
"""An arrival-rate scenario's rate (`rate`, `startRate`, each `stages[].target`, per `timeUnit`): at most
100000 iterations/s, 13x the measured one-process engine (bench/RESULTS.md), so the schedule's period
stays at least 10 µs (`timeUnit: "1ns"` made it 0)."""
MAX_VUS = 100_000
"""A scenario's VUs (`vus`, `startVUs`, `preAllocatedVUs`, `maxVUs`, a ramping-vus `stages[].target`)."""
MAX_ITERATIONS = 100_000_000
"""`iterations` (per-vu-iterations: `vus × iterations`) and the iterations a scenario schedules: a day at 1000/s."""
MAX_NUMBER = 1e9
"""Any other number of a profile as written (`rate`, `startRate`, a stage's `target`, the booking amounts)."""
START_GRID_S = 0.005
"""`settings.startGrid`'s default: how late an arrival-rate start may begin so that it shares its process's
wake-up with the other starts due in the same cell of plan time (fixload.engine.arrival_rate, `_Source`).
5 ms keeps `iteration_start_lag` p95 near 5 ms at high rates; docs/sizing.md has what a wider grid saves."""
MAX_START_GRID_S = 0.1
"""`settings.startGrid` at most 100 ms: beyond that the schedule's rate holds only over whole seconds."""


def k6_name(field: str) -> str:
    """k6's spelling: camelCase with "VUs" capitalised (`preAllocatedVUs`, `maxVUs`, `startVUs`)."""
    return to_camel(field).replace("Vus", "VUs")


class K6Model(BaseModel):
    """A strict, frozen model whose fields read and write k6's names."""

    model_config = ConfigDict(
        alias_generator=k6_name,
        populate_by_name=False,
        extra="forbid",
        frozen=True,
        # Strict: a boolean or a numeric string is not a number (k6 rejects `"vus": true` too).
        strict=True,
    )


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


def _bounded(value: float) -> float:
    problem = duration_bound_error(value)
    if problem:
        raise ValueError(problem)
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _at_least_one_second(value: float) -> float:
    if value < 1:
        raise ValueError("must be at least 1s, as k6 requires")
    return value


def _start_grid_bound(value: float) -> float:
    if value > MAX_START_GRID_S:
        raise ValueError(f"must be at most {MAX_START_GRID_S * 1000:g}ms (0 starts each iteration at its own time)")
    return value


def _whole_number(value: object) -> object:
    """JSON has one number type: k6 (through JavaScript) reads `10.0` as 10, and rejects 10.5 and booleans."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _k6_string(seconds: float) -> str:
    """Seconds back to a k6 duration string: a bare number would be read back as milliseconds."""
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


# Durations are kept in seconds; in JSON they are k6 strings again, so a dumped profile loads back unchanged.
_AS_K6 = PlainSerializer(_k6_string, return_type=str, when_used="json")
# Every duration is bounded (fixload.common.durations: at most 30d).
_MAX = AfterValidator(_bounded)
Duration = Annotated[float, BeforeValidator(_duration), AfterValidator(_not_negative), _MAX, _AS_K6]
PositiveDuration = Annotated[float, BeforeValidator(_duration), AfterValidator(_positive), _MAX, _AS_K6]
# k6 refuses a `duration` or `maxDuration` under one second ("the duration must be at least 1s").
LongDuration = Annotated[float, BeforeValidator(_duration), AfterValidator(_at_least_one_second), _MAX, _AS_K6]
StartGrid = Annotated[
    float, BeforeValidator(_duration), AfterValidator(_not_negative), AfterValidator(_start_grid_bound), _AS_K6
]
Count = Annotated[int, BeforeValidator(_whole_number)]
VUCount = Annotated[Count, Field(le=MAX_VUS)]
IterationCount = Annotated[Count, Field(ge=1, le=MAX_ITERATIONS)]
Number = Annotated[float, Field(ge=0, le=MAX_NUMBER)]


class Stage(K6Model):
    duration: Duration
    target: Number
