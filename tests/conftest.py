"""Shared pytest fixtures. Add yours below, one block per concern, with a docstring saying what it gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import locust  # noqa: F401  Locust patches gevent in first, as in a real run: a test module may import ssl next
import pytest

from fixload.simulator.process import SimulatorProcess

pytest_plugins = ["tests.shard"]  # --shard K/N, --store-file-durations (scripts/test runs two shards)


# ---------------------------------------------------------------------- the embedded Fixnado (issue 4)
@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorProcess]:
    """One `fixload serve` process (the product's auth) shared by the session. Its store accumulates across tests:
    call `simulator.reset_stats()` before counting, and use `make_simulator` when a test needs empty state."""
    with SimulatorProcess() as sim:
        yield sim


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., SimulatorProcess]]:
    """Fresh simulators on demand (`make_simulator(auth="strict", faults=[...], seed=1)`), stopped after the test."""
    started: list[SimulatorProcess] = []

    def factory(**kwargs: Any) -> SimulatorProcess:
        sim = SimulatorProcess(**kwargs).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()
