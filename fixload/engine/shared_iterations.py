"""k6's shared-iterations (lib/executor/shared_iterations.go): `vus` VUs share `iterations` iterations,
each VU taking the next one as soon as it is free, within `maxDuration`.

Here: its options and their validation (k6 demands `iterations >= vus`), how the multiplier scales them
(VUs rounded up, at least one, and iterations raised to the VUs when fewer), its duration
(`maxDuration`), its iteration count and VUs, and its runtime on the closed model
(fixload.engine.vu_based): each runner takes the iterations of the VUs Locust gave it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import gevent
from pydantic import Field, model_validator

from fixload.common.clock import PlanClock
from fixload.engine.base import ScenarioConfig, ScenarioPlan, Share, VUSlot
from fixload.engine.fields import IterationCount, LongDuration, VUCount
from fixload.engine.vu import VU
from fixload.engine.vu_based import VUExecutor
from fixload.metrics.registry import Registry


class SharedIterations(ScenarioConfig):
    executor: Literal["shared-iterations"]
    vus: Annotated[VUCount, Field(ge=1)] = 1
    iterations: IterationCount = 1
    max_duration: LongDuration = 600.0

    @model_validator(mode="after")
    def _enough_iterations(self) -> SharedIterations:
        if self.iterations < self.vus:
            raise ValueError(f"iterations ({self.iterations}) must be at least vus ({self.vus}), as k6 requires")
        return self

    def scaled_fields(self, multiplier: float) -> dict[str, Any]:
        vus = max(1, math.ceil(self.vus * multiplier))
        return {"vus": vus, "iterations": max(self.iterations, vus)}  # k6 demands iterations >= vus

    def nominal_duration(self) -> float:
        return self.max_duration

    def expected_iterations(self) -> int:
        return self.iterations

    def vus_needed(self) -> tuple[int, int]:
        return self.vus, self.vus


class SharedIterationsExecutor(VUExecutor):
    def __init__(self, plan: ScenarioPlan, share: Share, registry: Registry | None, clock: PlanClock) -> None:
        super().__init__(plan, share, registry, clock)
        scenario: SharedIterations = plan.scenario
        self.remaining = share.split(scenario.iterations)
        self._taken = 0

    def assign(self, slot: VUSlot) -> None:
        """The iterations of this runner's VUs: i with i mod total in [offset, offset + count), so a runner
        Locust gave no VU of this scenario is not left holding iterations nobody runs."""
        super().assign(slot)
        total = self.plan.scenario.iterations
        mine = (total // slot.total) * slot.count + max(
            0, min(total % slot.total, slot.offset + slot.count) - slot.offset
        )
        self.remaining = max(0, mine - self._taken)

    def may_start(self, vu: VU) -> bool | None:
        now = self.now()
        if now < self.plan.start:
            return None
        if now >= self.plan.end or self.remaining <= 0:
            return False
        self.remaining -= 1
        self._taken += 1
        return True

    def run(self) -> None:
        while self.now() < self.plan.end and (self.remaining > 0 or self.busy()):
            gevent.sleep(0.05)
