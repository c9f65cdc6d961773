"""The local runner's role: one process plans, runs every share and summarizes; nothing crosses a wire."""

from __future__ import annotations

from fixload.common.clock import PlanClock
from fixload.engine.base import Share
from fixload.engine.engine import Engine
from fixload.runtime.lifecycle import State
from fixload.runtime.state import Role

LOCAL_LEAD_SECONDS = 0.3
"""Time between the decision to start and t0 on a local runner, where nothing crosses a wire: enough for the
engine to collect and freeze the heap before t0 (`FREEZE_BEFORE_START_S`) once the users are spawned."""


class LocalRole(Role):
    lead_seconds = LOCAL_LEAD_SECONDS

    def begin(self) -> None:
        """test_start: t0 and the whole plan's engine in this process (the fixtures are already resolved)."""
        runtime = self.runtime
        state = runtime.test
        if state is None:  # closed model: users run as Locust schedules them, once they have the fixtures
            runtime.lifecycle.ensure(State.RUNNING)
            return
        if state.started:
            return
        runtime.lifecycle.ensure(State.WAITING)
        state.clock, state.t0 = PlanClock.starting_in(self.lead_seconds + state.users / state.spawn_rate)
        state.started = True
        share = Share(0, 1, state.t0, 0.0)
        runtime.engine = Engine(state.plan, share, runtime.registry, runtime.record_crash, clock=state.clock)
        runtime.engine.start()
        runtime.lifecycle.to(State.RUNNING)
