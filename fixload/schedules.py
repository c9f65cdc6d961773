"""When each iteration of an arrival-rate scenario starts: k6's arithmetic, reproduced exactly.

k6 computes start times in integer nanoseconds from float64 maths (`executor/ramping_arrival_rate.go`,
`cal`; `executor/constant_arrival_rate.go`, the ticker). Python floats are IEEE doubles too, so doing the
same operations in the same order yields the same starts and, above all, the same *count* of
iterations: a plan that says "7320 iterations" means what k6 would have run.

Two details users trip over, both k6's:
- ramping-arrival-rate starts iteration *i* (1-based) when the integral of the rate reaches *i*, so the
  first start is not at 0 s, and the count is the floor of the whole area;
- constant-arrival-rate starts at 0 s and then every `timeUnit / rate`, truncated to whole nanoseconds.

`stride`/`offset` split one schedule among *n* runners without overlap: runner *k* takes the global
iterations k, k+n, k+2n, ... (0-based), so the union over all runners is exactly the schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from fixload.profile import ConstantArrivalRate, RampingArrivalRate

_NS = 1_000_000_000


def _ns(seconds: float) -> int:
    return round(seconds * _NS)


def constant_period_ns(scenario: ConstantArrivalRate) -> int:
    return int(_ns(scenario.time_unit) / scenario.rate)


def constant_arrival_starts(scenario: ConstantArrivalRate, offset: int = 0, stride: int = 1) -> Iterator[float]:
    """Start offsets (s, from the scenario's start) of this runner's share of a constant-arrival-rate."""
    period = constant_period_ns(scenario)
    duration = _ns(scenario.duration)
    index = offset
    while period * index < duration:
        yield period * index / _NS
        index += stride


def ramping_arrival_starts(scenario: RampingArrivalRate, offset: int = 0, stride: int = 1) -> Iterator[float]:
    """Start offsets (s, from the scenario's start) of this runner's share of a ramping-arrival-rate."""
    time_unit = float(_ns(scenario.time_unit))
    rate_from = scenario.start_rate / time_unit
    done_so_far = 0.0
    end_count = 0.0
    stage_start = 0
    i = float(offset + 1)
    for stage in scenario.stages:
        rate_to = stage.target / time_unit
        duration = float(_ns(stage.duration))
        if rate_from != rate_to:
            end_count += duration * ((rate_to - rate_from) / 2 + rate_from)
            while i <= end_count:
                area = rate_from * rate_from * duration + 2 * (i - done_so_far) * (rate_to - rate_from)
                root = math.sqrt(max(0.0, duration * area))
                x = (rate_from * duration - root) / (rate_from - rate_to)
                yield (int(x) + stage_start) / _NS
                i += stride
        else:
            end_count += duration * rate_to
            while i <= end_count:
                yield (int((i - done_so_far) / rate_to) + stage_start) / _NS
                i += stride
        done_so_far = end_count
        rate_from = rate_to
        stage_start += int(duration)


def arrival_starts(
    scenario: ConstantArrivalRate | RampingArrivalRate, offset: int = 0, stride: int = 1
) -> Iterator[float]:
    if isinstance(scenario, ConstantArrivalRate):
        return constant_arrival_starts(scenario, offset, stride)
    return ramping_arrival_starts(scenario, offset, stride)


def arrival_count(scenario: ConstantArrivalRate | RampingArrivalRate) -> int:
    """How many iterations k6 would start over the whole scenario."""
    if isinstance(scenario, ConstantArrivalRate):
        return math.ceil(_ns(scenario.duration) / constant_period_ns(scenario))
    time_unit = float(_ns(scenario.time_unit))
    rate_from = scenario.start_rate / time_unit
    end_count = 0.0
    for stage in scenario.stages:
        rate_to = stage.target / time_unit
        duration = float(_ns(stage.duration))
        end_count += duration * ((rate_to - rate_from) / 2 + rate_from) if rate_from != rate_to else duration * rate_to
        rate_from = rate_to
    return math.floor(end_count)


def arrival_rate_at(scenario: ConstantArrivalRate | RampingArrivalRate, elapsed: float) -> float:
    """The target rate in iterations per second, `elapsed` seconds into the scenario (0 outside it)."""
    if elapsed < 0:
        return 0.0
    if isinstance(scenario, ConstantArrivalRate):
        return scenario.rate / scenario.time_unit if elapsed < scenario.duration else 0.0
    rate_from = scenario.start_rate
    for stage in scenario.stages:
        if elapsed < stage.duration:
            fraction = elapsed / stage.duration if stage.duration else 1.0
            return (rate_from + (stage.target - rate_from) * fraction) / scenario.time_unit
        elapsed -= stage.duration
        rate_from = stage.target
    return 0.0


def peak_rate(scenario: ConstantArrivalRate | RampingArrivalRate) -> float:
    """The highest target rate in iterations per second."""
    if isinstance(scenario, ConstantArrivalRate):
        return scenario.rate / scenario.time_unit
    return max([scenario.start_rate, *(s.target for s in scenario.stages)]) / scenario.time_unit


def ramping_vus_at(start_vus: int, stages: list, elapsed: float) -> int:
    """k6's ramping-vus VU count at `elapsed` (`getRawExecutionSteps`).

    Ramping up from `a` to `b` over `d`, VU number u (a < u <= b) joins at d*(u-a)/(b-a): the count is
    a + floor(x*(b-a)/d). Ramping down, k6 stops a VU "on the next unscaled VU's time": VU u leaves at
    d*(a-u+1)/(a-b), so the count is a - floor(x*(a-b)/d), one more than rounding down the line would
    give; the last VU of a ramp to 0 leaves at the end of the stage, not half a step before it.
    """
    current = int(start_vus)
    for stage in stages:
        target = int(stage.target)
        if elapsed < stage.duration:
            if target >= current:
                return current + math.floor(elapsed * (target - current) / stage.duration)
            return current - math.floor(elapsed * (current - target) / stage.duration)
        elapsed -= stage.duration
        current = target
    return current
