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

import bisect
import math
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import truediv
from typing import Protocol

_NS = 1_000_000_000


class StageLike(Protocol):
    duration: float
    target: float


class ConstantSchedule(Protocol):
    """A constant-arrival-rate's options (fixload.engine.constant_arrival_rate.ConstantArrivalRate)."""

    rate: float
    time_unit: float
    duration: float


class RampingSchedule(Protocol):
    """A ramping-arrival-rate's options (fixload.engine.ramping_arrival_rate.RampingArrivalRate)."""

    start_rate: float
    time_unit: float
    stages: Sequence[StageLike]


def _ns(seconds: float) -> int:
    return round(seconds * _NS)


def constant_period_ns(scenario: ConstantSchedule) -> int:
    return int(_ns(scenario.time_unit) / scenario.rate)


def constant_arrival_starts(
    scenario: ConstantSchedule, offset: int = 0, stride: int = 1, since: float = 0.0
) -> Iterator[float]:
    """Start offsets (s, from the scenario's start) of this runner's share of a constant-arrival-rate, from
    the first start at or after `since` (found directly, not by walking the earlier ones)."""
    period = constant_period_ns(scenario)
    index = aligned(constant_first_index(scenario, since), offset, stride)
    # period * i / 1e9 for i = index, index + stride, ... while period * i < duration: iterated in C
    return map(truediv, range(period * index, _ns(scenario.duration), period * stride), repeat(_NS))


def _ramping_stages(scenario: RampingSchedule) -> list[tuple[float, float, float, float, int]]:
    """Per stage, k6's running values: (rate_from, rate_to, duration ns, done_so_far, stage_start ns), and the
    cumulative count at its end is the next stage's done_so_far (the same float operations as k6's `cal`)."""
    time_unit = float(_ns(scenario.time_unit))
    rate_from = scenario.start_rate / time_unit
    end_count = 0.0
    stage_start = 0
    out = []
    for stage in scenario.stages:
        rate_to = stage.target / time_unit
        duration = float(_ns(stage.duration))
        done_so_far = end_count
        if rate_from != rate_to:
            end_count += duration * ((rate_to - rate_from) / 2 + rate_from)
        else:
            end_count += duration * rate_to
        out.append((rate_from, rate_to, duration, done_so_far, stage_start))
        rate_from = rate_to
        stage_start += int(duration)
    out.append((0.0, 0.0, 0.0, end_count, stage_start))  # a sentinel: the total count
    return out


def _ramping_start(stages: list[tuple[float, float, float, float, int]], i: float) -> float:
    """k6's start (s) of the 1-based iteration `i` of a ramping-arrival-rate; `i` must be <= the total."""
    ends = [stage[3] for stage in stages[1:]]
    k = bisect.bisect_left(ends, i)  # the stage with done_so_far < i <= its end count
    rate_from, rate_to, duration, done_so_far, stage_start = stages[k]
    if rate_from != rate_to:
        area = rate_from * rate_from * duration + 2 * (i - done_so_far) * (rate_to - rate_from)
        root = math.sqrt(max(0.0, duration * area))
        x = (rate_from * duration - root) / (rate_from - rate_to)
        return (int(x) + stage_start) / _NS
    return (int((i - done_so_far) / rate_to) + stage_start) / _NS


def ramping_arrival_starts(
    scenario: RampingSchedule, offset: int = 0, stride: int = 1, since: float = 0.0
) -> Iterator[float]:
    """Start offsets (s, from the scenario's start) of this runner's share of a ramping-arrival-rate, from
    the first start at or after `since`."""
    stages = _ramping_stages(scenario)
    total = stages[-1][3]
    i = float(aligned(ramping_first_index(scenario, since), offset, stride) + 1)
    ends = [stage[3] for stage in stages[1:]]
    k = bisect.bisect_left(ends, i)
    while k < len(stages) - 1 and i <= total:
        rate_from, rate_to, duration, done_so_far, stage_start = stages[k]
        end_count = stages[k + 1][3]
        if rate_from != rate_to:
            while i <= end_count:
                area = rate_from * rate_from * duration + 2 * (i - done_so_far) * (rate_to - rate_from)
                root = math.sqrt(max(0.0, duration * area))
                x = (rate_from * duration - root) / (rate_from - rate_to)
                yield (int(x) + stage_start) / _NS
                i += stride
        else:
            while i <= end_count:
                yield (int((i - done_so_far) / rate_to) + stage_start) / _NS
                i += stride
        k += 1


def aligned(index: int, offset: int, stride: int) -> int:
    """The first index >= `index` that belongs to runner `offset` of `stride` (index ≡ offset mod stride)."""
    return index + (offset - index) % stride


def constant_first_index(scenario: ConstantSchedule, since: float) -> int:
    """The 0-based global index of the first iteration starting at or after `since` (s from the scenario's
    start), or the total count when none does: a closed form (the schedule is monotonic), whatever `since`
    is (a reshare late in a long run used to walk every earlier start)."""
    if since <= 0:
        return 0
    period = constant_period_ns(scenario)
    count = math.ceil(_ns(scenario.duration) / period)
    # the k6 start of index j is period * j ns; compare in the same float seconds the iterator yields
    j = max(0, math.ceil(_ns(since) / period) - 1)
    while j < count and period * j / _NS < since:
        j += 1
    return min(j, count)


def ramping_first_index(scenario: RampingSchedule, since: float) -> int:
    """As `constant_first_index`, for a ramping-arrival-rate: a bisection of the schedule, O(log n)."""
    if since <= 0:
        return 0
    stages = _ramping_stages(scenario)
    total = math.floor(stages[-1][3])
    low, high = 0, total  # answer in [low, high]: the first 0-based j whose start (1-based j + 1) >= since
    while low < high:
        middle = (low + high) // 2
        if _ramping_start(stages, float(middle + 1)) < since:
            low = middle + 1
        else:
            high = middle
    return low


def constant_count(scenario: ConstantSchedule) -> int:
    """How many iterations k6 would start over a whole constant-arrival-rate."""
    return math.ceil(_ns(scenario.duration) / constant_period_ns(scenario))


def ramping_count(scenario: RampingSchedule) -> int:
    """How many iterations k6 would start over a whole ramping-arrival-rate: the floor of the area."""
    time_unit = float(_ns(scenario.time_unit))
    rate_from = scenario.start_rate / time_unit
    end_count = 0.0
    for stage in scenario.stages:
        rate_to = stage.target / time_unit
        duration = float(_ns(stage.duration))
        end_count += duration * ((rate_to - rate_from) / 2 + rate_from) if rate_from != rate_to else duration * rate_to
        rate_from = rate_to
    return math.floor(end_count)


def ramping_rate_at(scenario: RampingSchedule, elapsed: float) -> float:
    """A ramping-arrival-rate's target rate in iterations per second, `elapsed` s into it (0 outside it)."""
    if elapsed < 0:
        return 0.0
    rate_from = scenario.start_rate
    for stage in scenario.stages:
        if elapsed < stage.duration:
            fraction = elapsed / stage.duration if stage.duration else 1.0
            return (rate_from + (stage.target - rate_from) * fraction) / scenario.time_unit
        elapsed -= stage.duration
        rate_from = stage.target
    return 0.0


def ramping_vus_at(start_vus: int, stages: Sequence[StageLike], elapsed: float) -> int:
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
