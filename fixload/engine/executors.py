"""k6's executors on Locust users: who starts an iteration, when, and what happens when nobody can.

Every scenario owns a pool of Locust users (its VUs). Between iterations a user blocks in
`VU.next_iteration()`; the scenario's executor decides when to let it go:

- arrival-rate executors let each free VU claim the next start of the schedule and sleep on its own
  timer until it is due (`ArrivalRateExecutor`, whose docstring has a VU's states). Response times never
  slow the schedule (open model). A start that falls due with no VU free allocates one more, up to
  `maxVUs`; past that it is **dropped** and counted, so `started + dropped == scheduled`, always;
- VU executors (`constant-vus`, `ramping-vus`, `per-vu-iterations`, `shared-iterations`) let their
  active VUs loop back to back, as k6 does.

At a scenario's end its running iterations get `gracefulStop` (ramping-vus: `gracefulRampDown` when
ramping down) to finish, then are interrupted and counted as interrupted.

Distribution: runner *k* of *n* takes the global iterations with index ≡ k (mod n) from a common clock
(`fixload.common.clock`: plan time on each process's monotonic clock, from the common start `t0`), so the union
over runners is exactly the schedule and nothing starts twice. A new share (a worker joined or was lost)
takes over from a given plan time; the old share stops there. Which of a scenario's VUs a runner has is
what Locust actually dispatched to it (`VUSlot`, from the master's `vu_slots`): ramping-vus numbers its
VUs by it, shared-iterations splits its iterations by it, arrival-rate may allocate every user it got.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from gevent.hub import Waiter, get_hub

from fixload.common.clock import PlanClock
from fixload.common.secrets import redact
from fixload.engine.schedules import arrival_rate_at, arrival_starts, count_between, ramping_vus_at
from fixload.profile.plan import Plan, ScenarioPlan
from fixload.profile.schema import PerVUIterations, RampingVUs, SharedIterations

logger = logging.getLogger("fixload")

Emit = Callable[[str, float, dict[str, str]], None]
FREEZE_BEFORE_START_S = 0.25
"""How long before plan time 0 the engine collects and freezes the heap (`Engine._freeze_heap`)."""
DROP_AFTER_S = 0.001
"""A start that no VU has claimed this long after it fell due, with no VU left to allocate, is dropped. A
VU that frees up in between takes it, late (its `iteration_start_lag` says by how much): under saturation a
free VU then starts at once instead of waiting for the next start to fall due."""
TIMER_RESOLUTION_S = 0.001
"""A VU whose claimed start is due sooner than this yields to the hub until it is due rather than sleep on a
timer: an idle libev loop waits at least a millisecond for one (epoll's timeout is in whole ms)."""
START_GRID_S = 0.005
"""Where a runner's starts come at most START_GRID_GAP_S apart, a VU wakes for its claimed start at the end
of its START_GRID_S cell of plan time, with every other VU whose start falls in that cell: one wake-up of
the process serves them all (bench/HISTORY.md, third pass: at 2,000 starts/s on one core, CPU per request
fell ~11 % against waking for each start on its own, in 6 interleaved runs; spread-out work gets little
batching per wake-up, and an idle wait on the bench's VM is costly). A start already due begins at once.
The count per second is exact; a start is up to START_GRID_S late, and `iteration_start_lag` says so."""
START_GRID_GAP_S = 0.001
"""The widest gap between two starts of a runner's share at which starts wake on the grid (>= 5 per cell)."""
YIELD_EVERY_S = 0.002
"""The most time a scheduler runs without yielding to the gevent hub, however far behind it is."""
DROPS_RECORD_EVERY = 0.1
"""Plan seconds between two `dropped_iterations` samples of an executor that keeps dropping: the drops of
that stretch go in as one sample of their number (the counter's sum, and so every threshold, is the same;
a saturated scheduler then records ~10 samples a second instead of one per dropped start). The counts are
exact at every instant; pending drops are recorded when the executor stops."""


class InterruptIteration(BaseException):
    """Raised inside a VU's greenlet when gracefulStop runs out; BaseException so no flow code swallows it."""


@dataclass(frozen=True)
class Share:
    """This runner's part of every scenario: index/count of runners, the common clock, and from when."""

    index: int = 0
    count: int = 1
    t0: float = 0.0  # wall-clock (time.time()) instant of plan time 0 on the master; crosses the wire only
    since: float = 0.0  # plan seconds from which this share applies (0 for the first one)

    def split(self, total: int) -> int:
        """This runner's part of `total` VUs, k6-style: spread evenly, the first runners take the remainder."""
        return total // self.count + (1 if self.index < total % self.count else 0)


@dataclass(frozen=True)
class VUSlot:
    """Which of a scenario's VUs (global numbers) one runner has: [offset, offset + count) of `total`."""

    offset: int
    count: int
    total: int


@dataclass
class Counts:
    """What one runner's executor did; the master sums these over runners."""

    scheduled: int = 0
    started: int = 0
    dropped: int = 0
    completed: int = 0
    interrupted: int = 0
    active: int = 0
    allocated: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class VU:
    """One Locust user acting as a k6 VU of one scenario."""

    executor: ScenarioExecutor
    number: int  # local index within the scenario on this runner
    greenlet: Any = None
    busy_since: float | None = None
    iterations: int = 0
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
            self.executor.iteration_finished(self, interrupted=False)
        self.greenlet = gevent.getcurrent()
        return self.executor.acquire(self)

    def interrupted(self) -> None:
        if self.busy_since is not None:
            self.executor.iteration_finished(self, interrupted=True)

    def leave(self, finished: bool) -> None:
        """This VU's Locust user ends (Locust stopped it: its test ended, or it rebalanced users onto a worker
        that joined; or a task raised StopUser). An iteration it was running ends with it, counted once:
        completed if its task returned (`finished`), else interrupted. Left running, it would hold the
        scenario open until gracefulStop ran out, waiting for an iteration no greenlet runs any more."""
        self.left = True
        if self.busy_since is not None:
            self.executor.iteration_finished(self, interrupted=not finished)
        self.executor.leave(self)


class ScenarioExecutor:
    """Common machinery: VU bookkeeping, iteration metrics, gracefulStop."""

    def __init__(self, plan: ScenarioPlan, share: Share, emit: Emit, clock: PlanClock) -> None:
        self.plan = plan
        self.name = plan.name
        self.share = share
        self.emit = emit
        self.clock = clock
        self._origin = clock.origin
        self.counts = Counts()
        self.vus: list[VU] = []
        self.done = Event()
        self.tags = {"scenario": plan.name, **plan.scenario.tags}
        self._greenlets: list[gevent.Greenlet] = []
        self._unrecorded_drops = 0
        self._drops_recorded_at = -math.inf
        self.on_crash: Callable[[str, BaseException], None] | None = None
        """Called when one of this executor's greenlets dies of an exception (the Engine sets it)."""
        self.slot: VUSlot | None = None
        """The VUs Locust actually gave this runner (master: `assign`); None until known: `share.split`."""

    def _spawn(self, function: Callable[..., Any], *args: Any) -> gevent.Greenlet:
        """A greenlet of this executor whose death by exception is reported, never silent: a scheduler that
        died would otherwise look like a scenario with nothing left to start, and the run would pass."""
        greenlet = gevent.spawn(function, *args)
        greenlet.link_exception(lambda dead: self.on_crash and self.on_crash(f"executor {self.name}", dead.exception))
        self._greenlets.append(greenlet)
        return greenlet

    # clock -----------------------------------------------------------------------------------------------
    def now(self) -> float:
        """Plan time in seconds (0 = the moment all scenarios' clocks start), on this process's monotonic clock."""
        return time.monotonic() - self._origin

    def sleep_until(self, plan_time: float) -> None:
        """Sleep until `plan_time` (the VU executors' scenario end)."""
        delay = plan_time - self.now()
        if delay > 0:
            gevent.sleep(delay)

    # VUs -------------------------------------------------------------------------------------------------
    def join(self) -> VU:
        vu = VU(self, len(self.vus))
        self.vus.append(vu)
        return vu

    def begin(self, vu: VU, due: float | None = None) -> None:
        now = self.now()
        vu.busy_since = now
        self.counts.started += 1
        self.counts.active += 1
        if due is not None:
            lag = now - due
            self.emit("iteration_start_lag", lag * 1000.0, self.tags)

    def iteration_finished(self, vu: VU, interrupted: bool) -> None:
        started = vu.busy_since
        vu.busy_since = None
        vu.iterations += 1
        self.counts.active -= 1
        if interrupted:
            self.counts.interrupted += 1
            return
        self.counts.completed += 1
        self.emit("iterations", 1.0, self.tags)
        if started is not None:
            self.emit("iteration_duration", (self.now() - started) * 1000.0, self.tags)

    def leave(self, vu: VU) -> None:
        """`vu`'s user has ended (`VU.leave`); VU executors keep its place (their VUs are numbered)."""

    def interrupt_busy(self, older_than: float | None = None) -> None:
        """Interrupt running iterations (gracefulStop ran out); each is counted once, as interrupted."""
        for vu in list(self.vus):
            running = vu.busy_since is not None and vu.greenlet is not None and not vu.greenlet.dead
            if running and (older_than is None or vu.busy_since <= older_than):
                vu.greenlet.kill(InterruptIteration, block=False)

    def busy(self) -> int:
        return sum(1 for vu in self.vus if vu.busy_since is not None)

    def pending(self) -> int:
        """Iterations promised to a VU that has not started them yet (arrival-rate claims)."""
        return 0

    def wait_for_idle(self, deadline: float) -> None:
        """Let running iterations finish until `deadline` (plan time), then interrupt what still runs."""
        while (self.busy() or self.pending()) and self.now() < deadline:
            gevent.sleep(min(0.05, max(0.0, deadline - self.now())))
        if self.busy():
            self.interrupt_busy()

    # lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._spawn(self._run)

    def stop(self) -> None:
        """End now: release every waiting VU, interrupt running ones."""
        self.done.set()
        for g in self._greenlets:
            g.kill(block=False)
        self.interrupt_busy()
        self.release_all()
        self.record_drops()

    def drop(self, due: float, count: int = 1) -> None:
        """`count` iterations due by `due` found no VU: count them now, record their sample with the next batch."""
        self.counts.dropped += count
        self._unrecorded_drops += count
        if due - self._drops_recorded_at >= DROPS_RECORD_EVERY:
            self._drops_recorded_at = due
            self.record_drops()

    def record_drops(self) -> None:
        if self._unrecorded_drops:
            self.emit("dropped_iterations", float(self._unrecorded_drops), self.tags)
            self._unrecorded_drops = 0

    def release_all(self) -> None:
        for vu in self.vus:
            if vu._waiting is not None and not vu._waiting.ready():
                vu._waiting.set(False)

    def _run(self) -> None:
        try:
            self.run()
            self.wait_for_idle(self.plan.end + self.plan.scenario.graceful_stop)
        finally:  # as `stop`: done first, so a VU released now sees the end
            self.done.set()
            self.release_all()
            self.record_drops()

    def run(self) -> None:
        raise NotImplementedError

    def acquire(self, vu: VU) -> bool:
        raise NotImplementedError

    def reshare(self, share: Share) -> None:
        self.share = share

    def assign(self, slot: VUSlot) -> None:
        """This runner's VUs are global VUs [offset, offset + count) of `total` (what Locust dispatched)."""
        self.slot = slot

    def retire(self, since: float) -> None:
        """VU executors keep their VUs: which of them run is Locust's user dispatch, not a share."""

    def target_rate(self) -> float | None:
        return None


class ArrivalRateExecutor(ScenarioExecutor):
    """constant-arrival-rate and ramping-arrival-rate: the open model, on VUs that schedule themselves.

    A free VU *claims* the earliest start of this runner's schedule that nobody has claimed, sleeps on its
    own timer until it is due and starts it: no scheduler greenlet wakes per start and nothing is handed
    from one greenlet to another (bench/overhead.py: that hand-off was the engine's largest cost). The
    *allocator* greenlet only watches the earliest unclaimed start: if it falls due unclaimed, every
    allocated VU was busy at that instant, so, as k6, the iteration goes to a newly allocated VU (up to
    maxVUs) or is dropped. A VU's states, per iteration:

        free --claim--> claiming (asleep until due) --due--> running --finished--> free
        claiming --its share ended before the due (reshare, retire)--> free (the claim is void: not counted)
        claiming --stopped by Locust--> gone (the claim goes back unclaimed; the allocator may drop it)
        free --nothing left to claim--> waiting --a claim came back / a reshare--> free
        parked (not allocated) --the allocator hands it a due start--> running (now allocated)

    `counts.scheduled` is `started + dropped`: a start counts once it is due, never when it is claimed.
    Where this runner's starts are dense, a claiming VU sleeps until the end of its start's START_GRID_S
    cell instead of the start itself (`_Source.wake_at`), so one wake-up of the process serves the cell.
    """

    def __init__(self, plan: ScenarioPlan, share: Share, emit: Emit, clock: PlanClock) -> None:
        super().__init__(plan, share, emit, clock)
        self.parked: deque[VU] = deque()
        """Users beyond the allocated pool: they wait for the allocator to hand them a start."""
        self.waiting: deque[VU] = deque()
        """Allocated VUs that found nothing to claim: they wait for a start to come back, or the end."""
        self._sources: deque[_Source] = deque([self._source(share)])
        self._returned: list[tuple[float, int, _Source]] = []
        """A heap of claims given back by VUs that left before their start was due."""
        self._tiebreak = itertools.count(1)  # orders given-back claims of one due; 0 marks the schedule's own
        self._claims = 0  # claims held by sleeping VUs
        self._poke = Event()  # wakes the allocator early (a claim came back, a reshare, the end)
        self._loop = get_hub().loop

    @property
    def pre_allocated(self) -> int:
        return min(self.max_allocated, max(1, self.share.split(self.plan.scenario.pre_allocated_vus)))

    @property
    def max_allocated(self) -> int:
        if self.slot is not None:  # every user Locust gave this runner may take this runner's iterations
            return max(1, self.slot.count)
        return max(1, self.share.split(self.plan.scenario.vus_max))

    def target_rate(self) -> float:
        return arrival_rate_at(self.plan.scenario, self.now() - self.plan.start)

    # the schedule ------------------------------------------------------------------------------------------
    def _source(self, share: Share) -> _Source:
        return _Source(self.plan.scenario, self.plan.start, share.index, share.count, share.since)

    def _next(self, take: bool) -> tuple[float, int, _Source] | None:
        """The earliest unclaimed start (due, tiebreak, source), removed from the schedule if `take`."""
        while self._sources:
            source = self._sources[0]
            due = source.head()
            if due is None:
                if len(self._sources) == 1:
                    break
                self._sources.popleft()  # an old share, spent: the next one follows it in plan time
                continue
            if self._returned and self._returned[0][0] <= due:
                break
            if take:
                source.advance()
            return due, 0, source
        if self._returned:
            return heapq.heappop(self._returned) if take else self._returned[0]
        return None

    # a VU's side -------------------------------------------------------------------------------------------
    def acquire(self, vu: VU) -> bool:
        if not vu.allocated and self.counts.allocated < self.pre_allocated:
            vu.allocated = True
            self.counts.allocated += 1
        while not self.done.is_set():
            claim = None
            if vu.allocated:
                try:
                    claim = self._next(take=True)
                except Exception as exc:  # the schedule itself failed: an engine error, not the flow's
                    if self.on_crash is not None:
                        self.on_crash(f"executor {self.name}", exc)
                    return False
            if claim is None:
                # not allocated (parked), or nothing left to claim (waiting): the allocator hands a start
                handed = self._wait_in(self.waiting if vu.allocated else self.parked, vu)
                if handed is None:
                    return False
                if handed is _RECLAIM:
                    continue
                self.begin(vu, handed)
                return True
            due, _, source = claim
            now = self.now()
            wake = source.wake_at(due) if due > now else due  # a start already due begins now, grid or not
            delay = wake - now
            if delay > 0:
                vu.claim = claim
                self._claims += 1
                try:
                    if delay > TIMER_RESOLUTION_S:
                        _sleep(vu, delay)
                    else:
                        # due sooner than the hub's timers resolve (an idle libev loop rounds a wait up
                        # to 1 ms): yield to the hub until it is due instead of waiting a whole tick
                        while wake > self.now() and vu.claim is not None:
                            gevent.sleep(0)
                except BaseException:
                    self._give_back(vu)
                    raise
                finally:
                    self._claims -= 1
                    vu.claim = None
                if self.done.is_set():
                    return False
            elif time.time() - self._loop.now() >= YIELD_EVERY_S:
                # behind schedule and the hub has not run for a while (an iteration that never blocks):
                # let it run (signals, the shape's tick, other VUs) before this start
                gevent.sleep(0)
            if due >= source.until:
                continue  # this share ended before the start was due: the next share has it
            self.begin(vu, due)
            return True
        return False

    def _wait_in(self, pool: deque[VU], vu: VU) -> Any:
        """Wait in `pool` for the allocator to hand a due start (a float), `_RECLAIM`, or None (the end)."""
        vu._waiting = AsyncResult()
        pool.append(vu)
        try:
            due = vu._waiting.get()
        except BaseException:
            self._quit_pool(vu)
            raise
        vu._waiting = None
        if due is False or due is None:
            return None
        return due

    def _give_back(self, vu: VU) -> None:
        """A VU asleep on a claim was stopped (Locust moved its user away, or the test ends): its start goes
        back unclaimed, so another VU or the allocator takes it and the counts stay exact."""
        claim = vu.claim
        if claim is not None and not self.done.is_set() and claim[0] < claim[2].until:
            heapq.heappush(self._returned, (claim[0], next(self._tiebreak), claim[2]))
            self._poke.set()
        self._deallocate(vu)

    def _quit_pool(self, vu: VU) -> None:
        """A VU waiting in a pool was stopped. A start already handed to it goes to another VU, or is
        dropped: the counts stay exact."""
        waiting, vu._waiting = vu._waiting, None
        for pool in (self.parked, self.waiting):
            with contextlib.suppress(ValueError):
                pool.remove(vu)
        self._deallocate(vu)
        handed = waiting.value if waiting is not None and waiting.ready() else None
        if isinstance(handed, float) and not self._hand(handed):
            self.drop(handed)

    def leave(self, vu: VU) -> None:
        """A VU whose user ended gives its place in the pool back: the allocator may allocate another."""
        self._deallocate(vu)

    def _deallocate(self, vu: VU) -> None:
        if vu.allocated:
            vu.allocated = False
            self.counts.allocated -= 1

    # the allocator -------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Watch the earliest unclaimed start. Asleep until it is due; if by then no VU has claimed it, no
        allocated VU was free: hand it to a new VU (up to maxVUs) or drop it. However far behind the clock
        is, the loop yields to the gevent hub at least every YIELD_EVERY_S, so signals, the shape's tick and
        the VUs keep running while it catches up (dropping what no VU can take)."""
        yielded = time.monotonic()
        while True:
            head = self._next(take=False)
            if head is None:
                if not self._claims and self.now() >= self.plan.end:
                    return
                self._nap(max(0.001, min(0.05, self.plan.end - self.now())))
                continue
            due, returned, source = head
            now = self.now()
            if due > now:
                self._nap(due - now)
                yielded = time.monotonic()
                continue
            if not returned and not self._can_hand():
                # no VU to give it to: a VU that frees within DROP_AFTER_S still takes it (late); after
                # that every start due by then is dropped, counted in one step
                # (fixload.engine.schedules.count_between) instead of one wake-up per start
                horizon = now - DROP_AFTER_S
                if due > horizon:
                    self._nap(due - horizon)
                    yielded = time.monotonic()
                    continue
                self.drop(due, source.drop_until(math.nextafter(horizon, math.inf)))
                self._nap(DROP_AFTER_S)  # the next stretch: at most one bulk drop per DROP_AFTER_S
                yielded = time.monotonic()
                continue
            self._next(take=True)
            if due < source.until and not self._hand(due):
                self.drop(due)
            if time.monotonic() - yielded >= YIELD_EVERY_S:
                gevent.sleep(0)
                yielded = time.monotonic()

    def _nap(self, seconds: float) -> None:
        self._poke.clear()
        self._poke.wait(seconds)

    def _can_hand(self) -> bool:
        return bool(self.waiting) or (bool(self.parked) and self.counts.allocated < self.max_allocated)

    def _hand(self, due: float) -> bool:
        """Give the start due at `due` to a waiting VU, else to a newly allocated one (up to maxVUs)."""
        while self.waiting:
            vu = self.waiting.popleft()
            if vu._waiting is not None and not vu._waiting.ready():
                vu._waiting.set(due)
                return True
        while self.parked and self.counts.allocated < self.max_allocated:
            vu = self.parked.popleft()
            if vu._waiting is not None and not vu._waiting.ready():
                vu.allocated = True
                self.counts.allocated += 1
                vu._waiting.set(due)
                return True
        return False

    def _reclaim(self, since: float) -> None:
        """Claims at or after `since` are void (their share ends there): wake those VUs to claim again, and
        the waiting ones, since the new share may have starts for them."""
        for vu in self.vus:
            if vu.claim is not None and vu.claim[0] >= since:
                _wake(vu)
        while self.waiting:
            vu = self.waiting.popleft()
            if vu._waiting is not None and not vu._waiting.ready():
                vu._waiting.set(_RECLAIM)
        self._poke.set()

    def reshare(self, share: Share) -> None:
        """From `share.since` on, follow the new share; starts before it stay with the old one."""
        self._sources[-1].until = share.since
        self.share = share
        self._sources.append(self._source(share))
        self._reclaim(share.since)

    def retire(self, since: float) -> None:
        source = self._sources[-1]
        source.until = min(source.until, since)
        self._reclaim(since)

    def begin(self, vu: VU, due: float | None = None) -> None:
        self.counts.scheduled += 1
        super().begin(vu, due)

    def drop(self, due: float, count: int = 1) -> None:
        self.counts.scheduled += count
        super().drop(due, count)

    def pending(self) -> int:
        return self._claims

    def release_all(self) -> None:
        for vu in self.vus:
            if vu.claim is not None:
                _wake(vu)
        super().release_all()
        self._poke.set()


class _Source:
    """One share's due starts, in plan time and in order: this runner's part of the schedule from `since`
    until `until` (which moves when the share ends). Offsets are kept as fixload.engine.schedules yields them, so
    counting a stretch of them (`drop_until`) uses the schedule's own arithmetic."""

    def __init__(self, scenario: Any, start: float, index: int, count: int, since: float) -> None:
        self.scenario = scenario
        self.start = start  # the scenario's start in plan time (its startTime)
        self.index = index
        self.count = count
        self.since = since
        self.until = math.inf
        # found directly (fixload.engine.schedules bisects the schedule): a reshare late in a long run costs
        # O(log n); a little early, so the exact plan-time test in `head` decides the boundary
        self._offsets = arrival_starts(scenario, index, count, max(0.0, since - start - 1e-3))
        self._next: float | None = None
        self._spent = False
        self._taken = -math.inf  # the offset of the last start taken
        self._phase = START_GRID_S * index / count  # runner k of n: its grid is shifted by k/n of a cell
        self.gap = math.inf
        """The gap between the last two starts taken (s): how dense this share's schedule is now."""

    def head(self) -> float | None:
        """The next start not yet taken (plan time), or None when this share has no more."""
        while self._next is None and not self._spent:
            offset = next(self._offsets, None)
            if offset is None:
                self._spent = True
            elif self.start + offset >= self.since:
                self._next = offset
        if self._next is None or self.start + self._next >= self.until:
            return None
        return self.start + self._next

    def advance(self) -> None:
        if self._next is not None:
            self.gap, self._taken = self._next - self._taken, self._next
        self._next = None

    def wake_at(self, due: float) -> float:
        """When a VU that claimed the start due at `due` wakes for it: on the START_GRID_S grid of plan time
        while this share's starts are dense (at most START_GRID_GAP_S apart), else at `due` itself. Runner
        k of n has its grid shifted by k/n of a cell, so n workers do not send their cells at one instant."""
        if self.gap > START_GRID_GAP_S:
            return due
        phase = self._phase
        return max(due, math.ceil((due - phase) / START_GRID_S) * START_GRID_S + phase)

    def drop_until(self, plan_time: float) -> int:
        """Take every start due before `plan_time` (and before `until`) at once; how many there were."""
        if self.head() is None or self._next is None:
            return 0
        end = min(plan_time, self.until) - self.start
        first = self._next
        if first >= end:
            return 0
        taken = count_between(self.scenario, first, end, self.index, self.count)
        self._offsets = arrival_starts(self.scenario, self.index, self.count, end)
        self._next = None
        return taken


_RECLAIM = object()
"""Handed to a waiting VU: claim again (a reshare brought new starts)."""


def _sleep(vu: VU, delay: float) -> bool:
    """Sleep `delay` s on this VU's own timer; True when it rang, False when `_wake` ended it early. A timer
    and a `Waiter` are what `gevent.sleep` uses, minus the part that cannot be woken early."""
    hub = get_hub()
    timer = hub.loop.timer(delay)
    waiter = Waiter(hub)
    vu._alarm = (timer, waiter)
    timer.start(waiter.switch, True)
    try:
        return bool(waiter.get())
    finally:
        timer.close()
        vu._alarm = None


def _wake(vu: VU) -> None:
    """End a VU's wait for its claimed start now (from any greenlet): the claim is void, the VU's timer is
    stopped and the hub switches to it (a VU yielding until a start due within TIMER_RESOLUTION_S sees its
    claim gone at its next turn)."""
    vu.claim = None
    alarm, vu._alarm = vu._alarm, None
    if alarm is not None:
        timer, waiter = alarm
        timer.stop()
        get_hub().loop.run_callback(waiter.switch, False)


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


class ConstantVUsExecutor(VUExecutor):
    def may_start(self, vu: VU) -> bool | None:
        now = self.now()
        if now < self.plan.start:
            return None
        return now < self.plan.end


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


class PerVUIterationsExecutor(VUExecutor):
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


class SharedIterationsExecutor(VUExecutor):
    def __init__(self, plan: ScenarioPlan, share: Share, emit: Emit, clock: PlanClock) -> None:
        super().__init__(plan, share, emit, clock)
        scenario: SharedIterations = plan.scenario
        self.remaining = share.split(scenario.iterations)
        self._taken = 0

    def assign(self, slot: VUSlot) -> None:
        """The iterations of this runner's VUs: i with i mod total in [offset, offset + count), so a runner
        Locust gave no VU of this scenario is not left holding iterations nobody runs."""
        super().assign(slot)
        total = self.plan.scenario.iterations
        mine = (total // slot.total) * slot.count + max(
            0, min(total % slot.total, slot.offset + slot.count) - slot.offset
        )
        self.remaining = max(0, mine - self._taken)

    def may_start(self, vu: VU) -> bool | None:
        now = self.now()
        if now < self.plan.start:
            return None
        if now >= self.plan.end or self.remaining <= 0:
            return False
        self.remaining -= 1
        self._taken += 1
        return True

    def run(self) -> None:
        while self.now() < self.plan.end and (self.remaining > 0 or self.busy()):
            gevent.sleep(0.05)


_EXECUTORS: dict[str, type[ScenarioExecutor]] = {
    "constant-arrival-rate": ArrivalRateExecutor,
    "ramping-arrival-rate": ArrivalRateExecutor,
    "constant-vus": ConstantVUsExecutor,
    "ramping-vus": RampingVUsExecutor,
    "per-vu-iterations": PerVUIterationsExecutor,
    "shared-iterations": SharedIterationsExecutor,
}


def users_needed(plan: ScenarioPlan) -> int:
    """How many Locust users a scenario needs over all runners: its most VUs."""
    return plan.vus[1]


class Engine:
    """All scenarios of a plan on one runner, on one clock."""

    def __init__(
        self,
        plan: Plan,
        share: Share,
        emit: Emit,
        on_crash: Callable[[str], None] | None = None,
        clock: PlanClock | None = None,
    ) -> None:
        """`clock` is the process's plan clock when it has one (the master's or local runner's own);
        otherwise the share's wall-clock `t0` is converted once, now (a worker, on receipt)."""
        self.plan = plan
        self.share = share
        self.clock = clock if clock is not None else PlanClock.from_wall(share.t0)
        self.executors: dict[str, ScenarioExecutor] = {
            name: _EXECUTORS[s.executor](s, share, emit, self.clock) for name, s in plan.scenarios.items()
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
