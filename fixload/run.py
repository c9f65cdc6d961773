"""The state of one run inside one Locust process, found from the Locust `Environment`.

Flows, the engine and the plugin all need the same few things (the resolved config, the metrics
registry, the fixtures, the engine). Keeping them in one object per Environment, rather than in module
globals, lets tests run several Locust environments in one process.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gevent.event import Event

from fixload.failures import FailureLog
from fixload.metrics import Registry, SinkCache

if TYPE_CHECKING:
    from locust.env import Environment

    from fixload.config import RunConfig
    from fixload.executors import Engine


@dataclass
class Run:
    config: RunConfig | None = None
    registry: Registry = field(default_factory=Registry)
    fixtures: dict[str, str] = field(default_factory=dict)
    failures: FailureLog = field(default_factory=FailureLog)
    """The flows' distinct failures (first body logged, repeats counted; `fixload.failures`)."""
    engine: Engine | None = None
    halted: bool = False
    """True once the run must send nothing more (setup failed, invalid config): users stop at once."""
    ready: Event = field(default_factory=Event)
    """Set once this runner knows what its users do (fixtures, and the engine for a scenario run). Users
    wait for it, so a worker never sends a request it was not told to (before its share arrives, say)."""
    extra: dict[str, Any] = field(default_factory=dict)
    sinks: SinkCache = field(init=False)
    """The registry's sinks by the hot path's own keys (every request and iteration records through it)."""

    def __post_init__(self) -> None:
        self.sinks = SinkCache(self.registry)


_runs: weakref.WeakKeyDictionary[Environment, Run] = weakref.WeakKeyDictionary()


def run_for(environment: Environment) -> Run:
    """This environment's run state, created on first use."""
    run = _runs.get(environment)
    if run is None:
        run = _runs[environment] = Run()
    return run
