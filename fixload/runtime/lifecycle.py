"""The run's lifecycle inside one Locust process: one typed object, explicit states, one transition table.

Every surface reads where the run stands from here, never from flags of its own. The states, in order:
new → configured → provisioning → waiting → running → finalizing → done (a new web UI test goes back to
configured); `MEANING` below says what each means, `TRANSITIONS` where each may move. Orthogonal to
the state, a run can be **halted** (`halt`): no user sends anything more and the shape ends the test at
its next tick; the reason maps to the summary's status and k6's exit code (`fixload.runtime.outcome`). A
signal is recorded as `interrupted_by`; Locust's own stop path then ends the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gevent.event import Event


class State(StrEnum):
    NEW = "new"
    CONFIGURED = "configured"
    PROVISIONING = "provisioning"
    WAITING = "waiting"
    RUNNING = "running"
    FINALIZING = "finalizing"
    DONE = "done"


MEANING: dict[State, str] = {
    State.NEW: "fixload's plugin has not configured this environment (plain library use)",
    State.CONFIGURED: "the profile, environment and thresholds are loaded; no test is running",
    State.PROVISIONING: "test_start on the master/local runner: the fixtures are being resolved",
    State.WAITING: "the test has begun but this runner does not yet know what its users do (a worker before "
    "its share arrives, a master sending shares): users wait",
    State.RUNNING: "users may send: the engine has its share (or, closed model, the fixtures)",
    State.FINALIZING: "the test is ending: engines stopped, last reports collected, summary written",
    State.DONE: "the summary stands; a new test (web UI) goes back to `configured`",
}
"""What each state means: the table docs/architecture.md shows, with `TRANSITIONS` beside it."""


class HaltReason(StrEnum):
    """Why a run must send nothing more."""

    SETUP_FAILED = "setup-failed"
    """The fixtures could not be provisioned (here, or on the master: a worker hears it)."""
    ABORTED = "aborted"
    """An `abortOnFail` threshold was crossed."""
    INVALID = "invalid"
    """The profile could not be run when the test started (no user class for a scenario, ...)."""
    ENDED = "ended"
    """Worker: the master ended the test (or this worker is quitting) and its last report is sent."""
    MASTER_LOST = "master-lost"
    """Worker: the master's heartbeat stopped; the worker stops its load and exits."""
    ENGINE_ERROR = "engine-error"
    """An executor, the engine, the shape or a watcher greenlet crashed (detail: the component and the
    redacted exception): the run ends aborted with k6's GoPanic exit code, 109 (fixload's own code failed)."""
    SETUP_TIMEOUT = "setup-timeout"
    """Setup (the fixtures) ran past `setupTimeout`: status setup_failed, k6's SetupTimeout exit code, 100."""
    WORKER_REFUSED = "worker-refused"
    """Master: a worker whose locustfiles lack scenarios of the plan was refused; the run cannot be what the
    profile says (status error, exit 1)."""
    INCOMPLETE = "incomplete"
    """Master/local: the plan did not end by its deadline (plan end + gracefulStop + grace + slack), or every
    worker left before it ended: status error, exit 1."""


TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.CONFIGURED}),
    State.CONFIGURED: frozenset({State.PROVISIONING, State.WAITING, State.RUNNING, State.FINALIZING}),
    State.PROVISIONING: frozenset({State.WAITING, State.RUNNING, State.FINALIZING}),
    State.WAITING: frozenset({State.RUNNING, State.FINALIZING, State.CONFIGURED}),
    State.RUNNING: frozenset({State.WAITING, State.FINALIZING, State.CONFIGURED}),
    State.FINALIZING: frozenset({State.DONE}),
    State.DONE: frozenset({State.CONFIGURED}),
}
"""Allowed moves. A worker goes configured → waiting → running and back to configured when its test
stops (workers write no summary); `running → waiting` is a worker hearing a new plan mid-test; a master
or local runner goes on to finalizing → done, and from done back to configured for the next test."""


class LifecycleError(RuntimeError):
    """A transition the table does not allow: a bug in the driver, never the user's input."""


@dataclass(frozen=True)
class Halt:
    reason: HaltReason
    detail: str = ""


@dataclass
class RunLifecycle:
    state: State = State.NEW
    halt: Halt | None = None
    """Set once no user may send anything more in this test; the first reason stands."""
    interrupted_by: str = ""
    """The signal (SIGINT/SIGTERM) that stopped this test, if one did."""
    stopped_by: str = ""
    """What else ended this test before its scenarios did without making it early (`run-time`: -t)."""
    setup_failure: dict[str, Any] | None = None
    """The failed setup request (method, route, status, redacted body) for the summary."""
    started_at: datetime | None = None
    """Wall-clock start of this test as the summary reports it (master/local runner)."""
    summary: dict[str, Any] | None = None
    """The last test's summary, once written."""
    console: str = ""
    """The console summary of a headless run, printed after Locust's own tables at quit."""
    reset_pending: bool = False
    """Locust stopped the test while a finalize was still waiting for worker reports: forget the test's
    state when that finalize is done, not before."""
    refused: dict[str, str] = field(default_factory=dict)
    """Master: workers refused at connect (their locustfiles lack scenarios of the plan), with why. Kept
    across tests: such a worker has exited."""
    finalizer: Any = None
    """Master/local: the greenlet finalizing the test (apart from Locust's, which Locust may kill)."""
    ready: Event = field(default_factory=Event)
    """Set while users may act (state `running`, or halted: they wake and end). Users wait on it."""
    history: list[State] = field(default_factory=list)

    def to(self, new: State) -> None:
        """Move to `new`; `LifecycleError` if the table does not allow it."""
        if new not in TRANSITIONS[self.state]:
            raise LifecycleError(f"run lifecycle: {self.state} → {new} is not an allowed transition")
        self.history.append(self.state)
        self.state = new
        if new is State.RUNNING:
            self.ready.set()

    def ensure(self, new: State) -> None:
        """Be in `new`: move there unless already there."""
        if self.state is not new:
            self.to(new)

    @property
    def driven(self) -> bool:
        """fixload's plugin configured this environment: its users wait for `ready` before sending."""
        return self.state is not State.NEW

    @property
    def halted(self) -> bool:
        return self.halt is not None

    @property
    def ending(self) -> bool:
        """The test is finalizing or done: a late signal or stop changes nothing."""
        return self.state in (State.FINALIZING, State.DONE)

    @property
    def test_started(self) -> bool:
        """A test began on this master/local runner (so there is something to summarize)."""
        return self.started_at is not None

    def stop_sending(self, reason: HaltReason, detail: str = "") -> None:
        """Halt: no user sends anything more. Waiting users wake, see it and end without a request."""
        if self.halt is None:
            self.halt = Halt(reason, detail)
        self.ready.set()

    def new_test(self) -> None:
        """Forget the last test's outcome before the next one (a second test from the web UI)."""
        if self.state is State.DONE:
            self.to(State.CONFIGURED)
        self.halt = None
        self.interrupted_by = ""
        self.stopped_by = ""
        self.setup_failure = None
        self.summary = None
        self.console = ""
        self.started_at = None
        self.reset_pending = False
        if self.state is not State.RUNNING:
            self.ready.clear()
