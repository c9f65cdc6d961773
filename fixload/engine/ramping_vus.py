"""k6's ramping-vus (lib/executor/ramping_vus.go): from `startVUs`, the number of looping VUs moves to each
stage's `target` over its `duration`; a VU ramped away mid-iteration gets `gracefulRampDown` to finish.

Here: its options and their validation, how the multiplier scales them (`startVUs` rounded up, stage
targets as JavaScript rounds), its duration (the stages'), its VUs at start, at most and at any instant
(k6's `getRawExecutionSteps`: fixload.engine.schedules.ramping_vus_at), and its runtime on the closed
model (fixload.engine.vu_based). Its iteration count depends on response times: the plan has none.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import gevent
from pydantic import Field, model_validator

from fixload.engine.base import ScenarioConfig, scaled_stages
from fixload.engine.fields import Duration, Stage, VUCount
from fixload.engine.schedules import ramping_vus_at
from fixload.engine.vu import VU, InterruptIteration
from fixload.engine.vu_based import VUExecutor


class RampingVUs(ScenarioConfig):
    executor: Literal["ramping-vus"]
    start_vus: Annotated[VUCount, Field(ge=0)] = 1
    stages: Annotated[list[Stage], Field(min_length=1)]
    graceful_ramp_down: Duration = 30.0

    @model_validator(mode="after")
    def _some_vus(self) -> RampingVUs:
        if self.start_vus == 0 and all(stage.target == 0 for stage in self.stages):
            raise ValueError("either startVUs or a stage's target must be greater than 0, as k6 requires")
        return self

    def scaled_fields(self, multiplier: float) -> dict[str, Any]:
        return {"start_vus": math.ceil(self.start_vus * multiplier), "stages": scaled_stages(self.stages, multiplier)}

    def nominal_duration(self) -> float:
        return sum(s.duration for s in self.stages)

    def vus_needed(self) -> tuple[int, int]:
        return self.start_vus, max([self.start_vus, *(int(st.target) for st in self.stages)])

    def vus_at(self, elapsed: float) -> int:
        return ramping_vus_at(self.start_vus, self.stages, elapsed)


class RampingVUsExecutor(VUExecutor):
    def target_vus(self) -> int:
        scenario: RampingVUs = self.plan.scenario
        return ramping_vus_at(scenario.start_vus, scenario.stages, self.now() - self.plan.start)

    def may_start(self, vu: VU) -> bool | None:
        now = self.now()
        if now < self.plan.start:
            return None
        if now >= self.plan.end:
            return False
        return True if self.global_number(vu) < self.target_vus() else None

    def run(self) -> None:
        """Watch the ramp: a VU ramped away mid-iteration gets gracefulRampDown, then is interrupted.

        As k6 (`reserveVUsForGracefulRampDowns`): a VU ramped away at time r is interrupted at
        min(r + gracefulRampDown, end + gracefulStop), also when r is the very end of the stages (a last
        stage ramping to 0); a VU still wanted when the stages end gets gracefulStop instead.
        """
        grace = self.plan.scenario.graceful_ramp_down
        hard_end = self.plan.end + self.plan.scenario.graceful_stop
        surplus_since: dict[int, float] = {}
        while True:
            now = self.now()
            if now >= hard_end:
                return
            target = self.target_vus()
            for vu in self.vus:
                if vu.busy_since is not None and self.global_number(vu) >= target:
                    first = surplus_since.setdefault(vu.number, now)
                    if now - first >= grace and vu.greenlet is not None:
                        vu.greenlet.kill(InterruptIteration, block=False)
                        surplus_since.pop(vu.number, None)
                else:
                    surplus_since.pop(vu.number, None)
            if now >= self.plan.end and not surplus_since:
                return  # what still runs is wanted at the end: wait_for_idle gives it gracefulStop
            wake = [first + grace for first in surplus_since.values()]
            gevent.sleep(max(0.001, min([0.05, *(w - now for w in wake)])))
