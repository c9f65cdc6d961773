"""k6's per-vu-iterations (lib/executor/per_vu_iterations.go): each of `vus` VUs runs `iterations`
iterations, back to back, within `maxDuration`.

Here: its options and their validation, how the multiplier scales them (VUs rounded up, at least one;
iterations per VU unchanged), its duration (`maxDuration`), its iteration count (`vus × iterations`) and
VUs, and its runtime on the closed model (fixload.engine.vu_based).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import gevent
from pydantic import Field

from fixload.engine.base import ScenarioConfig
from fixload.engine.fields import IterationCount, LongDuration, VUCount
from fixload.engine.vu import VU
from fixload.engine.vu_based import VUExecutor


class PerVUIterations(ScenarioConfig):
    executor: Literal["per-vu-iterations"]
    vus: Annotated[VUCount, Field(ge=1)] = 1
    iterations: IterationCount = 1
    max_duration: LongDuration = 600.0

    def scaled_fields(self, multiplier: float) -> dict[str, Any]:
        return {"vus": max(1, math.ceil(self.vus * multiplier))}

    def nominal_duration(self) -> float:
        return self.max_duration

    def expected_iterations(self) -> int:
        return self.vus * self.iterations

    def vus_needed(self) -> tuple[int, int]:
        return self.vus, self.vus


class PerVUIterationsExecutor(VUExecutor):
    def iteration_finished(self, vu: VU, interrupted: bool) -> None:
        vu.iterations += 1  # each VU runs its own count (the other executors do not count per VU)
        super().iteration_finished(vu, interrupted)

    def may_start(self, vu: VU) -> bool | None:
        scenario: PerVUIterations = self.plan.scenario
        now = self.now()
        if now < self.plan.start:
            return None
        return now < self.plan.end and vu.iterations < scenario.iterations

    def run(self) -> None:
        scenario: PerVUIterations = self.plan.scenario
        while self.now() < self.plan.end:
            # a VU whose user Locust moved to another worker runs no more here: it is not waited for
            if self.vus and all(vu.left or vu.iterations >= scenario.iterations for vu in self.vus):
                return
            gevent.sleep(0.05)
