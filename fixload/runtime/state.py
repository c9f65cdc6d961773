"""The state of one run inside one Locust process, found from the Locust `Environment`.

Flows, the engine, the protocol and every surface need the same few things (the resolved config, the
metrics registry, the fixtures, the engine, where the run stands). They hang off the environment in one
`Run`, typed, rather than in module globals or a dict of string flags, so tests can run several Locust
environments in one process and every reader sees the same truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gevent

from fixload.flows.user import NotConfigured, attach, runtime_of
from fixload.metrics.failures import FailureLog
from fixload.metrics.registry import Registry, SinkCache
from fixload.runtime.lifecycle import RunLifecycle

if TYPE_CHECKING:
    from locust.env import Environment

    from fixload.common.clock import PlanClock
    from fixload.engine.base import Share
    from fixload.engine.engine import Engine
    from fixload.metrics.thresholds import ThresholdSet
    from fixload.profile.config import RunConfig
    from fixload.profile.plan import Plan


@dataclass
class TestState:
    """What the master/local runner knows about the running test."""

    plan: Plan
    classes: dict[str, type]
    users: int
    spawn_rate: float
    t0: float = 0.0
    """The common start as a wall-clock instant: what the workers are sent, never read for the schedule."""
    clock: PlanClock | None = None
    """This process's plan clock (monotonic), set when the test starts."""
    started: bool = False
    finished: bool = False
    workers: list[str] = field(default_factory=list)
    worker_events: list[dict[str, Any]] = field(default_factory=list)
    worker_counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    worker_finished: dict[str, bool] = field(default_factory=dict)
    greenlets: list[gevent.Greenlet] = field(default_factory=list)
    shares: dict[str, list[tuple[Share, float]]] = field(default_factory=dict)
    """Master: every share each worker was given, with the plan time it ended (inf: still running), so the
    master knows exactly what a lost worker was due."""

    def plan_time(self) -> float:
        """Plan seconds now on this process's monotonic clock (0 before the test starts)."""
        return self.clock.now() if self.clock is not None else 0.0

    def give(self, client_id: str, share: Share) -> None:
        """Record a worker's new share; its previous one ends where the new one begins."""
        history = self.shares.setdefault(client_id, [])
        if history and history[-1][1] == math.inf:
            history[-1] = (history[-1][0], share.since)
        history.append((share, math.inf))

    def retire(self, client_id: str, since: float) -> None:
        """A lost worker's last share ends at `since` (the survivors' new share begins there)."""
        history = self.shares.get(client_id)
        if history and history[-1][1] == math.inf:
            history[-1] = (history[-1][0], since)

    def lost_gap(self, client_id: str, scenario: str) -> int:
        """Iterations a lost worker was due in `scenario` that it never reported (started or dropped): those
        due between its last report and the takeover, and any it started after its last report. They count
        as dropped, reason `worker_lost`, so scheduled == started + dropped stays exact. O(log n) a share."""
        planned = self.plan.scenarios[scenario]
        if not planned.is_arrival_rate:
            return 0
        due = sum(
            planned.scenario.count_between(share.since - planned.start, until - planned.start, share.index, share.count)
            for share, until in self.shares.get(client_id, [])
        )
        reported = self.worker_counts.get(client_id, {}).get(scenario, {}).get("scheduled", 0)
        return max(0, due - reported)

    def totals(self) -> dict[str, dict[str, int]]:
        """Per-scenario counts over every worker (a lost worker keeps its last report, plus what it was due
        and never reported: dropped, `dropped_worker_lost`)."""
        total: dict[str, dict[str, int]] = {}
        for per_worker in self.worker_counts.values():
            for scenario, values in per_worker.items():
                into = total.setdefault(scenario, {})
                for key, value in values.items():
                    into[key] = into.get(key, 0) + value
        for client_id in sorted(set(self.shares) - set(self.workers)):  # the lost ones
            for scenario in self.plan.scenarios:
                gap = self.lost_gap(client_id, scenario)
                if gap:
                    into = total.setdefault(scenario, {})
                    for key in ("scheduled", "dropped", "dropped_worker_lost"):
                        into[key] = into.get(key, 0) + gap
        return total


@dataclass
class Surfaces:
    """What the operator surfaces keep per environment (each writes only its own field)."""

    live: Any = None
    """The `runtime.live.Live` view (get it with `runtime.live.live_for`; this layer does not know the type)."""
    prometheus_registry: Any = None
    prometheus_server: Any = None
    refused: str = ""
    """The web UI's last refused START, said in its banner until a test starts."""
    reported: dict[str, Any] | None = None
    """The summary the JUnit/HTML reports were last written for (they are written once per summary)."""


@dataclass
class Run:
    config: RunConfig | None = None
    config_key: tuple[str | None, float | None] | None = None
    """The (profile, multiplier) options `config` was loaded from; the web UI may change them."""
    thresholds: ThresholdSet | None = None
    registry: Registry = field(default_factory=Registry)
    fixtures: dict[str, str] = field(default_factory=dict)
    failures: FailureLog = field(default_factory=FailureLog)
    """The flows' distinct failures (first body logged, repeats counted; `fixload.metrics.failures`)."""
    engine: Engine | None = None
    lifecycle: RunLifecycle = field(default_factory=RunLifecycle)
    test: TestState | None = None
    """The master's/local runner's view of the running test (kept by `fixload.runtime.coordinator`)."""
    alive: dict[str, float] = field(default_factory=dict)
    """Master: when each worker last said it is alive (monotonic seconds)."""
    flushed: set[str] = field(default_factory=set)
    """Master: the workers whose final report arrived during this finalize."""
    closed_running: bool = False
    """Master: a closed-model test runs, so a joining worker gets the fixtures when it first says alive."""
    iteration_counters: dict[str, Iterator[int]] = field(default_factory=dict)
    """k6's `exec.scenario.iterationInTest` per scenario, counted in this process for this test."""
    surfaces: Surfaces = field(default_factory=Surfaces)
    sinks: SinkCache = field(init=False)
    """The registry's sinks by the hot path's own keys (every request and iteration records through it)."""

    def __post_init__(self) -> None:
        self.sinks = SinkCache(self.registry)

    @property
    def halted(self) -> bool:
        """No user may send anything more in this test (see `RunLifecycle.halt`)."""
        return self.lifecycle.halted


def run_for(environment: Environment) -> Run:
    """This environment's run state, created on first use."""
    try:
        return runtime_of(environment)  # type: ignore[return-value]
    except NotConfigured:
        run = Run()
        attach(environment, run)
        return run
