"""The closed model, shared by constant-vus, ramping-vus, per-vu-iterations and shared-iterations: their
VUs loop iterations back to back, as k6's do, while the executor says they may (`may_start`).

Which of a scenario's VUs a runner has is what Locust actually dispatched to it (`VUSlot`, from the
master's `vu_slots`): ramping-vus numbers its VUs by it, shared-iterations splits its iterations by it.
"""

from __future__ import annotations

import gevent
from gevent.event import AsyncResult

from fixload.engine.base import ScenarioExecutor
from fixload.engine.vu import VU


class VUExecutor(ScenarioExecutor):
    """The closed-model executors: active VUs run iterations back to back."""

    def acquire(self, vu: VU) -> bool:
        while not self.done.is_set():
            verdict = self.may_start(vu)
            if verdict is None:
                # not active yet (startTime, ramp-up): check again shortly, or right at the start time
                until_start = self.plan.start - self.now()
                gevent.sleep(until_start if 0 < until_start < 0.05 else 0.05)
                continue
            if not verdict:
                break
            self.begin(vu)
            return True
        vu._waiting = AsyncResult()
        vu._waiting.get()  # stay parked until the engine releases everyone at the end
        vu._waiting = None
        return False

    def may_start(self, vu: VU) -> bool | None:
        """True: start now; None: not yet; False: this VU is finished."""
        raise NotImplementedError

    def global_number(self, vu: VU) -> int:
        """The VU's number over all runners: from the users each runner actually got, once the master said;
        until then as if Locust had given runner k exactly `Share.split` of them (it interleaves classes)."""
        if self.slot is not None:
            return self.slot.offset + vu.number
        return vu.number * self.share.count + self.share.index

    def run(self) -> None:
        self.sleep_until(self.plan.end)
