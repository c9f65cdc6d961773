"""The engine test users (engine_users.py) with one engine component made to crash, chosen by FIXLOAD_TEST_CRASH:

- `executor`: payments_flow's schedule raises OverflowError (what `duration: 1e308` did) after 5 starts,
  in whichever greenlet reads it next (a VU claiming a start, or the executor's allocator);
- `shape`: the composite shape's tick raises once the test has started;
- `hang`: the composite shape's tick blocks once the test has started (as a shape greenlet stuck in Locust's
  dispatch does): the plan cannot complete, and fixload's guard must end the run (status error, exit 1).

Test-only: a crash must end the run aborted, exit 109, with the component and the exception in its summary.
"""

from __future__ import annotations

import os

import gevent
from engine_users import *  # noqa: F403  (the ping users and the profile shape)

from fixload.engine.arrival_rate import ArrivalRateExecutor
from fixload.runtime.shape import ScenarioShape

CRASH = os.environ.get("FIXLOAD_TEST_CRASH", "")

if CRASH == "executor":
    _next = ArrivalRateExecutor._next

    def _crashing_next(self: ArrivalRateExecutor, take: bool):  # type: ignore[no-untyped-def]
        if self.name == "payments_flow" and self.counts.scheduled >= 5:
            raise OverflowError("cannot convert float infinity to integer")
        return _next(self, take)

    ArrivalRateExecutor._next = _crashing_next  # type: ignore[method-assign]

if CRASH == "shape":
    _tick = ScenarioShape._tick

    def _crashing_tick(shape, runtime):  # type: ignore[no-untyped-def]
        if runtime.role.elapsed() > 1.0:
            raise ZeroDivisionError("division by zero")
        return _tick(shape, runtime)

    ScenarioShape._tick = _crashing_tick  # type: ignore[method-assign]

if CRASH == "hang":
    _tick_then = ScenarioShape._tick

    def _hanging_tick(shape, runtime):  # type: ignore[no-untyped-def]
        if runtime.role.elapsed() > 1.0:
            gevent.sleep(3600)
        return _tick_then(shape, runtime)

    ScenarioShape._tick = _hanging_tick  # type: ignore[method-assign]
