"""k6's constant-arrival-rate (lib/executor/constant_arrival_rate.go): `rate` iterations per `timeUnit`
for `duration`, whatever the response times, on a pool of `preAllocatedVUs` that may grow to `maxVUs`; a
start no VU can take is dropped and counted.

Here: its options and their validation, how the multiplier scales them (the rate to two decimals, the
pool rounded up), its duration, k6's exact schedule (the first start at 0 s, then every `timeUnit /
rate` truncated to whole nanoseconds: fixload.engine.schedules) and so its iteration count, its peak
rate, and its runtime: the open model it shares with ramping-arrival-rate (fixload.engine.arrival_rate).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field

from fixload.engine.arrival_rate import ArrivalRateConfig, ArrivalRateExecutor
from fixload.engine.base import MultiplierError, round_rate
from fixload.engine.fields import MAX_NUMBER, LongDuration
from fixload.engine.schedules import constant_arrival_starts, constant_count, constant_first_index


class ConstantArrivalRate(ArrivalRateConfig):
    executor: Literal["constant-arrival-rate"]
    rate: Annotated[float, Field(gt=0, le=MAX_NUMBER)]
    duration: LongDuration

    def scaled_fields(self, multiplier: float) -> dict[str, Any]:
        update = {"rate": round_rate(self.rate * multiplier), **self.scaled_pool(multiplier)}
        if update["rate"] <= 0:
            raise MultiplierError(f"the multiplier {multiplier} rounds the rate of {self.rate} to 0")
        return update

    def nominal_duration(self) -> float:
        return self.duration

    def expected_iterations(self) -> int:
        return constant_count(self)

    def peak_rate(self) -> float:
        return self.rate / self.time_unit

    def rates(self) -> dict[str, float]:
        return {"rate": self.rate}

    def starts(self, offset: int = 0, stride: int = 1, since: float = 0.0) -> Iterator[float]:
        return constant_arrival_starts(self, offset, stride, since)

    def first_index_at_or_after(self, since: float) -> int:
        return constant_first_index(self, since)

    def rate_at(self, elapsed: float) -> float:
        if elapsed < 0:
            return 0.0
        return self.rate / self.time_unit if elapsed < self.duration else 0.0


class ConstantArrivalRateExecutor(ArrivalRateExecutor):
    """Runs this schedule on the open model of fixload.engine.arrival_rate: the starts come from
    `ConstantArrivalRate.starts`; claiming, allocating and dropping are common to both arrival rates."""
