"""Fault injection: rules that add latency, fail, hang or reset requests matching a route pattern.

A rule is JSON so the same shape works from `--fault '{...}'`, `POST /__fixload/faults` and tests:

    {"route": "/api/bookings*",          # glob on the path template or the path; "re:<regex>" for a regex
     "method": "POST",                   # or "*" (default)
     "error_rate": 0.2, "status": 503,   # answer this fraction with `status` instead of running the handler
     "body": {"message": "…"},           # the error's JSON body (default: {"error": "injected_fault", …})
     "latency": {"fixed_ms": 50} | {"uniform_ms": [10, 90]} | {"p50_ms": 120, "p95_ms": 400},
     "hang": true,                       # never answer (until the client gives up)
     "reset": true,                      # drop the connection with a TCP reset
     "probability": 1.0,                 # fraction of matching requests that get the latency/hang/reset
     "window": {"start_s": 10, "duration_s": 30},   # active only then, relative to when the rule was added
     "capacity": {"concurrency": 4, "service_ms": 12}}  # a server: 4 in service at once, 12 ms each, FIFO queue

Every matching active rule applies: latencies add up; the first error, hang or reset drawn wins; each capacity
is a station the request passes through in turn (after the latency, before the answer).
Presets (`--preset NAME`, `{"preset": NAME}`): `staging` reproduces the staging drill's per-flow p95
(`{"preset": "staging", "scale": {"booking_flow": 1.3}}`: that flow's latencies 30 % longer, a known regression);
`fixnado-d191423` reproduces that backend's campaign-metrics ingestion bugs (FIXNADO-API.md §10 B2/B3).
"""

from __future__ import annotations

import asyncio
import fnmatch
import heapq
import math
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .stats import QueueStats

_Z95 = 1.6448536269514722


class FaultError(ValueError):
    """A rule that cannot be understood; the message names the field."""


@dataclass(slots=True)
class Decision:
    """What the app does to one request: wait `delay_s`, then answer normally, or with `status`, or hang/reset."""

    delay_s: float = 0.0
    status: int | None = None
    hang: bool = False
    reset: bool = False
    body: Any = None
    rule_ids: list[int] = field(default_factory=list)
    capacity: list[Capacity] = field(default_factory=list)

    @property
    def label(self) -> str | None:
        if self.reset:
            return "reset"
        if self.hang:
            return "hang"
        if self.status is not None:
            return f"error:{self.status}"
        if self.delay_s:
            return "latency"
        if self.capacity:
            return "capacity"
        return None


class Capacity:
    """A server of `concurrency` slots, each request holding one for `service_s`; the rest wait in arrival order.

    Each slot keeps the moment it is next free: a request takes, on arrival, the slot free soonest, starts at
    that moment (or now) and ends `service_s` later, so requests are served first come, first served, and
    at most concurrency / service_s a second whatever the event loop's own lag. (An asyncio.Semaphore held
    over `sleep(service_s)` is FIFO-fair in CPython 3.11 too, but each sleep overshoots by the loop's lag:
    on this 2-core machine under load it served 263/s of a 333/s model, tests/test_simulator_capacity.py.)"""

    __slots__ = ("_free_at", "_pending", "concurrency", "service_s", "stats")

    def __init__(self, concurrency: int, service_s: float) -> None:
        self.concurrency = concurrency
        self.service_s = service_s
        self.stats = QueueStats()
        self._free_at = [0.0] * concurrency  # a heap: when each slot is next free (time.monotonic)
        self._pending: deque[tuple[float, float]] = deque()  # (start, end) of requests not yet served, FIFO

    async def serve(self) -> None:
        """Queue for the slot free soonest, be served for `service_s`, then return."""
        now = time.monotonic()
        start = max(now, heapq.heappop(self._free_at))
        end = start + self.service_s
        heapq.heappush(self._free_at, end)
        self._pending.append((start, end))
        self.stats.record(start - now, self.queue_now(now)[0])
        try:
            await asyncio.sleep(end - now)
        finally:
            self.stats.served += 1

    def queue_now(self, now: float | None = None) -> tuple[int, int]:
        """(waiting, in service) at this moment."""
        now = time.monotonic() if now is None else now
        pending = self._pending
        while pending and pending[0][1] <= now:
            pending.popleft()
        in_service = sum(1 for start, end in pending if start <= now < end)
        return len(pending) - in_service, in_service


@dataclass(slots=True)
class Rule:
    id: int
    spec: dict[str, Any]
    route: str
    matcher: re.Pattern[str]
    method: str
    error_rate: float
    status: int
    body: Any
    latency: tuple[str, float, float] | None
    hang: bool
    reset: bool
    probability: float
    added_at: float
    window: tuple[float, float] | None
    capacity: Capacity | None = None

    def active(self, now: float) -> bool:
        if self.window is None:
            return True
        start, duration = self.window
        elapsed = now - self.added_at
        return start <= elapsed < start + duration

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.method != "*" and self.method != method:
            return False
        return bool(self.matcher.fullmatch(template) or self.matcher.fullmatch(path))

    def draw_latency(self, rng: random.Random) -> float:
        if self.latency is None:
            return 0.0
        kind, a, b = self.latency
        if kind == "fixed":
            return a
        if kind == "uniform":
            return rng.uniform(a, b)
        return rng.lognormvariate(a, b)  # a = mu, b = sigma of ln(seconds)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec, "addedAt": self.added_at, "activeNow": self.active(time.time())}


def _number(
    spec: dict[str, Any], name: str, default: float | None = None, lo: float = 0.0, hi: float = math.inf
) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise FaultError(f"{name}: expected a number in [{lo:g}, {hi:g}]")
    return float(value)


def _latency(spec: Any) -> tuple[str, float, float] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise FaultError("latency: expected an object")
    if "fixed_ms" in spec:
        return "fixed", _number(spec, "fixed_ms") / 1000.0, 0.0
    if "uniform_ms" in spec:
        bounds = spec["uniform_ms"]
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(x, int | float) for x in bounds)):
            raise FaultError("latency.uniform_ms: expected [low, high]")
        low, high = sorted(float(x) for x in bounds)
        if low < 0:
            raise FaultError("latency.uniform_ms: bounds must be >= 0")
        return "uniform", low / 1000.0, high / 1000.0
    if "p50_ms" in spec and "p95_ms" in spec:
        p50 = _number(spec, "p50_ms", lo=0.001)
        p95 = _number(spec, "p95_ms", lo=p50)
        return "lognormal", math.log(p50 / 1000.0), math.log(p95 / p50) / _Z95
    raise FaultError("latency: expected fixed_ms, uniform_ms or p50_ms+p95_ms")


def _capacity(spec: Any) -> Capacity | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise FaultError("capacity: expected {concurrency, service_ms}")
    unknown = sorted(set(spec) - {"concurrency", "service_ms"})
    if unknown:
        raise FaultError(f"capacity.{unknown[0]}: unknown field (known: concurrency, service_ms)")
    concurrency = spec.get("concurrency")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 100_000:
        raise FaultError("capacity.concurrency: expected a whole number in [1, 100000]")
    service_ms = spec.get("service_ms")
    if isinstance(service_ms, bool) or not isinstance(service_ms, int | float) or not 0 < service_ms <= 600_000:
        raise FaultError("capacity.service_ms: expected a number of milliseconds in (0, 600000]")
    return Capacity(concurrency, float(service_ms) / 1000.0)


def _matcher(pattern: str) -> re.Pattern[str]:
    try:
        if pattern.startswith("re:"):
            return re.compile(pattern[3:])
        return re.compile(fnmatch.translate(pattern))
    except re.error as exc:
        raise FaultError(f"route: invalid regex ({exc})") from None


def parse_rule(spec: Any, rule_id: int, now: float | None = None) -> Rule:
    """Validate one rule's JSON; raises FaultError naming the field at fault."""
    if not isinstance(spec, dict):
        raise FaultError("rule: expected a JSON object")
    known = {"route", "regex", "method", "error_rate", "status", "body", "latency", "hang", "reset", "probability"}
    known.update(("window", "capacity"))
    unknown = sorted(set(spec) - known - {"name", "flow"})
    if unknown:
        raise FaultError(f"{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
    if "regex" in spec:
        if not isinstance(spec["regex"], str):
            raise FaultError("regex: expected a string")
        route = "re:" + spec["regex"]
    else:
        route = spec.get("route", "*")
        if not isinstance(route, str) or not route:
            raise FaultError("route: expected a glob such as /api/bookings* or re:<regex>")
    method = spec.get("method", "*")
    if not isinstance(method, str):
        raise FaultError("method: expected a string")
    window = spec.get("window")
    if window is not None:
        if not isinstance(window, dict):
            raise FaultError("window: expected {start_s, duration_s}")
        window_t = (_number(window, "start_s", 0.0), _number(window, "duration_s", math.inf))
    else:
        window_t = None
    status = spec.get("status", 503)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise FaultError("status: expected an HTTP status code")
    for flag in ("hang", "reset"):
        if not isinstance(spec.get(flag, False), bool):
            raise FaultError(f"{flag}: expected true or false")
    rule = Rule(
        id=rule_id,
        spec=dict(spec),
        route=route,
        matcher=_matcher(route),
        method=method.upper(),
        error_rate=_number(spec, "error_rate", 0.0, 0.0, 1.0),
        status=status,
        body=spec.get("body"),
        latency=_latency(spec.get("latency")),
        hang=bool(spec.get("hang", False)),
        reset=bool(spec.get("reset", False)),
        probability=_number(spec, "probability", 1.0, 0.0, 1.0),
        added_at=time.time() if now is None else now,
        window=window_t,
        capacity=_capacity(spec.get("capacity")),
    )
    if "body" in spec and not isinstance(spec["body"], dict | list | str):
        raise FaultError("body: expected a JSON object, array or string")
    if not (rule.error_rate or rule.latency or rule.hang or rule.reset or rule.capacity):
        raise FaultError("rule: give at least one of error_rate, latency, hang, reset, capacity")
    return rule


class FaultInjector:
    """The active rules; `decide` is on the hot path, so with no rules it is one length check."""

    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[Rule] = []
        self._next_id = 1
        self.rng = random.Random(seed)

    def add(self, spec: Any) -> list[Rule]:
        """Add a rule, a list of rules, or `{"preset": NAME}`; all or nothing."""
        if isinstance(spec, dict) and "preset" in spec:
            specs: list[Any] = preset(spec["preset"], spec.get("scale"))
        elif isinstance(spec, list):
            specs = spec
        else:
            specs = [spec]
        now = time.time()
        added = [parse_rule(s, self._next_id + i, now) for i, s in enumerate(specs)]
        self._next_id += len(added)
        self.rules.extend(added)
        return added

    def clear(self) -> int:
        count = len(self.rules)
        self.rules = []
        return count

    def decide(self, method: str, template: str, path: str) -> Decision | None:
        if not self.rules:
            return None
        now = time.time()
        decision: Decision | None = None
        rng = self.rng
        for rule in self.rules:
            if not rule.active(now) or not rule.matches(method, template, path):
                continue
            decision = decision or Decision()
            decision.rule_ids.append(rule.id)
            if rule.capacity is not None:
                decision.capacity.append(rule.capacity)
            if rule.probability >= 1.0 or rng.random() < rule.probability:
                decision.delay_s += rule.draw_latency(rng)
                decision.hang = decision.hang or rule.hang
                decision.reset = decision.reset or rule.reset
            if rule.error_rate and decision.status is None and rng.random() < rule.error_rate:
                decision.status = rule.status
                decision.body = rule.body
        return decision

    def as_json(self) -> list[dict[str, Any]]:
        return [rule.as_json() for rule in self.rules]

    def capacity_stats(self) -> list[dict[str, Any]]:
        """`/__fixload/stats`' `capacity`: per capacity rule, its queue now and the time spent in it."""
        return [
            {"rule": r.id, "route": r.route, "method": r.method, **r.capacity.stats.snapshot(r.capacity)}
            for r in self.rules
            if r.capacity is not None
        ]

    def reset_capacity_stats(self) -> None:
        for rule in self.rules:
            if rule.capacity is not None:
                rule.capacity.stats.reset()


# ---------------------------------------------------------------------- the staging preset
# The drill's per-flow p95 (baseline-report-2025-11-06.json) and the requests one iteration of each flow sends
# (FLOWS.md), as route templates relative to the prefix; a flow's duration is the sum of its requests' latencies.
STAGING_P95_MS: dict[str, float] = {
    "booking_flow": 820,
    "chat_flow": 540,
    "payments_flow": 910,
    "analytics_flow": 680,
    "ads_flow": 760,
}
FLOW_REQUESTS: dict[str, tuple[tuple[str, str], ...]] = {
    "booking_flow": (
        ("POST", "/bookings"),
        ("POST", "/bookings/{bookingId}/assignments"),
        ("POST", "/bookings/{bookingId}/assignments/response"),
        ("PATCH", "/bookings/{bookingId}/status"),
        ("GET", "/bookings"),
    ),
    "chat_flow": (
        ("POST", "/communications"),
        ("POST", "/communications/{conversationId}/messages"),
        ("POST", "/communications/{conversationId}/messages"),
        ("POST", "/communications/{conversationId}/video-session"),
        ("GET", "/communications/{conversationId}"),
    ),
    "payments_flow": (("POST", "/services/{serviceId}/purchase"),),
    "analytics_flow": (("GET", "/analytics/dashboards/{persona}"), ("GET", "/analytics/pipeline/status")),
    "ads_flow": (
        ("POST", "/campaigns/{campaignId}/metrics"),
        ("GET", "/campaigns/{campaignId}/summary"),
        ("GET", "/campaigns/{campaignId}/fraud-signals"),
    ),
}
STAGING_SIGMA = 0.45  # spread of each request's log-latency; the p50 is solved so that the flow's sum hits the p95


def _sum_p95(requests: int, sigma: float, samples: int = 20_000) -> float:
    """p95 of the sum of `requests` independent lognormal(0, sigma) draws (deterministic Monte Carlo)."""
    rng = random.Random(20251106)
    sums = sorted(sum(rng.lognormvariate(0.0, sigma) for _ in range(requests)) for _ in range(samples))
    return sums[int(0.95 * samples)]


PRESETS: tuple[str, ...] = ("staging", "fixnado-d191423")

# Fixnado at d191423 on PostgreSQL: every POST /api/campaigns/{id}/metrics is a 500 (B2: `FOR UPDATE` over the
# outer join on flights, campaignService.js:562-566, refused before the 404 check; B3: without a flightId the
# metrics_recorded event misses required metadata, analyticsEventService.js:72,120-129). Both reach
# errorHandler (middleware/errorHandler.js:5-27) as plain errors: 500 with its generic body.
FIXNADO_D191423: tuple[dict[str, Any], ...] = (
    {
        "name": "fixnado-d191423:B2+B3 campaign metrics ingestion",
        "regex": r".*/campaigns/[^/]+/metrics",
        "method": "POST",
        "error_rate": 1.0,
        "status": 500,
        "body": {"message": "Internal server error"},
    },
)


def _scale(scale: Any) -> dict[str, float]:
    if scale is None:
        return {}
    if not isinstance(scale, dict):
        raise FaultError('scale: expected an object of flow -> factor, e.g. {"booking_flow": 1.3}')
    for flow, factor in scale.items():
        if flow not in STAGING_P95_MS:
            raise FaultError(f"scale.{flow}: unknown flow (known: {', '.join(STAGING_P95_MS)})")
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 100:
            raise FaultError(f"scale.{flow}: expected a factor in (0, 100], e.g. 1.3 for 30 % slower")
    return {str(k): float(v) for k, v in scale.items()}


def preset(name: Any, scale: Any = None) -> list[dict[str, Any]]:
    """Rules for a named preset. `staging`: every flow request gets a log-normal latency such that the flow's
    summed duration has the drill's p95 (a flow of one request gets exactly that p95); `scale` multiplies a
    flow's latencies (p50 and p95 alike: the whole distribution, so its p95 too). `fixnado-d191423`:
    the product's metrics-ingestion 500s (FIXNADO_D191423)."""
    if name == "fixnado-d191423":
        if scale is not None:
            raise FaultError("scale: only the staging preset has latencies to scale")
        return [dict(rule) for rule in FIXNADO_D191423]
    if name != "staging":
        raise FaultError(f"preset: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    factors = _scale(scale)
    rules = []
    for flow, target_ms in STAGING_P95_MS.items():
        requests = FLOW_REQUESTS[flow]
        p50 = factors.get(flow, 1.0) * target_ms / _sum_p95(len(requests), STAGING_SIGMA)
        p95 = p50 * math.exp(_Z95 * STAGING_SIGMA)
        for method, template in dict.fromkeys(requests):
            rules.append(
                {
                    "name": f"staging:{flow}",
                    "flow": flow,
                    "regex": r"/api(/v1)?" + re.escape(template),
                    "method": method,
                    "latency": {"p50_ms": round(p50, 3), "p95_ms": round(p95, 3)},
                }
            )
    return rules
