"""Failures of a run by kind: the first of each (scenario, step, status, reason) is logged with its body, the
repeats are counted, and the summary lists them (`fixload.scenarios.<scenario>.failures[]`).

A failing step fails every iteration the same way: under load that was thousands of identical log
lines, with the one that explains it (the body) scrolled away. So the first failure of each kind is logged
in full, and the summary says how often each kind happened, with that first body, redacted. A kind is the
step's message `normalised`: numbers, ids and offsets out ("line 1 column 152 (char 151)" is one kind
whatever the offset), so a soak of random truncations keeps a few entries, not one per iteration; and a
scenario keeps at most `MAX_KINDS`, the rest counted under one `OTHER` entry. Workers keep their own log and
send their counts to the master with their reports (`snapshot`/`merge`), so a distributed run counts all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fixload.common.secrets import redact

BODY_LIMIT = 300
"""The first body as the summary keeps it (as the log line cuts it)."""
MAX_KINDS = 50
"""Distinct kinds a scenario keeps; the rest are counted under `OTHER`."""
OTHER = f"other failures (more than {MAX_KINDS} kinds)"

_UUID = re.compile(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_ID = re.compile(r"\b(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]*[A-Za-z0-9]{6,}[A-Za-z0-9_-]*\b")
"""A word of 6+ letters and digits holding a digit: an id, a hash, a timestamp."""
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def normalised(reason: str) -> str:
    """A failure's message as its kind: UUIDs and other ids become `<id>`, numbers `N`, whitespace one space."""
    text = _UUID.sub("<id>", " ".join(reason.split()))
    return _NUMBER.sub("N", _ID.sub("<id>", text))


@dataclass(slots=True)
class Failure:
    scenario: str
    step: str
    """The first message of its kind (its key is this message `normalised`)."""
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
        self._kinds: dict[str, int] = {}
        """Kinds per scenario in `_all`."""

    def _key(self, scenario: str, step: str, status: int | None) -> Key:
        """The kind of a failure: (scenario, normalised step, status), or the scenario's `OTHER` when it has
        `MAX_KINDS` kinds already."""
        key = (scenario, normalised(step), status)
        if step != OTHER and (key in self._all or self._kinds.get(scenario, 0) < MAX_KINDS):
            return key
        return (scenario, OTHER, None)

    def record(self, scenario: str, step: str, status: int | None, body: str) -> bool:
        """Count one failure; True when it is the first of its kind here (log it)."""
        key = self._key(scenario, step, status)
        first = key not in self._all
        for table in (self._all, self._unsent):
            entry = table.get(key)
            if entry is None:
                shown = step if key[1] != OTHER else OTHER  # the kind's first message, as its log line said
                table[key] = Failure(scenario, shown, key[2], 1, _first_body(body))
                if table is self._all:
                    self._kinds[scenario] = self._kinds.get(scenario, 0) + 1
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
            key = self._key(str(item["scenario"]), str(item["step"]), item.get("status"))
            entry = self._all.get(key)
            if entry is None:
                shown = str(item["step"]) if key[1] != OTHER else OTHER
                self._all[key] = Failure(key[0], shown, key[2], int(item["count"]), str(item.get("body", "")))
                self._kinds[key[0]] = self._kinds.get(key[0], 0) + 1
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
        self._kinds.clear()
