"""The open model, shared by constant-arrival-rate and ramping-arrival-rate: their common options (the VU
pool, `timeUnit`), validation and bounds, and the runtime that starts iterations on a schedule.

Response times never slow the schedule. A free VU claims the next start of its runner's share and sleeps on
its own timer until it is due (fixload.engine.vu: a VU's states); a start that falls due with no VU free
goes to a newly allocated VU, up to `maxVUs`, or is **dropped** and counted: `started + dropped ==
scheduled`, always. Each executor's module gives the schedule itself (`starts`, `expected_iterations`,
`first_index_at_or_after`, `rate_at`, `peak_rate`; the arithmetic is fixload.engine.schedules').

Distribution: runner *k* of *n* takes the global iterations with index ≡ k (mod n) from a common clock, so
the union over runners is exactly the schedule; a new share (a worker joined or was lost) takes over from
a given plan time and the old one stops there.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Iterator
from time import monotonic
from typing import Annotated, Any, ClassVar

import gevent
from gevent.event import AsyncResult, Event
from gevent.hub import Waiter, get_hub
from pydantic import Field, model_validator

from fixload.common.clock import PlanClock
from fixload.common.durations import format_duration
from fixload.engine.base import ScenarioConfig, ScenarioExecutor, ScenarioPlan, Share, with_multiplier
from fixload.engine.fields import MAX_ITERATIONS, MAX_RATE_PER_SECOND, PositiveDuration, VUCount
from fixload.engine.schedules import aligned
from fixload.engine.vu import VU
from fixload.metrics.registry import Registry

DROP_AFTER_S = 0.001
"""A start that no VU has claimed this long after it fell due, with no VU left to allocate, is dropped. A
VU that frees up in between takes it, late (its `iteration_start_lag` says by how much): under saturation a
free VU then starts at once instead of waiting for the next start to fall due."""
TIMER_RESOLUTION_S = 0.001
"""A VU whose claimed start is due sooner than this yields to the hub until it is due rather than sleep on a
timer: an idle libev loop waits at least a millisecond for one (epoll's timeout is in whole ms)."""
START_GRID_MIN_STARTS = 5
"""Where a runner's starts come at least this many to a cell of the run's start grid (`settings.startGrid`,
default fixload.engine.fields.START_GRID_S, 5 ms), a VU wakes for its claimed start at the end of the start's
cell of plan time, with every other VU whose start falls in that cell: one wake-up of the process serves them
all. On a VM whose idle core loses its caches a wake-up costs 40-140 µs of the next work
(bench/wakeups.py), so starts spread evenly cost more CPU per request than the same starts in bursts
(docs/sizing.md). A start already due begins at once. The count per second is exact; a start is up to one
cell late, and `iteration_start_lag` says so; `startGrid: 0` wakes each VU at its own start."""
YIELD_EVERY_S = 0.002
"""The most time a scheduler runs without yielding to the gevent hub, however far behind it is."""


class ArrivalRateConfig(ScenarioConfig):
    """The options both arrival-rate executors have, and what their schedules have in common."""

    is_open_model: ClassVar[bool] = True
    time_unit: PositiveDuration = 1.0
    pre_allocated_vus: Annotated[VUCount, Field(ge=0)]
    max_vus: Annotated[VUCount, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _max_vus_covers_preallocated(self) -> ArrivalRateConfig:
        if self.max_vus is not None and self.max_vus < self.pre_allocated_vus:
            raise ValueError(f"maxVUs ({self.max_vus}) must be at least preAllocatedVUs ({self.pre_allocated_vus})")
        if max(self.pre_allocated_vus, self.max_vus or 0) < 1:
            raise ValueError("preAllocatedVUs or maxVUs must be at least 1")
        return self

    @property
    def vus_max(self) -> int:
        return self.max_vus if self.max_vus is not None else self.pre_allocated_vus

    def scaled_pool(self, m: float) -> dict[str, int]:
        """The VU pool scaled: both counts rounded up, at least one VU, maxVUs at least preAllocatedVUs."""
        pre_scaled = max(1, math.ceil(self.pre_allocated_vus * m))
        most_scaled = max(pre_scaled, math.ceil(self.vus_max * m))
        return {"pre_allocated_vus": pre_scaled, "max_vus": most_scaled}

    def vus_needed(self) -> tuple[int, int]:
        return self.pre_allocated_vus, self.vus_max

    # the schedule: each arrival-rate executor gives its own ---------------------------------------------------
    @abstractmethod
    def starts(self, offset: int = 0, stride: int = 1, since: float = 0.0) -> Iterator[float]:
        """Start offsets (s, from the scenario's start) of runner `offset` of `stride`'s share, from the first
        start at or after `since` (found directly, not by walking the earlier ones)."""
        raise NotImplementedError

    @abstractmethod
    def first_index_at_or_after(self, since: float) -> int:
        """The 0-based global index of the first iteration starting at or after `since` (s from the scenario's
        start), or the total count when none does; O(log n) whatever `since` is."""
        raise NotImplementedError

    @abstractmethod
    def rate_at(self, elapsed: float) -> float:
        """The target rate in iterations per second, `elapsed` seconds into the scenario (0 outside it)."""
        raise NotImplementedError

    @abstractmethod
    def rates(self) -> dict[str, float]:
        """Each rate the options give, per timeUnit, by its field's path (for the bounds)."""
        raise NotImplementedError

    def count_between(self, start: float, end: float, offset: int = 0, stride: int = 1) -> int:
        """How many iterations of runner `offset` of `stride` start in [start, end) (s from the scenario's
        start): what a share was due over a window, in O(log n)."""
        first = self.first_index_at_or_after(start)
        last = self.first_index_at_or_after(end) if end != math.inf else self.expected_iterations()
        if last <= first:
            return 0
        a, b = aligned(first, offset, stride), last
        return 0 if a >= b else (b - a - 1) // stride + 1

    def bound_errors(self, where: str, multiplier: float) -> list[str]:
        """A rate above MAX_RATE_PER_SECOND (then the count is not computed), a count above MAX_ITERATIONS,
        more VUs than MAX_VUS."""
        errors = []
        for field, rate in self.rates().items():
            per_second = rate / self.time_unit
            if per_second > MAX_RATE_PER_SECOND:
                given = f"{rate:g} per timeUnit {format_duration(self.time_unit)}"
                errors.append(
                    f"{where}.{field}: {with_multiplier(given, multiplier)}"
                    f" is {per_second:.6g} iterations/s; the bound is {MAX_RATE_PER_SECOND:g}/s per scenario"
                )
        if not errors:
            count = self.expected_iterations() or 0
            if count > MAX_ITERATIONS:
                errors.append(
                    f"{where}: {with_multiplier(f'schedules {count} iterations', multiplier)}"
                    f"; the bound is {MAX_ITERATIONS} per scenario"
                )
        return errors + self.vus_bound_errors(where, multiplier)


class ArrivalRateExecutor(ScenarioExecutor):
    """constant-arrival-rate and ramping-arrival-rate: the open model, on VUs that schedule themselves.

    A free VU *claims* the earliest start of this runner's schedule that nobody has claimed, sleeps on its
    own timer until it is due and starts it: no scheduler greenlet wakes per start and nothing is handed
    from one greenlet to another (bench/overhead.py: that hand-off was the engine's largest cost). The
    *allocator* greenlet only watches the earliest unclaimed start: if it falls due unclaimed, every
    allocated VU was busy at that instant, so, as k6, the iteration goes to a newly allocated VU (up to
    maxVUs) or is dropped. A VU's states and their transitions: the table of fixload.engine.vu.

    `counts.scheduled` is `started + dropped`: a start counts once it is due, never when it is claimed.
    Where this runner's starts are dense, a claiming VU sleeps until the end of its start's cell of the start
    grid instead of the start itself (`_Source.wake_at`), so one wake-up of the process serves the cell.
    """

    def __init__(self, plan: ScenarioPlan, share: Share, registry: Registry | None, clock: PlanClock) -> None:
        super().__init__(plan, share, registry, clock)
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
        self._stopping = False  # the test is stopping: a claim its VU could not begin is not handed on
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
        return self.plan.scenario.rate_at(self.now() - self.plan.start)

    # the schedule ------------------------------------------------------------------------------------------
    def _source(self, share: Share) -> _Source:
        plan = self.plan
        return _Source(plan.scenario, plan.start, share.index, share.count, share.since, plan.start_grid)

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
                source.take()  # `due`, the head just read
            return due, 0, source
        if self._returned:
            return heapq.heappop(self._returned) if take else self._returned[0]
        return None

    # a VU's side -------------------------------------------------------------------------------------------
    def acquire(self, vu: VU) -> bool:
        if not vu.allocated and self.counts.allocated < self.pre_allocated:
            vu.allocated = True
            self.counts.allocated += 1
        done = self.done
        while not done.is_set():
            claim = None
            if vu.allocated:
                try:
                    if self._returned or len(self._sources) != 1:
                        claim = self._next(take=True)
                    else:  # the usual case, once per iteration: one share, no start given back
                        source = self._sources[0]
                        due = source.take()
                        if due is not None:
                            claim = (due, 0, source)
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
                self.begin(vu, handed)  # a start counts (scheduled) once it is due: `begin` or `drop`
                return True
            due, _, source = claim
            now = monotonic() - self._origin
            if due > now:  # a start already due begins now, grid or not
                wake = source.wake_at(due)
                vu.claim = claim
                self._claims += 1
                try:
                    if wake - now > TIMER_RESOLUTION_S:
                        _sleep(vu, wake - now)
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
                if done.is_set():
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
        if claim is not None and not self._stopping and not self.done.is_set() and claim[0] < claim[2].until:
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
        if isinstance(handed, float) and not self._stopping and not self._hand(handed):
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
                # (ArrivalRateConfig.count_between) instead of one wake-up per start
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

    def stop_starting(self, since: float) -> None:
        """The test is stopping: nothing from `since` on is started or dropped, and a start a VU had claimed
        (or been handed) but not begun when Locust stopped that VU is neither: the stop took it, not a lack
        of VUs. Only a start that fell due before `since` with no VU free is dropped, as during the run."""
        self._stopping = True
        self.retire(since)

    def retire(self, since: float) -> None:
        source = self._sources[-1]
        source.until = min(source.until, since)
        self._reclaim(since)

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

    def __init__(self, scenario: Any, start: float, index: int, count: int, since: float, grid: float) -> None:
        self.scenario = scenario
        self.start = start  # the scenario's start in plan time (its startTime)
        self.index = index
        self.count = count
        self.until = math.inf
        # found directly (fixload.engine.schedules bisects the schedule): a reshare late in a long run costs
        # O(log n); a little early, so the exact plan-time test below decides the boundary
        self._offsets = scenario.starts(index, count, max(0.0, since - start - 1e-3))
        self._next: float | None = None
        for offset in self._offsets:  # the first start at or after `since`
            if start + offset >= since:
                self._next = offset
                break
        self._taken = -math.inf  # the offset of the last start taken
        self.grid = grid  # the start grid's cell (s); 0: no grid
        self._dense = grid / START_GRID_MIN_STARTS  # the widest gap between starts at which they wake on the grid
        self._phase = grid * index / count  # runner k of n: its grid is shifted by k/n of a cell
        self.gap = math.inf
        """The gap between the last two starts taken (s): how dense this share's schedule is now."""

    def head(self) -> float | None:
        """The next start not yet taken (plan time), or None when this share has no more."""
        offset = self._next
        if offset is None:
            offset = self._next = next(self._offsets, None)
            if offset is None:
                return None
        due = self.start + offset
        return None if due >= self.until else due

    def take(self) -> float | None:
        """`head()` taken off the schedule: the VUs' path, one call per claim."""
        offset = self._next
        if offset is None:
            offset = next(self._offsets, None)
            if offset is None:
                return None
        else:
            self._next = None
        due = self.start + offset
        if due >= self.until:
            self._next = offset
            return None
        self.gap = offset - self._taken
        self._taken = offset
        return due

    def wake_at(self, due: float) -> float:
        """When a VU that claimed the start due at `due` wakes for it: at the end of its cell of the start grid
        while this share's starts are dense (START_GRID_MIN_STARTS to a cell), else at `due` itself. Runner
        k of n has its grid shifted by k/n of a cell, so n workers do not send their cells at one instant."""
        if not self.grid or self.gap > self._dense:
            return due
        grid, phase = self.grid, self._phase
        return max(due, math.ceil((due - phase) / grid) * grid + phase)

    def drop_until(self, plan_time: float) -> int:
        """Take every start due before `plan_time` (and before `until`) at once; how many there were."""
        if self.head() is None or self._next is None:
            return 0
        end = min(plan_time, self.until) - self.start
        first = self._next
        if first >= end:
            return 0
        taken = self.scenario.count_between(first, end, self.index, self.count)
        self._offsets = self.scenario.starts(self.index, self.count, end)
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
    # update=True: libev counts a timer from the loop's cached time, which lags behind while callbacks run;
    # counted from it, the VU woke up to tens of ms before its start was due (a negative start lag)
    timer.start(waiter.switch, True, update=True)
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
