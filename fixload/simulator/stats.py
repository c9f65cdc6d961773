"""Server-side truth: what the simulator really received, independent of the load generator's own books.

Per route (method + path template) it keeps a request count, status counts and a log-bucketed latency
histogram (1% resolution, constant memory however long the soak); separately a bounded ring buffer of
recent requests in arrival order, so tests can check payloads and headers (never the token itself).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

_LOG_BASE = math.log(1.01)  # bucket width: 1% of the value, so percentiles are within 1%
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99))


class Histogram:
    """Latencies in microseconds, bucketed on a log scale: O(1) record, bounded memory, ~1% error."""

    __slots__ = ("buckets", "count", "max_us", "total_us")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total_us = 0.0
        self.max_us = 0.0

    def record(self, micros: float) -> None:
        key = int(math.log(micros) / _LOG_BASE) if micros >= 1.0 else 0
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1
        self.total_us += micros
        if micros > self.max_us:
            self.max_us = micros

    def percentile(self, q: float) -> float:
        """The q-quantile in microseconds (the bucket's midpoint)."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                return min(math.exp((key + 0.5) * _LOG_BASE), self.max_us) if key else 1.0
        return self.max_us

    def summary_ms(self) -> dict[str, float]:
        out = {name: round(self.percentile(q) / 1000.0, 3) for name, q in PERCENTILES}
        out["mean"] = round(self.total_us / self.count / 1000.0, 3) if self.count else 0.0
        out["max"] = round(self.max_us / 1000.0, 3)
        return out


class QueueStats:
    """One capacity rule's queue (fixload.simulator.faults.Capacity): the most that ever waited, how many were
    served, and each request's time in the queue (a Histogram); waiting and in service now come from the rule."""

    __slots__ = ("max_queued", "served", "wait")

    def __init__(self) -> None:
        self.max_queued = 0
        self.served = 0
        self.wait = Histogram()

    def record(self, waited_s: float, queued: int) -> None:
        self.wait.record(waited_s * 1_000_000.0)
        self.max_queued = max(self.max_queued, queued)

    def reset(self) -> None:
        self.max_queued = 0
        self.served = 0
        self.wait = Histogram()

    def snapshot(self, capacity: Any) -> dict[str, Any]:
        queued, in_service = capacity.queue_now()
        return {
            "concurrency": capacity.concurrency,
            "serviceMs": round(capacity.service_s * 1000.0, 3),
            "maxPerSecond": round(capacity.concurrency / capacity.service_s, 3),
            "inService": in_service,
            "queued": queued,
            "maxQueued": max(self.max_queued, queued),
            "served": self.served,
            "queueMs": self.wait.summary_ms(),
        }


@dataclass(slots=True)
class RouteStats:
    count: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latency: Histogram = field(default_factory=Histogram)


@dataclass(slots=True)
class RequestRecord:
    """One received request; `status` stays None while it is in flight (or hanging forever)."""

    seq: int
    at: float
    method: str
    path: str
    route: str
    query: str
    body: bytes
    auth_present: bool
    auth_role: str | None
    auth_valid: bool
    origin: str | None
    persona: str | None
    role_header: str | None
    status: int | None = None
    duration_ms: float | None = None
    fault: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: Any = None
        if self.body:
            try:
                body = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                body = self.body[:2048].decode("utf-8", "replace")
        return {
            "seq": self.seq,
            "at": round(self.at, 6),
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "query": self.query,
            "status": self.status,
            "durationMs": self.duration_ms,
            "body": body,
            "auth": {"present": self.auth_present, "valid": self.auth_valid, "role": self.auth_role},
            "origin": self.origin,
            "persona": self.persona,
            "roleHeader": self.role_header,
            "fault": self.fault,
        }


class ServerStats:
    """Counters since start or since the last `reset()`; the ring buffer survives resets only if asked."""

    def __init__(self, ring_size: int = 20_000) -> None:
        self.ring: deque[RequestRecord] = deque(maxlen=ring_size)
        self._seq = 0
        self.routes: dict[tuple[str, str], RouteStats] = {}
        self.since = time.time()
        self.started = self.since

    def reset(self, clear_requests: bool = True) -> None:
        self.routes = {}
        self.since = time.time()
        if clear_requests:
            self.ring.clear()

    def arrived(self, record_args: dict[str, Any]) -> RequestRecord:
        self._seq += 1
        record = RequestRecord(seq=self._seq, at=time.time(), **record_args)
        self.ring.append(record)
        return record

    def finished(self, record: RequestRecord, status: int, elapsed_s: float) -> None:
        record.status = status
        record.duration_ms = round(elapsed_s * 1000.0, 3)
        key = (record.method, record.route)
        route = self.routes.get(key)
        if route is None:
            route = self.routes[key] = RouteStats()
        route.count += 1
        route.statuses[status] = route.statuses.get(status, 0) + 1
        route.latency.record(elapsed_s * 1_000_000.0)

    def snapshot(self) -> dict[str, Any]:
        routes: dict[str, Any] = {}
        total = Histogram()
        statuses: dict[str, int] = {}
        count = 0
        for (method, template), route in sorted(self.routes.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            routes[f"{method} {template}"] = {
                "method": method,
                "route": template,
                "count": route.count,
                "statuses": {str(code): n for code, n in sorted(route.statuses.items())},
                "latencyMs": route.latency.summary_ms(),
            }
            count += route.count
            for code, n in route.statuses.items():
                statuses[str(code)] = statuses.get(str(code), 0) + n
            for key, n in route.latency.buckets.items():
                total.buckets[key] = total.buckets.get(key, 0) + n
            total.count += route.latency.count
            total.total_us += route.latency.total_us
            total.max_us = max(total.max_us, route.latency.max_us)
        now = time.time()
        return {
            "since": self.since,
            "elapsedSeconds": round(now - self.since, 3),
            "uptimeSeconds": round(now - self.started, 3),
            "total": {"count": count, "statuses": dict(sorted(statuses.items())), "latencyMs": total.summary_ms()},
            "routes": routes,
            "inFlight": sum(1 for r in self.ring if r.status is None),
        }

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` requests, oldest first (arrival order)."""
        limit = max(0, min(limit, len(self.ring)))
        return [self.ring[i].as_json() for i in range(len(self.ring) - limit, len(self.ring))]
