"""k6's constant-vus (lib/executor/constant_vus.go): `vus` VUs loop iterations back to back for `duration`.

Here: its options and their validation, how the multiplier scales them (VUs rounded up, at least one),
its duration and VUs, and its runtime on the closed model (fixload.engine.vu_based). Its iteration count
depends on response times: the plan has none.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field

from fixload.engine.base import ScenarioConfig
from fixload.engine.fields import LongDuration, VUCount
from fixload.engine.vu import VU
from fixload.engine.vu_based import VUExecutor


class ConstantVUs(ScenarioConfig):
    executor: Literal["constant-vus"]
    vus: Annotated[VUCount, Field(ge=1)] = 1
    duration: LongDuration

    def scaled_fields(self, multiplier: float) -> dict[str, Any]:
        return {"vus": max(1, math.ceil(self.vus * multiplier))}

    def nominal_duration(self) -> float:
        return self.duration

    def vus_needed(self) -> tuple[int, int]:
        return self.vus, self.vus


class ConstantVUsExecutor(VUExecutor):
    def may_start(self, vu: VU) -> bool | None:
        now = self.now()
        if now < self.plan.start:
            return None
        return now < self.plan.end
