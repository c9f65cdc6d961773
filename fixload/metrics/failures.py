"""Failures of a run by kind: the first of each (scenario, step, status, reason) is logged with its body, the
repeats are counted, and the summary lists them (`fixload.scenarios.<scenario>.failures[]`).

A failing step fails every iteration the same way: under load that was thousands of identical log
lines, with the one that explains it (the body) scrolled away. So the first failure of each kind is logged
in full, and the summary says how often each kind happened, with that first body, redacted. A kind is the
step's message `normalised`: numbers, ids and offsets out ("line 1 column 152 (char 151)" is one kind
whatever the offset), so a soak of random truncations keeps a few entries, not one per iteration; and a
scenario keeps at most `MAX_KINDS`, the rest counted under one `OTHER` entry. Workers keep their own log and
send their counts to the master with their reports (`snapshot`/`merge`), so a distributed run counts all.
Each kind also keeps the ids (request id, trace id) of its first and last `KEPT_IDS` requests, and each
scenario its `SLOWEST` slowest requests' ids (`observe`): what to grep the backend's log for (docs/tracing.md).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fixload.common.secrets import redact

BODY_LIMIT = 300
"""The first body as the summary keeps it (as the log line cuts it)."""
MAX_KINDS = 50
"""Distinct kinds a scenario keeps; the rest are counted under `OTHER`."""
OTHER = f"other failures (more than {MAX_KINDS} kinds)"
KEPT_IDS = 3
"""Request ids a kind keeps of its first occurrences, and of its last ones."""
SLOWEST = 5
"""Slowest requests a scenario keeps (ids, latency, step)."""

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
    first: list[dict[str, Any]] = field(default_factory=list)
    """The ids of its first `KEPT_IDS` requests: `{"requestId", "traceId"}`."""
    last: list[dict[str, Any]] = field(default_factory=list)
    """The ids of its last `KEPT_IDS` requests after the first ones."""

    def keep(self, ids: Mapping[str, Any] | None) -> None:
        if not ids:
            return
        if len(self.first) < KEPT_IDS:
            self.first.append(dict(ids))
        else:
            self.last.append(dict(ids))
            del self.last[:-KEPT_IDS]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "status": self.status, "count": self.count, "body": self.body}
        if self.first:
            out["requests"] = {"first": list(self.first), "last": list(self.last)}
        return out


def _first_body(body: str) -> str:
    flat = redact(" ".join(body.split()))
    return flat[:BODY_LIMIT] + ("…" if len(flat) > BODY_LIMIT else "")


Key = tuple[str, str, int | None]


class FailureLog:
    """The run's distinct failures in this process; `record` says whether a failure is the first of its kind."""

    def __init__(self) -> None:
        self.slow: dict[str, list[tuple[float, int, dict[str, Any]]]] = {}
        """Each scenario's `SLOWEST` slowest requests, a min-heap on latency (all of this process's and merged)."""
        self._slow_unsent: dict[str, list[tuple[float, int, dict[str, Any]]]] = {}
        self._seq = 0
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

    def record(
        self, scenario: str, step: str, status: int | None, body: str, ids: Mapping[str, Any] | None = None
    ) -> bool:
        """Count one failure (`ids`: its request's `{"requestId", "traceId"}`); True when it is the first of
        its kind here (log it)."""
        key = self._key(scenario, step, status)
        first = key not in self._all
        for table in (self._all, self._unsent):
            entry = table.get(key)
            if entry is None:
                shown = step if key[1] != OTHER else OTHER  # the kind's first message, as its log line said
                entry = table[key] = Failure(scenario, shown, key[2], 1, _first_body(body))
                if table is self._all:
                    self._kinds[scenario] = self._kinds.get(scenario, 0) + 1
            else:
                entry.count += 1
            entry.keep(ids)
        return first

    def observe(self, scenario: str, latency_ms: float, request: Mapping[str, Any]) -> None:
        """One request's latency: kept when among the scenario's `SLOWEST` (`request`: its ids, step, name,
        status). The hot path: one comparison for a request that is not among them."""
        for table in (self.slow, self._slow_unsent):
            heap = table.get(scenario)
            if heap is None:
                heap = table[scenario] = []
            if len(heap) < SLOWEST:
                self._seq += 1
                heapq.heappush(heap, (latency_ms, self._seq, {**request, "latencyMs": round(latency_ms, 3)}))
            elif latency_ms > heap[0][0]:
                self._seq += 1
                heapq.heapreplace(heap, (latency_ms, self._seq, {**request, "latencyMs": round(latency_ms, 3)}))

    def snapshot(self, reset: bool = True) -> list[dict[str, Any]]:
        """The counts since the last snapshot, as plain data (what a worker sends its master); a scenario's
        slowest requests since then ride along as `{"scenario", "slowest": [...]}` items."""
        out = [{"scenario": f.scenario, **f.as_dict()} for f in self._unsent.values()]
        out += [{"scenario": s, "slowest": [r for _, _, r in heap]} for s, heap in self._slow_unsent.items() if heap]
        if reset:
            self._unsent = {}
            self._slow_unsent = {}
        return out

    def merge(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Add a worker's counts; the first body that reached the master stands, and its first ids until
        `KEPT_IDS` are kept; the last ids are the last that reached it."""
        for item in items:
            if "slowest" in item:
                for request in item["slowest"]:
                    self._merge_slow(str(item["scenario"]), request)
                continue
            key = self._key(str(item["scenario"]), str(item["step"]), item.get("status"))
            entry = self._all.get(key)
            if entry is None:
                shown = str(item["step"]) if key[1] != OTHER else OTHER
                entry = Failure(key[0], shown, key[2], int(item["count"]), str(item.get("body", "")))
                self._all[key] = entry
                self._kinds[key[0]] = self._kinds.get(key[0], 0) + 1
            else:
                entry.count += int(item["count"])
            requests = item.get("requests") or {}
            for ids in [*requests.get("first", ()), *requests.get("last", ())]:
                entry.keep(ids)

    def _merge_slow(self, scenario: str, request: Mapping[str, Any]) -> None:
        heap = self.slow.setdefault(scenario, [])
        latency = float(request.get("latencyMs") or 0.0)
        self._seq += 1
        if len(heap) < SLOWEST:
            heapq.heappush(heap, (latency, self._seq, dict(request)))
        elif latency > heap[0][0]:
            heapq.heapreplace(heap, (latency, self._seq, dict(request)))

    def slowest(self) -> dict[str, list[dict[str, Any]]]:
        """Each scenario's slowest requests, slowest first (the summary's `slowest[]`)."""
        return {s: [r for _, _, r in sorted(heap, key=lambda e: -e[0])] for s, heap in sorted(self.slow.items())}

    def by_scenario(self) -> dict[str, list[dict[str, Any]]]:
        """Each scenario's failures, most frequent first (the summary's `failures[]`)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for failure in sorted(self._all.values(), key=lambda f: (-f.count, f.step, f.status or 0)):
            out.setdefault(failure.scenario, []).append(failure.as_dict())
        return out

    def clear(self) -> None:
        self.slow.clear()
        self._slow_unsent.clear()
        self._all.clear()
        self._unsent.clear()
        self._kinds.clear()
