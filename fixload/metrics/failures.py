"""Distinct failures of a run: the first of each (scenario, step, status) is logged with its body, the
repeats are counted, and the summary lists them (`fixload.scenarios.<scenario>.failures[]`).

A failing step fails every iteration the same way: under load that was thousands of identical log
lines, with the one that explains it (the body) scrolled away. So the first failure of each distinct
(step, status) is logged in full, and the summary says how often each one happened, with that first
body, redacted. Workers keep their own log and send their counts to the master with their reports
(`snapshot`/`merge`), so the summary of a distributed run counts every worker's failures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fixload.common.secrets import redact

BODY_LIMIT = 300
"""The first body as the summary keeps it (as the log line cuts it)."""


@dataclass(slots=True)
class Failure:
    scenario: str
    step: str
    status: int | None
    count: int
    body: str
    """The first body seen, whitespace collapsed, redacted, at most `BODY_LIMIT` characters."""

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status, "count": self.count, "body": self.body}


def _first_body(body: str) -> str:
    flat = redact(" ".join(body.split()))
    return flat[:BODY_LIMIT] + ("…" if len(flat) > BODY_LIMIT else "")


Key = tuple[str, str, int | None]


class FailureLog:
    """The run's distinct failures in this process; `record` says whether a failure is the first of its kind."""

    def __init__(self) -> None:
        self._all: dict[Key, Failure] = {}
        self._unsent: dict[Key, Failure] = {}
        """What this process counted since its last `snapshot` (a worker's delta for the master)."""

    def record(self, scenario: str, step: str, status: int | None, body: str) -> bool:
        """Count one failure; True when it is the first of its (scenario, step, status) here: log it."""
        key = (scenario, step, status)
        first = key not in self._all
        for table in (self._all, self._unsent):
            entry = table.get(key)
            if entry is None:
                table[key] = Failure(scenario, step, status, 1, _first_body(body))
            else:
                entry.count += 1
        return first

    def snapshot(self, reset: bool = True) -> list[dict[str, Any]]:
        """The counts since the last snapshot, as plain data (what a worker sends its master)."""
        out = [{"scenario": f.scenario, **f.as_dict()} for f in self._unsent.values()]
        if reset:
            self._unsent = {}
        return out

    def merge(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Add a worker's counts; the first body that reached the master stands."""
        for item in items:
            key = (str(item["scenario"]), str(item["step"]), item.get("status"))
            entry = self._all.get(key)
            if entry is None:
                self._all[key] = Failure(key[0], key[1], key[2], int(item["count"]), str(item.get("body", "")))
            else:
                entry.count += int(item["count"])

    def by_scenario(self) -> dict[str, list[dict[str, Any]]]:
        """Each scenario's failures, most frequent first (the summary's `failures[]`)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for failure in sorted(self._all.values(), key=lambda f: (-f.count, f.step, f.status or 0)):
            out.setdefault(failure.scenario, []).append(failure.as_dict())
        return out

    def clear(self) -> None:
        self._all.clear()
        self._unsent.clear()
