"""The state of one run inside one Locust process, found from the Locust `Environment`.

Flows, the engine and the plugin all need the same few things (the resolved config, the metrics
registry, the fixtures, the engine). Keeping them in one object per Environment, rather than in module
globals, lets tests run several Locust environments in one process.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fixload.metrics import Registry

if TYPE_CHECKING:
    from locust.env import Environment

    from fixload.config import RunConfig
    from fixload.executors import Engine


@dataclass
class Run:
    config: RunConfig | None = None
    registry: Registry = field(default_factory=Registry)
    fixtures: dict[str, str] = field(default_factory=dict)
    engine: Engine | None = None
    halted: bool = False
    """True once the run must send nothing more (setup failed, invalid config): users stop at once."""
    extra: dict[str, Any] = field(default_factory=dict)

    def tags_for(self, scenario: str) -> dict[str, str]:
        return {"scenario": scenario}


_runs: weakref.WeakKeyDictionary[Environment, Run] = weakref.WeakKeyDictionary()


def run_for(environment: Environment) -> Run:
    """This environment's run state, created on first use."""
    run = _runs.get(environment)
    if run is None:
        run = _runs[environment] = Run()
    return run
