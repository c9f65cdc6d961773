"""The engine: all scenarios of a plan on one runner, on one clock (k6's local execution scheduler).

It starts each scenario's runtime (fixload.engine.registry), hands Locust users to them as VUs, and passes
on what the distributed run decides: this runner's share, the VUs Locust gave it, a lost worker's end.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

import gevent
from gevent.event import Event

from fixload.common.clock import PlanClock
from fixload.common.secrets import redact
from fixload.engine.base import ScenarioExecutor, ScenarioPlan, Share, VUSlot
from fixload.engine.registry import RUNTIMES
from fixload.engine.vu import VU
from fixload.metrics.registry import Registry

logger = logging.getLogger("fixload")

FREEZE_BEFORE_START_S = 0.25
"""How long before plan time 0 the engine collects and freezes the heap (`Engine._freeze_heap`)."""


class Scenarios(Protocol):
    """What the engine reads of a plan (fixload.profile.plan.Plan): its scenarios by name."""

    @property
    def scenarios(self) -> Mapping[str, ScenarioPlan]: ...


def users_needed(plan: ScenarioPlan) -> int:
    """How many Locust users a scenario needs over all runners: its most VUs."""
    return plan.vus[1]


class Engine:
    """All scenarios of a plan on one runner, on one clock."""

    def __init__(
        self,
        plan: Scenarios,
        share: Share,
        registry: Registry | None,
        on_crash: Callable[[str], None] | None = None,
        clock: PlanClock | None = None,
    ) -> None:
        """`clock` is the process's plan clock when it has one (the master's or local runner's own);
        otherwise the share's wall-clock `t0` is converted once, now (a worker, on receipt)."""
        self.plan = plan
        self.share = share
        self.clock = clock if clock is not None else PlanClock.from_wall(share.t0)
        self.executors: dict[str, ScenarioExecutor] = {
            name: RUNTIMES[s.executor](s, share, registry, self.clock) for name, s in plan.scenarios.items()
        }
        self.finished = Event()
        self.crash: str | None = None
        """The first engine error: the component and its (redacted) exception. The run is then aborted."""
        self._on_crash = on_crash
        self._watcher: gevent.Greenlet | None = None
        self._freezer: gevent.Greenlet | None = None
        for executor in self.executors.values():
            executor.on_crash = self._crashed

    def _crashed(self, component: str, exc: BaseException | None) -> None:
        if self.crash is None:
            self.crash = redact(f"{component}: {type(exc).__name__}: {exc}")
            logger.error("fixload: engine error in %s; the run is aborted", self.crash)
            if self._on_crash is not None:
                self._on_crash(self.crash)

    def start(self) -> None:
        for executor in self.executors.values():
            executor.start()
        self._watcher = gevent.spawn(self._watch)
        self._watcher.link_exception(lambda dead: self._crashed("engine", dead.exception))
        self._freezer = gevent.spawn(self._freeze_heap)

    def _freeze_heap(self) -> None:
        """Just before plan time 0 (the VUs exist by then), collect once and freeze what is left: the
        interpreter's, Locust's and the VUs' long-lived objects. A full collection otherwise walks them all
        every few seconds under load, stalling every VU for 30-50 ms at a time (measured on the throughput
        bench: each such pause let a sustained arrival rate fall behind and drop). Unfrozen at the end."""
        delay = -FREEZE_BEFORE_START_S - self.clock.now()
        if delay > 0:
            gevent.sleep(delay)
            gc.collect()  # the collection itself takes tens of ms: only while there is time before plan time 0
        gc.freeze()

    def _watch(self) -> None:
        for executor in self.executors.values():
            executor.done.wait()
        self.finished.set()
        self._unfreeze()

    def stop(self) -> None:
        for executor in self.executors.values():
            executor.stop()
        self.finished.set()
        self._unfreeze()

    def _unfreeze(self) -> None:
        if self._freezer is not None:
            self._freezer.kill(block=False)
            self._freezer = None
            gc.unfreeze()

    def join(self, scenario: str) -> VU:
        return self.executors[scenario].join()

    def reshare(self, share: Share) -> None:
        """A new share on the same clock: its `t0` is the one already converted, so it is not read again."""
        self.share = share
        for executor in self.executors.values():
            executor.reshare(share)

    def assign(self, slots: dict[str, VUSlot]) -> None:
        """The VUs Locust actually gave this runner, per scenario (from the master's view of every worker)."""
        for name, slot in slots.items():
            executor = self.executors.get(name)
            if executor is not None and slot.total > 0:
                executor.assign(slot)

    def stop_starting(self) -> None:
        """The test is stopping (Locust's `test_stopping`: `-t`, STOP, a signal): start nothing from now on.
        Locust then stops the users one by one, which may take a while (a user mid-iteration finishes it);
        without this, every start falling due meanwhile found no VU and was counted dropped, and a sleeping
        VU's claim, given back as Locust killed it, was dropped too. Starts due before now stay counted as
        they were: started, or dropped if no VU was free for them."""
        since = self.clock.now()
        for executor in self.executors.values():
            executor.stop_starting(since)

    def retire(self, since: float) -> None:
        """This runner was declared lost: start no arrival-rate iteration from plan time `since` on."""
        for executor in self.executors.values():
            executor.retire(since)

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: e.counts.as_dict() for name, e in self.executors.items()}

    def running(self) -> int:
        """Iterations still running on this runner (a VU whose greenlet Locust already killed is not running)."""
        return sum(
            1
            for executor in self.executors.values()
            for vu in executor.vus
            if vu.busy_since is not None and vu.greenlet is not None and not vu.greenlet.dead
        )

    def elapsed(self) -> float:
        return self.clock.now()
