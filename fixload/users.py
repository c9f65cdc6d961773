"""`ScenarioUser`: a Locust user that lets a fixload executor decide when each iteration starts.

A Locust user runs its tasks back to back, pausing `wait_time()` between them. A k6 VU instead waits
for its executor. So the user blocks inside `wait_time()` (and once before its first task) until its
scenario's executor hands it an iteration: one task run is one k6 iteration. Without a fixload shape
running (plain `locust -f locustfiles/payments.py -u 5`) nothing blocks and the user is an ordinary
closed-model Locust user.
"""

from __future__ import annotations

from typing import ClassVar, NoReturn

from gevent.event import Event
from locust import User
from locust.exception import StopUser

from fixload.executors import VU, InterruptIteration
from fixload.run import run_for


class ScenarioUser(User):
    abstract = True
    scenario: ClassVar[str] = ""
    """The scenario whose VUs this class provides (a k6 scenario name)."""

    closed_wait_time: ClassVar[float] = 0.0
    """Pause between tasks when no executor drives the user (plain Locust)."""

    _vu: VU | None = None

    def run(self) -> None:
        run = run_for(self.environment)
        if run.lifecycle.driven:
            # fixload's plugin drives this environment: wait until the runner knows what its users do.
            # An environment the plugin never configured (the library API) is not driven.
            run.lifecycle.ready.wait()
        if run.halted:
            self._idle_until_stopped()
        engine = run.engine
        if engine is None:  # plain Locust: no shape of ours runs this test
            super().run()
            return
        if self.scenario not in engine.executors:  # not a scenario of this run: send nothing
            self._idle_until_stopped()
        self._vu = engine.join(self.scenario)
        while self._vu.next_iteration():
            try:
                super().run()
                return
            except InterruptIteration:
                self._vu.interrupted()  # gracefulStop ran out mid-iteration; wait for the next one
        self._idle_until_stopped()

    def wait_time(self) -> float:
        if self._vu is None:
            return self.closed_wait_time
        if not self._vu.next_iteration():
            self._idle_until_stopped()
        return 0.0

    def _idle_until_stopped(self) -> NoReturn:
        """Nothing more to run: wait for Locust to stop this user. Ending the greenlet ourselves would leave
        Locust a dead greenlet in its user group, which it reports as an error when it stops the users."""
        _NEVER.wait()
        raise StopUser()


_NEVER = Event()
"""Never set: what a user with nothing left to do waits on."""
