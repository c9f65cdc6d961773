"""A k6 VU on a Locust user (k6's lib/executor/vu_handle.go): between iterations its user blocks in
`VU.next_iteration()` until its scenario's executor lets it start one. Every scenario owns a pool of
Locust users, its VUs. Their states, per iteration (`claiming`, `waiting`, `parked`: arrival-rate only):

    free      --claims the earliest unclaimed start (`claim`)-->  claiming: asleep on its own timer until due
    claiming  --due-->                                             running (`busy_since`)
    claiming  --its share ended before the due (reshare)-->        free: the claim is void, not counted
    claiming  --stopped by Locust-->                               gone: the claim goes back unclaimed
    free      --nothing left to claim-->                           waiting (`_waiting`)
    waiting   --a claim came back, a reshare / a start handed-->   free / running
    parked    --beyond the pool: the allocator hands it a start--> running (now `allocated`)
    free      --a VU executor lets it go-->                        running; else waiting until the end
    running   --finished, or interrupted (gracefulStop ran out)--> free
    any       --its Locust user ended (`leave`)-->                 gone (`left`): nothing waits for it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gevent.event import AsyncResult
from gevent.hub import Waiter


class InterruptIteration(BaseException):
    """Raised inside a VU's greenlet when gracefulStop runs out; BaseException so no flow code swallows it."""


class Executor(Protocol):
    """What a VU asks of its scenario's executor (fixload.engine.base.ScenarioExecutor)."""

    def acquire(self, vu: VU) -> bool: ...

    def iteration_finished(self, vu: VU, interrupted: bool) -> None: ...

    def leave(self, vu: VU) -> None: ...


@dataclass
class VU:
    """One Locust user acting as a k6 VU of one scenario."""

    executor: Executor
    number: int  # local index within the scenario on this runner
    greenlet: Any = None
    busy_since: float | None = None
    iterations: int = 0
    """Iterations this VU ended (per-vu-iterations counts them; no other executor needs to)."""
    allocated: bool = False
    left: bool = False
    """Its Locust user has ended (`leave`): it runs nothing more, and nothing waits for it."""
    claim: tuple[float, int, Any] | None = None
    """Arrival-rate: the start this VU has claimed and sleeps until (due, tiebreak, its share's source)."""
    _waiting: AsyncResult | None = field(default=None, repr=False)
    _alarm: tuple[Any, Waiter] | None = field(default=None, repr=False)

    def next_iteration(self) -> bool:
        """Finish the previous iteration (if any) and block until the next may start; False means stop."""
        if self.busy_since is not None:
            self.executor.iteration_finished(self, False)
        return self.executor.acquire(self)

    def interrupted(self) -> None:
        if self.busy_since is not None:
            self.executor.iteration_finished(self, True)

    def leave(self, finished: bool) -> None:
        """This VU's Locust user ends (Locust stopped it: its test ended, or it rebalanced users onto a worker
        that joined; or a task raised StopUser). An iteration it was running ends with it, counted once:
        completed if its task returned (`finished`), else interrupted. Left running, it would hold the
        scenario open until gracefulStop ran out, waiting for an iteration no greenlet runs any more."""
        self.left = True
        if self.busy_since is not None:
            self.executor.iteration_finished(self, interrupted=not finished)
        self.executor.leave(self)
