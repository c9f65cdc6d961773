"""The run's runtime inside one Locust process, built once at init by `fixload.plugin`, and its role's interface.

Flows, the engine, the protocol and every surface need the same few things (the resolved config, the
metrics registry, the fixtures, the engine, where the run stands). They are one typed `Runtime`, built
once per Locust environment and handed to whatever the plugin installs; the classes Locust constructs
with nothing but the environment (users, the shape) find it with `fixload.flows.user.runtime_of`. Each
field has one owner: the config is written only by `Runtime.configure`, a worker's plan from its master
goes into `plan_from_master`. The process role (local, master, worker: `Role`, chosen once in
`fixload.runtime.role.role_for`) holds what differs between runners; nothing else asks which runner it is on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import gevent

from fixload.flows.user import attach
from fixload.metrics.failures import FailureLog
from fixload.metrics.registry import Registry
from fixload.runtime.lifecycle import HaltReason, RunLifecycle, State

if TYPE_CHECKING:
    from http.server import HTTPServer

    from locust.env import Environment
    from prometheus_client import CollectorRegistry

    from fixload.common.clock import PlanClock
    from fixload.engine.base import Share
    from fixload.engine.engine import Engine
    from fixload.metrics.thresholds import ThresholdSet
    from fixload.profile.config import RunConfig
    from fixload.profile.plan import Plan

IDLE_TIMEOUT = 2.0
"""How long a runner waits at the end for interrupted iterations to record their samples."""
END_GRACE = 2.0
"""Plan seconds past the plan's duration (gracefulStop included) after which the master ends the test even
if a worker has not said it finished (one lost without a trace, or whose clock is behind: `master`)."""
WATCH_INTERVAL = 0.2
"""How often the master's and the guard's watchers look."""


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
class Runtime:
    """One Locust environment's run: built once at init, handed to everything the plugin installs."""

    environment: Environment
    config: RunConfig | None = None
    """What the run does (plan, target, env); written only by `configure`."""
    config_key: tuple[str | None, float | None] | None = None
    """The (profile, multiplier) options `config` was loaded from; the web UI may change them."""
    thresholds: ThresholdSet | None = None
    plan_from_master: Plan | None = None
    """Worker: the plan its master sent with `fixload_start` (the plan its users run, over `config`'s)."""
    registry: Registry = field(default_factory=Registry)
    fixtures: dict[str, str] = field(default_factory=dict)
    failures: FailureLog = field(default_factory=FailureLog)
    """The flows' distinct failures (first body logged, repeats counted; `fixload.metrics.failures`)."""
    engine: Engine | None = None
    lifecycle: RunLifecycle = field(default_factory=RunLifecycle)
    test: TestState | None = None
    """The master's/local runner's view of the running test (kept by its role and the shape)."""
    iteration_counters: dict[str, Iterator[int]] = field(default_factory=dict)
    """k6's `exec.scenario.iterationInTest` per scenario, counted in this process for this test."""
    role: Role = field(init=False)
    """This process's role, chosen once at init (`fixload.runtime.role.role_for`)."""
    refused: str = ""
    """The web UI's last refused START, said in its banner until a test starts."""
    reported: dict[str, Any] | None = None
    """The summary the JUnit/HTML reports were last written for (they are written once per summary)."""
    time_series: Callable[[], dict[str, Any]] | None = None
    """The live view's time series for the summary (`fixload.runtime.live.install` sets it)."""
    prometheus_registry: CollectorRegistry | None = None
    prometheus_server: HTTPServer | None = None
    samples_state: dict[str, Any] = field(default_factory=lambda: {"writer": None})
    """`--samples`: this test's writer (`fixload.surfaces.samples`), None when off."""
    otel_state: dict[str, Any] = field(default_factory=lambda: {"exporter": None})
    """`--otel-endpoint`: the exporter (`fixload.surfaces.otel`), None when off."""
    recording: Any = None
    """The response whose HTTP samples the recorder is recording right now, set only while the registry has
    taps (`--samples` reads the request's ids from it; fixload.runtime.recorder)."""

    @classmethod
    def standalone(
        cls, environment: Environment, config: RunConfig | None = None, fixtures: Mapping[str, str] | None = None
    ) -> Runtime:
        """A runtime for an environment fixload's plugin does not drive (`fixload check`, tests): configured
        with `config`, attached so its users find it, no role (its users run as plain Locust users)."""
        runtime = cls(environment)
        if config is not None:
            runtime.configure(config, None, None)
        runtime.fixtures = dict(fixtures or {})
        attach(environment, runtime)
        return runtime

    def configure(
        self, config: RunConfig | None, key: tuple[str | None, float | None] | None, thresholds: ThresholdSet | None
    ) -> None:
        """A new configuration (at init, or the web UI's START with another profile; or the one that stood
        before, when the new one is refused): the one writer of `config`, its key and the thresholds."""
        self.config, self.config_key, self.thresholds = config, key, thresholds

    @property
    def plan(self) -> Plan | None:
        """The plan this process's users run: its master's on a worker, else the configured one."""
        if self.plan_from_master is not None:
            return self.plan_from_master
        return self.config.plan if self.config is not None else None

    @property
    def halted(self) -> bool:
        """No user may send anything more in this test (see `RunLifecycle.halt`)."""
        return self.lifecycle.halted

    @property
    def runner(self) -> Any:
        return self.environment.runner

    def record_crash(self, what: str) -> None:
        """The first engine error of the run (the component and its redacted exception) halts it: the shape's
        next tick ends the test through Locust's own path, and nothing that did not run reports passed."""
        self.lifecycle.stop_sending(HaltReason.ENGINE_ERROR, what)

    def wait_idle(self) -> None:
        """Let interrupted iterations unwind and record their samples (bounded)."""
        deadline = time.monotonic() + IDLE_TIMEOUT
        gevent.sleep(0)
        while self.engine is not None and self.engine.running() and time.monotonic() < deadline:
            gevent.sleep(0.02)


class Role:
    """What differs between a local runner, a master and a worker, behind one small interface. Chosen once
    at init (`fixload.runtime.role.role_for`); the shared parts are here, the rest in `local`, `master` and
    `worker` (the master/worker messages live only in those two)."""

    name: ClassVar[str] = "local"
    """`local`, `master` or `worker`: what exports and logs call this process."""
    leads: ClassVar[bool] = True
    """This process decides the test (plans, provisions, summarizes): a master or a local runner."""
    lead_seconds: ClassVar[float] = 0.0
    """Time between the decision to start and t0."""
    counts_arrive_in_reports: ClassVar[bool] = False
    """The counts come from workers' periodic reports (every 3 s), not from an engine here."""

    def __init__(self, runtime: Runtime, runner: Any) -> None:
        self.runtime = runtime
        self.runner = runner

    def install(self) -> None:
        """Register this role's side of the master/worker protocol (none on a local runner)."""

    def processes(self) -> int | None:
        """How many processes share the load at validation (a worker knows only its share: None)."""
        return 1

    def worker_count(self) -> int:
        """How many processes share the VUs and the spawn rate now (1 unless distributed)."""
        return 1

    def workers(self) -> list[str]:
        """The workers Locust counts (none unless a master)."""
        return []

    def every_worker_gone(self) -> bool:
        """A master whose workers all quit or were lost (never on other roles)."""
        return False

    def scenarios_over(self, state: TestState) -> bool:
        return self.runtime.engine is not None and self.runtime.engine.finished.is_set()

    def begin(self) -> None:
        """test_start: the common clock, this process's engine or the workers' shares."""

    def halt_workers(self) -> None:
        """Setup failed: no worker may send anything (only a master has any)."""

    def flush(self) -> None:
        """At the end: collect every worker's last samples (only a master has any)."""

    def quitting(self) -> None:
        """The process quits (a worker sends its last samples; the leading roles finalize in the driver)."""

    def counts(self) -> dict[str, dict[str, int]]:
        """Per-scenario engine counts over every runner (a lost worker keeps its last report)."""
        runtime = self.runtime
        if runtime.engine is not None:
            return runtime.engine.counts()
        return {} if runtime.test is None else runtime.test.totals()

    def elapsed(self) -> float:
        state = self.runtime.test
        if state is None or state.clock is None:
            return 0.0
        return max(0.0, state.clock.now())

    def end(self) -> None:
        """Stop this runner's engine and background work."""
        runtime = self.runtime
        if runtime.engine is not None:
            runtime.engine.stop()
        state = runtime.test
        if state is not None:
            state.finished = True
            for greenlet in state.greenlets:
                greenlet.kill(block=False)

    def reset(self) -> None:
        """Forget the finished test (the web UI may start another)."""
        runtime = self.runtime
        runtime.test = None
        runtime.engine = None
        lifecycle = runtime.lifecycle
        if lifecycle.state in (State.WAITING, State.RUNNING):
            lifecycle.to(State.CONFIGURED)
        lifecycle.ready.clear()
