"""Run the suite in shards, whole test files each, balanced by how long each file took (`tests/durations.json`).

Most of the suite waits on real processes (a simulator, Locust, a browser), so on the 2-core CI machine two
shards side by side take a little over half the time of one. `scripts/test` starts them; by hand:

    python -m pytest --shard 1/2        # the files given to shard 1 of 2
    python -m pytest --store-file-durations tests/durations.json   # refresh the weights after a full run

A file stays whole in one shard: a module's tests may share a module-scoped fixture and build on each other's
state (a web UI test reads the verdict the test before it produced). A file not in `durations.json` weighs as
much as the median file.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fixload shards")
    group.addoption("--shard", metavar="K/N", help="run only the test files of shard K of N (1-based)")
    group.addoption("--store-file-durations", metavar="PATH", help="write each test file's seconds to PATH")


def parse_shard(value: str) -> tuple[int, int]:
    """'1/2' → (1, 2); anything else is a usage error naming the option."""
    try:
        k, n = (int(part) for part in value.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--shard: expected K/N (e.g. 1/2), got {value!r}") from None
    if not 1 <= k <= n:
        raise pytest.UsageError(f"--shard: expected 1 <= K <= N, got {value!r}")
    return k, n


def assign(files: list[str], weights: dict[str, float], n: int) -> list[list[str]]:
    """Each file to the least loaded of `n` shards, heaviest first (ties by name, so every shard's process,
    given the same files, computes the same assignment)."""
    default = statistics.median(weights.values()) if weights else 1.0
    shards: list[list[str]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for file in sorted(files, key=lambda f: (-weights.get(f, default), f)):
        i = loads.index(min(loads))
        shards[i].append(file)
        loads[i] += weights.get(file, default)
    return shards


def _file(nodeid: str) -> str:
    """The test file a node id names (`tests/test_x.py::test_y[a]` → `tests/test_x.py`): the shards' unit."""
    return nodeid.split("::")[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    value = config.getoption("--shard")
    if not value:
        return
    k, n = parse_shard(value)
    weights = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    mine = set(assign(sorted({_file(item.nodeid) for item in items}), weights, n)[k - 1])
    kept: list[pytest.Item] = []
    others: list[pytest.Item] = []
    for item in items:
        (kept if _file(item.nodeid) in mine else others).append(item)
    config.hook.pytest_deselected(items=others)
    items[:] = kept


class _FileDurations:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[_file(report.nodeid)] += report.duration

    def pytest_sessionfinish(self) -> None:
        rounded = {file: round(s, 1) for file, s in sorted(self.seconds.items())}
        self.path.write_text(json.dumps(rounded, indent=1) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--store-file-durations")
    if path:
        config.pluginmanager.register(_FileDurations(Path(path)), "fixload-file-durations")
