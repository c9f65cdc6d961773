"""`ScenarioUser`: a Locust user whose loop is fixload's, so a fixload executor decides when each iteration starts.

A Locust user runs its tasks back to back; a k6 VU waits for its executor. So `ScenarioUser.run()` is a
VU's life: wait until the runner knows what its users do, join the scenario's executor as one VU,
`on_start()` once, then per iteration wait for the executor's go and run one task picked the way Locust
does, and `on_stop()` once when the VU ends. gracefulStop running out raises `InterruptIteration` inside
the task (counted as interrupted); Locust stopping the user goes through `User.stop`. Without a fixload
shape the user is an ordinary closed-model Locust user.

The VU's life step by step: docs/design-notes.md#runtime-users. `runtime_of(environment)` is how the
classes Locust constructs with nothing but the environment (these users, the shape) find the run's runtime.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Protocol

from gevent import GreenletExit
from gevent.event import Event
from locust import User
from locust.exception import RescheduleTask, RescheduleTaskImmediately, StopUser

from fixload.engine.vu import VU, InterruptIteration

if TYPE_CHECKING:
    from fixload.engine.engine import Engine
    from fixload.metrics.failures import FailureLog
    from fixload.metrics.registry import Registry
    from fixload.profile.config import RunConfig
    from fixload.profile.plan import Plan

logger = logging.getLogger("fixload")

RUNTIME_ATTRIBUTE = "fixload_runtime"
"""The Locust `Environment` attribute `fixload.plugin` sets, once, at init (`attach`)."""


class Readiness(Protocol):
    """What a VU reads of the run's lifecycle (`fixload.runtime.lifecycle.RunLifecycle` is one)."""

    ready: Event

    @property
    def driven(self) -> bool: ...


class UserRuntime(Protocol):
    """What the users read of the run's runtime (`fixload.runtime.state.Runtime` is one). flows sits below
    runtime, so it names only what it reads."""

    config: RunConfig | None
    registry: Registry
    fixtures: dict[str, str]
    failures: FailureLog
    iteration_counters: dict[str, Iterator[int]]
    engine: Engine | None

    @property
    def lifecycle(self) -> Readiness: ...

    @property
    def plan(self) -> Plan | None:
        """The plan this process's users run (a worker's comes from its master)."""

    @property
    def halted(self) -> bool: ...


class NotConfigured(LookupError):
    """The environment has no fixload runtime: fixload's plugin did not configure it."""


def attach(environment: Any, runtime: UserRuntime) -> None:
    """Give `environment` its runtime: `fixload.plugin` does it once at init (tests building users do too)."""
    setattr(environment, RUNTIME_ATTRIBUTE, runtime)


def runtime_of(environment: Any) -> UserRuntime:
    """The run's runtime for a class Locust constructs with only the environment (the users here, the shape).
    Everything else gets the runtime handed to it at init; nothing else calls this. Never creates one: an
    environment fixload's plugin did not configure raises `NotConfigured`."""
    runtime = getattr(environment, RUNTIME_ATTRIBUTE, None)
    if runtime is None:
        raise NotConfigured(
            "fixload: no run configuration for this Locust environment; import fixload.plugin in the locustfile "
            "(it loads the profile at init), or attach a runtime (fixload.flows.user.attach)"
        )
    return runtime


class ScenarioUser(User):
    abstract = True
    scenario: ClassVar[str] = ""
    """The scenario whose VUs this class provides (a k6 scenario name)."""

    closed_wait_time: ClassVar[float] = 0.0
    """Pause between tasks when no executor drives the user (plain Locust)."""

    needs_fixtures: ClassVar[bool] = False
    """True when this flow's iterations need the run's fixtures (zone, service, campaign): only then are
    they provisioned before the test (the ping bench provisions nothing)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._vu: VU | None = None
        self._in_iteration = False
        self._stop_requested = False
        self._started = False
        self._stopped = False
        self._only_task: Any = None

    # ---------------------------------------------------------------------------------- the VU's life
    def run(self) -> None:
        try:
            run = runtime_of(self.environment)
        except NotConfigured:  # the library API without fixload's plugin: an ordinary Locust user
            super().run()
            return
        if run.lifecycle.driven:
            # fixload's plugin drives this environment: wait until the runner knows what its users do.
            # An environment the plugin never configured (the library API) is not driven.
            run.lifecycle.ready.wait()
        engine = run.engine
        if not run.halted and engine is None:  # plain Locust: no shape of ours runs this test
            super().run()
            return
        if run.halted or engine is None or self.scenario not in engine.executors:
            self._idle_until_stopped()  # nothing to send in this test
        vu = self._vu = engine.join(self.scenario)
        try:
            self._start()
            while not self._stop_requested:
                try:
                    if not vu.next_iteration():
                        break  # the executor has nothing more for this VU
                    self._iterate()
                except InterruptIteration:
                    vu.interrupted()  # gracefulStop ran out mid-iteration; wait for the next go
            else:  # Locust stopped the user, which finished its iteration first: that iteration completed
                vu.leave(finished=True)
        except StopUser:
            vu.leave(finished=False)
        except GreenletExit:
            vu.leave(finished=False)  # killed by Locust, maybe mid-iteration
            self._stop()
            raise
        self._stop()
        if self._stop_requested:
            return  # Locust asked this user to stop and is waiting for its greenlet to end
        self._idle_until_stopped()

    def _start(self) -> None:
        try:
            self._check_tasks()
        except TypeError as exc:  # the class cannot run an iteration: this VU stops, the error said once
            self._user_error(exc)
            raise StopUser() from exc
        self._started = True
        self._only_task = self.tasks[0] if len(self.tasks) == 1 else None
        try:
            self.on_start()
        except (StopUser, GreenletExit, InterruptIteration):
            raise
        except Exception as exc:
            self._user_error(exc)
            raise StopUser() from exc

    def _iterate(self) -> None:
        # weighted: Locust repeats a task by weight; the usual flow has one (`_only_task`, set at `_start`)
        task = self._only_task or random.choice(self.tasks)
        self._in_iteration = True
        try:
            task(self)
        except (StopUser, GreenletExit, InterruptIteration):
            raise
        except (RescheduleTask, RescheduleTaskImmediately):
            pass
        except Exception as exc:
            self._user_error(exc)
        finally:
            self._in_iteration = False

    def _stop(self) -> None:
        """`on_stop()` once, if `on_start()` ran (as Locust: a user that never started does not stop)."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        try:
            self.on_stop()
        except Exception as exc:
            logger.error("Uncaught exception in on_stop: %s\n%s", exc, traceback.format_exc())

    def _check_tasks(self) -> None:
        """Each iteration runs one task, picked as Locust's default task set picks it (weighted): so every task
        must be a function, and there must be one. Checked once, when the VU starts."""
        if not self.tasks:
            raise TypeError(f"{type(self).__name__} has no tasks: a ScenarioUser needs one @task (its iteration)")
        for task in self.tasks:
            if isinstance(task, type):
                raise TypeError(
                    f"{type(self).__name__}: a TaskSet ({task.__name__}) cannot be one iteration; write a @task method"
                )

    def _user_error(self, exc: Exception) -> None:
        """Locust's handling of an exception out of a task: the `user_error` event, logged, the user goes on
        (`catch_exceptions`, Locust's default), else re-raised."""
        self.environment.events.user_error.fire(user_instance=self, exception=exc, tb=exc.__traceback__)
        if not self.environment.catch_exceptions:
            raise exc
        logger.error("%s\n%s", exc, traceback.format_exc())

    # ---------------------------------------------------------------------------------- Locust's side
    def stop(self, force: bool = False) -> bool:
        """Locust stops this user: a VU mid-iteration finishes the iteration first (unless `force`), as a
        Locust user finishes its task; any other VU ends at once. Returns True if it ended already."""
        if self._vu is not None and self._in_iteration and not force:
            self._stop_requested = True
            return False
        return super().stop(force=True if self._vu is not None else force)

    def wait_time(self) -> float:
        return self.closed_wait_time

    def _idle_until_stopped(self) -> NoReturn:
        """Nothing more to run: wait for Locust to stop this user. Ending the greenlet ourselves would leave
        Locust a dead greenlet in its user group, which it reports as an error when it stops the users."""
        _NEVER.wait()
        raise StopUser()


_NEVER = Event()
"""Never set: what a user with nothing left to do waits on."""
