"""k6's ramping-arrival-rate (lib/executor/ramping_arrival_rate.go): from `startRate`, the rate per
`timeUnit` moves linearly to each stage's `target` over its `duration`, whatever the response times, on
a pool of `preAllocatedVUs` that may grow to `maxVUs`; a start no VU can take is dropped and counted.

Here: its options and their validation, how the multiplier scales them (`startRate` to two decimals,
stage targets as JavaScript rounds, the pool rounded up), its duration (the stages'), k6's exact schedule
(iteration *i* starts when the integral of the rate reaches *i*, so the first start is not at 0 s and the
count is the floor of the whole area: fixload.engine.schedules), its peak rate, and its runtime: the open
model it shares with constant-arrival-rate (fixload.engine.arrival_rate).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field

from fixload.engine.arrival_rate import ArrivalRateConfig, ArrivalRateExecutor
from fixload.engine.base import round_rate, scaled_stages
from fixload.engine.fields import Number, Stage
from fixload.engine.schedules import ramping_arrival_starts, ramping_count, ramping_first_index, ramping_rate_at


class RampingArrivalRate(ArrivalRateConfig):
    executor: Literal["ramping-arrival-rate"]
    start_rate: Number = 0.0
    stages: Annotated[list[Stage], Field(min_length=1)]

    def scaled_fields(self, multiplier: float) -> dict[str, Any]:
        return {
            "start_rate": round_rate(self.start_rate * multiplier),
            "stages": scaled_stages(self.stages, multiplier),
            **self.scaled_pool(multiplier),
        }

    def nominal_duration(self) -> float:
        return sum(s.duration for s in self.stages)

    def expected_iterations(self) -> int:
        return ramping_count(self)

    def peak_rate(self) -> float:
        return max([self.start_rate, *(s.target for s in self.stages)]) / self.time_unit

    def rates(self) -> dict[str, float]:
        rates = {"startRate": self.start_rate}
        for i, stage in enumerate(self.stages):
            rates[f"stages[{i}].target"] = stage.target
        return rates

    def starts(self, offset: int = 0, stride: int = 1, since: float = 0.0) -> Iterator[float]:
        return ramping_arrival_starts(self, offset, stride, since)

    def first_index_at_or_after(self, since: float) -> int:
        return ramping_first_index(self, since)

    def rate_at(self, elapsed: float) -> float:
        return ramping_rate_at(self, elapsed)


class RampingArrivalRateExecutor(ArrivalRateExecutor):
    """Runs this schedule on the open model of fixload.engine.arrival_rate: the starts come from
    `RampingArrivalRate.starts`; claiming, allocating and dropping are common to both arrival rates."""
