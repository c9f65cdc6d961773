"""What every executor has (k6's base_config.go and base_executor.go): the options common to all scenarios
with the plan arithmetic each executor answers, one scenario as planned, and the runtime's common machinery.

Each executor's module (fixload.engine.constant_arrival_rate, ...) subclasses `ScenarioConfig` for its
options, validation, scaling by the multiplier, duration, iterations and VUs, and a runtime class for how
it runs; fixload.engine.registry lists them by k6 name.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, ClassVar, Self, get_args

import gevent
from gevent.event import Event
from pydantic import Field

from fixload.common.clock import PlanClock
from fixload.common.durations import format_duration
from fixload.engine.fields import MAX_ITERATIONS, MAX_VUS, START_GRID_S, Duration, K6Model, Stage
from fixload.engine.vu import VU, InterruptIteration
from fixload.metrics.registry import Registry

DROPS_RECORD_EVERY = 0.1
"""Plan seconds between two `dropped_iterations` samples of an executor that keeps dropping: the drops of
that stretch go in as one sample of their number (the counter's sum, and so every threshold, is the same;
a saturated scheduler then records ~10 samples a second instead of one per dropped start). The counts are
exact at every instant; pending drops are recorded when the executor stops."""


class MultiplierError(ValueError):
    pass


def js_round(value: float) -> int:
    """JavaScript's Math.round: halves go up (2.5 → 3, -2.5 → -2, -0.5 → 0), the one js_round of fixload
    (the multiplier's rounding here, the flows' clicks and conversions in fixload.flows.flow).

    Not `floor(value + 0.5)`: that addition itself rounds, so 0.49999999999999994 would become 1. Beyond
    2**52 every double is whole and comes back unchanged. NaN and ±Infinity have no integer: ValueError.
    """
    if not math.isfinite(value):
        raise ValueError(f"Math.round of {value!r} is not an integer")
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole


def round_rate(value: float) -> float:
    """The original's two-decimal rounding of rates: Math.round(x * 100) / 100."""
    return js_round(value * 100) / 100


def scaled_stages(stages: list[Stage], m: float) -> list[Stage]:
    """Stages with their targets multiplied, rounded as JavaScript rounds."""
    return [s.model_copy(update={"target": js_round(s.target * m)}) for s in stages]


def with_multiplier(text: str, multiplier: float) -> str:
    """A bound's message names the multiplier when one made the number."""
    return text if multiplier == 1 else f"{text} (with the multiplier {multiplier:g})"


class ScenarioConfig(K6Model):
    """The options every k6 scenario has, and what the plan asks of each executor (its subclasses answer)."""

    is_open_model: ClassVar[bool] = False
    """Arrival-rate (open model: iterations start on a schedule) rather than VUs looping (closed model)."""
    start_time: Duration = 0.0
    graceful_stop: Duration = 30.0
    tags: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    exec: str | None = None

    @classmethod
    def kind(cls) -> str:
        """The executor's k6 name: its `executor` literal."""
        return get_args(cls.model_fields["executor"].annotation)[0]

    def scaled(self, multiplier: float) -> Self:
        """These options with the multiplier applied, by the original wrapper's rules (FLOWS.md): load
        scales, thresholds never do; VUs round up, rates to two decimals, stage targets as JavaScript."""
        if multiplier == 1:
            return self
        return self.model_copy(update=self.scaled_fields(multiplier))

    @abstractmethod
    def scaled_fields(self, multiplier: float) -> dict[str, Any]:
        """The fields the multiplier changes, with their new values (MultiplierError if one cannot run)."""
        raise NotImplementedError

    @abstractmethod
    def nominal_duration(self) -> float:
        """How long the scenario runs before gracefulStop, as k6 counts it."""
        raise NotImplementedError

    def expected_iterations(self) -> int | None:
        """k6's exact count for arrival-rate executors and the finite ones; None for VU-time executors."""
        return None

    @abstractmethod
    def vus_needed(self) -> tuple[int, int]:
        """(VUs ready at start, the most VUs it may use)."""
        raise NotImplementedError

    def vus_at(self, elapsed: float) -> int:
        """The VUs a closed-model scenario runs `elapsed` seconds into it (within its duration)."""
        return self.vus_needed()[1]

    def peak_rate(self) -> float | None:
        """The highest target rate in iterations per second (None for a closed model)."""
        return None

    def bound_errors(self, where: str, multiplier: float) -> list[str]:
        """What is beyond fixload.engine.fields' bounds once scaled: one message per problem, naming `where`."""
        errors = []
        count = self.expected_iterations()
        if count is not None and count > MAX_ITERATIONS:
            errors.append(
                f"{where}.iterations: {with_multiplier(f'{count} iterations', multiplier)}"
                f"; the bound is {MAX_ITERATIONS} per scenario"
            )
        return errors + self.vus_bound_errors(where, multiplier)

    def vus_bound_errors(self, where: str, multiplier: float) -> list[str]:
        most = self.vus_needed()[1]
        if most > MAX_VUS:
            return [f"{where}: {with_multiplier(f'{most} VUs', multiplier)}; the bound is {MAX_VUS} per scenario"]
        return []


@dataclass(frozen=True)
class ScenarioPlan:
    """One scenario as it will run: its options with the multiplier applied, its flow, start and duration."""

    name: str
    flow: str
    executor: str
    scenario: Any  # the executor's ScenarioConfig (typed Any: each runtime reads its own executor's fields)
    start: float
    duration: float
    start_grid: float = START_GRID_S
    """The profile's `settings.startGrid` (s): an arrival-rate start may begin this late to share a wake-up."""

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def hard_end(self) -> float:
        """When the last running iteration is interrupted: the end plus gracefulStop.

        Also for ramping-vus: k6 cuts gracefulRampDown off at the end plus gracefulStop (`k6 inspect
        --execution-requirements` gives 25s for 20s of stages, gracefulStop 5s and gracefulRampDown 60s).
        """
        return self.end + self.scenario.graceful_stop

    @property
    def is_arrival_rate(self) -> bool:
        return self.scenario.is_open_model

    @property
    def expected_iterations(self) -> int | None:
        return self.scenario.expected_iterations()

    @property
    def peak_rate(self) -> float | None:
        return self.scenario.peak_rate()

    @property
    def vus(self) -> tuple[int, int]:
        """(VUs ready at start, the most VUs it may use)."""
        return self.scenario.vus_needed()

    def as_dict(self) -> dict[str, Any]:
        pre, most = self.vus
        return {
            "name": self.name,
            "flow": self.flow,
            "executor": self.executor,
            "options": self.scenario.model_dump(by_alias=True, mode="json"),
            "startTime": format_duration(self.start),
            "duration": format_duration(self.duration),
            "gracefulStop": format_duration(self.scenario.graceful_stop),
            "startSeconds": self.start,
            "endSeconds": self.end,
            "expectedIterations": self.expected_iterations,
            "peakRatePerSecond": self.peak_rate,
            "preAllocatedVUs": pre,
            "maxVUs": most,
        }


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
    """What one runner's executor did; the master sums these over runners.

    `scheduled` (the open model's starts that fell due: started + dropped; 0 for VU executors) and `active`
    (started and not yet ended) follow from the others, so an iteration costs the hot path two counts."""

    started: int = 0
    dropped: int = 0
    completed: int = 0
    interrupted: int = 0
    allocated: int = 0
    open_model: bool = field(default=False, repr=False)

    @property
    def scheduled(self) -> int:
        return self.started + self.dropped if self.open_model else 0

    @property
    def active(self) -> int:
        return self.started - self.completed - self.interrupted

    def as_dict(self) -> dict[str, int]:
        return {
            "scheduled": self.scheduled,
            "started": self.started,
            "dropped": self.dropped,
            "completed": self.completed,
            "interrupted": self.interrupted,
            "active": self.active,
            "allocated": self.allocated,
        }


class ScenarioExecutor:
    """Common machinery: VU bookkeeping, iteration metrics, gracefulStop.

    An iteration records k6's `iterations`, `iteration_duration` and fixload's `iteration_start_lag` through
    handles on its scenario's series (`Registry.recorder`), taken once and again only when the registry's
    taps change: a sample is then one C call. `registry` None (unit tests, benches): a registry of its own."""

    def __init__(self, plan: ScenarioPlan, share: Share, registry: Registry | None, clock: PlanClock) -> None:
        self.plan = plan
        self.name = plan.name
        self.share = share
        self.registry = registry if registry is not None else Registry()
        self.clock = clock
        self._origin = clock.origin
        self.counts = Counts(open_model=plan.scenario.is_open_model)
        self.vus: list[VU] = []
        self.done = Event()
        self.tags = {"scenario": plan.name, **plan.scenario.tags}
        self._generation = -1  # the registry generation the handles below belong to (`_take_handles`)
        self._record_lag = self._record_iteration = self._record_duration = _unset
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
        """Plan time in seconds (0 = the moment all scenarios' clocks start), on this process's monotonic clock
        (the per-iteration paths compute it inline, as `monotonic() - self._origin`)."""
        return monotonic() - self._origin

    def sleep_until(self, plan_time: float) -> None:
        """Sleep until `plan_time` (the VU executors' scenario end)."""
        delay = plan_time - self.now()
        if delay > 0:
            gevent.sleep(delay)

    # VUs -------------------------------------------------------------------------------------------------
    def join(self) -> VU:
        """A new VU of this scenario, run by the calling greenlet (its Locust user's)."""
        vu = VU(self, len(self.vus), greenlet=gevent.getcurrent())
        self.vus.append(vu)
        return vu

    # metrics ---------------------------------------------------------------------------------------------
    def _take_handles(self) -> None:
        """The handles on this scenario's iteration series, for the registry's generation now."""
        registry = self.registry
        generation = registry.generation
        self._record_lag = registry.recorder("iteration_start_lag", self.tags)
        self._record_iteration = registry.recorder("iterations", self.tags)
        self._record_duration = registry.recorder("iteration_duration", self.tags)
        self._generation = generation

    def begin(self, vu: VU, due: float | None = None) -> None:
        """`vu` starts an iteration now; `due`: when the schedule had it (its start lag is recorded)."""
        now = monotonic() - self._origin
        vu.busy_since = now
        self.counts.started += 1
        if due is not None:
            if self._generation != self.registry.generation:
                self._take_handles()
            self._record_lag((now - due) * 1000.0)

    def iteration_finished(self, vu: VU, interrupted: bool) -> None:
        started = vu.busy_since
        vu.busy_since = None
        if interrupted:
            self.counts.interrupted += 1
            return
        self.counts.completed += 1
        if self._generation != self.registry.generation:
            self._take_handles()
        self._record_iteration(1.0)
        if started is not None:
            self._record_duration((monotonic() - self._origin - started) * 1000.0)

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
            self.registry.add("dropped_iterations", float(self._unrecorded_drops), self.tags)
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

    def stop_starting(self, since: float) -> None:
        """The test is stopping (Locust stops the users next): start no iteration from plan time `since` on."""
        self.retire(since)

    def retire(self, since: float) -> None:
        """VU executors keep their VUs: which of them run is Locust's user dispatch, not a share."""

    def target_rate(self) -> float | None:
        return None


def _unset(value: float) -> None:
    """An iteration handle before `_take_handles` (never called: `begin` takes them first)."""
    raise AssertionError("an iteration handle used before `_take_handles`")
