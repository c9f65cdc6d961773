"""The zone, service and campaign every iteration shares, resolved once per run before any load.

As the original's `setup()` (FLOWS.md "Setup"): each comes from its `K6_*_ID` override if set, else from
the API's list, else is created. `fixload.runtime.driver` calls `provision` once on the master (or the local
runner) and sends the result to every worker; a `SetupError` stops the run with exit 107.

A plain blocking `requests` session (shipped with Locust): under Locust it runs in a monkey-patched gevent
world, so it blocks only its own greenlet, and one `gevent.Timeout` bounds each whole request (FIXLOAD_HTTP_TIMEOUT,
k6's 60 s); a redirect to another origin is not followed (fixload.flows.transport).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests

from fixload.common.contract import CAMPAIGN_ENDED
from fixload.common.secrets import redact
from fixload.flows.conventions import (
    AUTH_ENV,
    BODY_LOG_LIMIT,
    JSON_HEADERS,
    StepResult,
    clamp,
    iso,
    log_line,
    money,
    token_name,
    traced_body,
)
from fixload.flows.tracing import Ids, Tracing, new_trace_id, stamp
from fixload.flows.transport import (
    Deadline,
    RedirectRefused,
    TransportFailure,
    fired,
    same_origin,
)
from fixload.metrics.registry import Registry
from fixload.profile.config import RunConfig
from fixload.profile.environment import Target, request_timeout

SKIPPED_CAMPAIGNS = CAMPAIGN_ENDED | {"archived"}
"""Campaigns setup does not reuse: the original skips `archived`, no status of the product's (a later Fixnado
may have it), so the product's ended ones (`completed`, `cancelled`) are skipped too."""
CONNECT_TIMEOUT_S = 10.0
"""At most this long to connect (within the whole request's FIXLOAD_HTTP_TIMEOUT)."""


SETUP_GROUP = "::setup"
"""k6's `group` tag on the samples of `setup()`; they carry no `scenario` tag, so per-scenario thresholds
exclude them while the global ones (`http_req_failed`) count them, as in k6."""
SETUP_CHECKS = {
    "create zone": "create zone 201",
    "create service": "create service 201",
    "create campaign": "create campaign 201",
}
"""The k6 check each creating step records, named as the original's `setup()` names it (a list is sent,
not checked, as in the original)."""


class SetupError(Exception):
    """A fixture could not be resolved: names the step, the request (method and route), the status and the
    body (redacted; the message cuts it to `BODY_LOG_LIMIT`)."""

    def __init__(self, step: str, status: int | None, body: str = "", method: str = "", route: str = "") -> None:
        self.step = step
        self.status = status
        self.body = redact(body)
        self.method = method
        self.route = route
        self.ids: Ids | None = None
        """The failing request's ids (set by the setup's client)."""
        where = f" ({method} {route})" if method else ""
        super().__init__(log_line("setup", step + where, status, body))

    def as_dict(self) -> dict[str, Any]:
        """The failing request, as the summary records it (the body cut as the log line cuts it)."""
        body = " ".join(self.body.split())
        out: dict[str, Any] = {
            "step": self.step,
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "body": body[:BODY_LOG_LIMIT] + ("…" if len(body) > BODY_LOG_LIMIT else ""),
        }
        if self.ids is not None:
            out["requestId"], out["traceId"] = self.ids.request_id, self.ids.trace_id
        return out


class SameOriginSession(requests.Session):
    """A `requests` session that follows a redirect only within the origin of the request that started it:
    another origin raises RedirectRefused (no header, cookie or body is sent there)."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        location = super().get_redirect_target(resp)
        if location is None:
            return None
        target = requests.compat.urljoin(resp.url, requests.utils.requote_uri(location))
        if not same_origin(target, resp.url):  # every hop so far stayed on the first one's origin
            resp.close()
            raise RedirectRefused(resp.status_code, target)
        return location


class _Api:
    """The setup's HTTP calls: the prefix, the extra headers, a token only where the original sends one.

    Every call is accounted as k6 accounts `setup()`'s requests: `http_reqs`, `http_req_duration`,
    `http_req_failed` and (for a creating step) `checks`, tagged `group=::setup` and no scenario, in
    `registry` when one is given; and, for `fixload check`, a row of `trace` when one is given.
    """

    def __init__(
        self,
        target: Target,
        strict: bool,
        session: requests.Session,
        campaign_type: str,
        registry: Registry | None = None,
        trace: list[StepResult] | None = None,
        timeout: float = 60.0,
        tracing: Tracing | None = None,
    ) -> None:
        self.target = target
        self.campaign_type = campaign_type
        self.strict = strict
        self.session = session
        self.headers = {**JSON_HEADERS, **dict(target.headers)}
        self.registry = registry
        self.trace = trace
        self.last: tuple[str, str, str] = ("", "", "")
        """(method, route, token variable) of the last request, for a failure found in its answer."""
        self.timeout = timeout
        """Seconds for each whole request (FIXLOAD_HTTP_TIMEOUT)."""
        self.tracing = tracing or Tracing()
        self.trace_id = new_trace_id()
        """Setup is one trace (as k6's `setup()` is one iteration); each request a span of it."""
        self.ids: Ids | None = None
        """The last request's ids."""

    def call(
        self,
        step: str,
        method: str,
        path: str,
        token: str = "",
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        headers = dict(self.headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.ids = stamp(headers, self.tracing, self.trace_id, "setup", step, None, dict(self.target.headers))
        route = self.target.api_prefix + path
        self.last = (method, route, token_name(self.target, token))
        body = orjson.dumps(json) if json is not None else None
        started = time.perf_counter()
        try:
            with Deadline(self.timeout) as timed_out:
                response = self.session.request(
                    method,
                    self.target.base_url + route,
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=(min(CONNECT_TIMEOUT_S, self.timeout), self.timeout),
                )
        except (requests.RequestException, TransportFailure) as exc:
            shown = timed_out if fired(timed_out) else exc
            error = redact(f"{type(shown).__name__}: {shown}")
            self._account(step, 0, (time.perf_counter() - started) * 1000.0, len(body or b""), 0, error)
            failure = SetupError(step, 0, error, method, route)
            failure.ids = self.ids
            raise failure from None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self._account(step, response.status_code, elapsed_ms, len(body or b""), len(response.content), response.text)
        return response.status_code, response.text

    def _account(self, step: str, status: int, elapsed_ms: float, sent: int, received: int, text: str) -> None:
        method, route, token = self.last
        check = SETUP_CHECKS.get(step)
        good = status == 201 if check else 200 <= status < 400
        if self.registry is not None:
            expected = 200 <= status < 400
            tags = {"name": route, "method": method, "status": str(status), "group": SETUP_GROUP}
            tags["expected_response"] = str(expected).lower()
            self.registry.add("http_reqs", 1.0, tags)
            self.registry.add("http_req_duration", elapsed_ms, tags)
            self.registry.add("http_req_failed", 0.0 if expected else 1.0, tags)
            if sent:
                self.registry.add("data_sent", float(sent), tags)
            if received:
                self.registry.add("data_received", float(received), tags)
            if check:
                self.registry.add("checks", 1.0 if good else 0.0, {"check": check, "group": SETUP_GROUP})
        if self.trace is not None:
            shown = "" if good else traced_body(text)
            rid, tid = (self.ids.request_id, self.ids.trace_id) if self.ids is not None else ("", "")
            row = StepResult(step, method, route, status, elapsed_ms, check, good or not check, shown, token, rid, tid)
            self.trace.append(row)

    def fail(self, step: str, status: int | None, text: str) -> SetupError:
        """The error for a failure found in the last request's answer (a trace row of its own, unless the
        request's own check already failed)."""
        method, route, token = self.last
        rid, tid = (self.ids.request_id, self.ids.trace_id) if self.ids is not None else ("", "")
        if self.trace is not None and not (self.trace and not self.trace[-1].ok):
            row = StepResult(step, method, route, status, None, step, False, traced_body(text), token, rid, tid)
            self.trace.append(row)
        failure = SetupError(step, status, text, method, route)
        failure.ids = self.ids
        return failure

    def json(self, step: str, status: int, text: str) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise self.fail(f"{step} — failed to parse JSON response ({exc})", status, text) from None

    def listed(self, step: str, status: int, text: str) -> list[Any]:
        """The original's `listToArray`: a 200 whose body is a JSON array, else nothing to reuse."""
        if status != 200:
            return []
        payload = self.json(step, status, text)
        return payload if isinstance(payload, list) else []

    def created_id(self, step: str, status: int, text: str) -> str:
        if status != 201:
            raise self.fail(step, status, text)
        created = self.json(step, status, text)
        ident = created.get("id") if isinstance(created, dict) else None
        if not ident:
            raise self.fail(f"{step} — response did not include an id", status, text)
        return str(ident)

    def strict_token(self, token: str) -> str:
        return token if self.strict else ""


def _short_id(length: int) -> str:
    return uuid.uuid4().hex[:length]


def ensure_zone(api: _Api, rng: random.Random) -> str:
    target = api.target
    if target.zone_id:
        return target.zone_id
    status, text = api.call(
        "list zones", "GET", "/zones", api.strict_token(target.admin_token), params={"companyId": target.company_id}
    )
    for item in api.listed("list zones", status, text)[:1]:
        candidate = (item.get("zone") or item) if isinstance(item, dict) else None
        if isinstance(candidate, dict) and candidate.get("id"):
            return str(candidate["id"])
    base_lat = 51.48 + rng.random() * 0.05
    base_lon = -0.12 + rng.random() * 0.05
    delta = clamp(rng.uniform(0.01, 0.025), 0.005, 0.04)
    ring = [
        [base_lon, base_lat],
        [base_lon + delta, base_lat],
        [base_lon + delta, base_lat + delta],
        [base_lon, base_lat + delta],
        [base_lon, base_lat],
    ]
    payload = {
        "companyId": target.company_id,
        "name": f"Load test zone {_short_id(8)}",
        "demandLevel": "medium",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "metadata": {"scenario": "load-test", "createdBy": "k6-harness"},
    }
    status, text = api.call("create zone", "POST", "/zones", api.strict_token(target.admin_token), json=payload)
    return api.created_id("create zone", status, text)


def ensure_service(api: _Api, rng: random.Random) -> str:
    target = api.target
    if target.service_id:
        return target.service_id
    status, text = api.call("list services", "GET", "/services", api.strict_token(target.admin_token))
    services = [s for s in api.listed("list services", status, text) if isinstance(s, dict)]
    existing = next((s for s in services if s.get("providerId") == target.provider_id), None)
    existing = existing or (services[0] if services else None)
    if existing and existing.get("id"):
        return str(existing["id"])
    if not target.provider_token:
        raise SetupError("create service", None, "K6_PROVIDER_TOKEN is required to create a load-test service")
    payload = {
        "title": f"Load test service {_short_id(6)}",
        "description": "Synthetic service created by the performance harness to exercise escrow purchase flows.",
        "category": "load-test",
        "price": money(rng.uniform(75, 240)),
        "currency": "GBP",
    }
    status, text = api.call("create service", "POST", "/services", target.provider_token, json=payload)
    return api.created_id("create service", status, text)


def ensure_campaign(api: _Api, rng: random.Random) -> str:
    target = api.target
    if target.campaign_id:
        return target.campaign_id
    status, text = api.call(
        "list campaigns", "GET", "/campaigns", target.admin_token, params={"companyId": target.company_id}
    )
    campaigns = [c for c in api.listed("list campaigns", status, text) if isinstance(c, dict)]
    existing = next((c for c in campaigns if c.get("status") not in SKIPPED_CAMPAIGNS), None)
    if existing and existing.get("id"):
        return str(existing["id"])
    if not target.admin_token:
        raise SetupError("create campaign", None, "K6_ADMIN_TOKEN is required to create a load-test campaign")
    now = datetime.now(UTC)
    payload = {
        "companyId": target.company_id,
        "name": f"Load Test Campaign {_short_id(6)}",
        "objective": "awareness",
        "campaignType": api.campaign_type,  # settings.ads.campaignType; the original's "search" is refused
        "status": "active",
        "pacingStrategy": "even",
        "bidStrategy": "cpc",
        "currency": "GBP",
        "totalBudget": money(rng.uniform(3000, 8000)),
        "dailySpendCap": money(rng.uniform(250, 650)),
        "startAt": iso(now),
        "endAt": iso(now + timedelta(days=7)),
        "metadata": {"scenario": "load-test", "owner": "analytics-qa"},
    }
    status, text = api.call("create campaign", "POST", "/campaigns", target.admin_token, json=payload)
    return api.created_id("create campaign", status, text)


STEPS: tuple[tuple[str, Callable[[_Api, random.Random], str]], ...] = (
    ("zoneId", ensure_zone),
    ("serviceId", ensure_service),
    ("campaignId", ensure_campaign),
)


def provision(
    config: RunConfig,
    rng: random.Random | None = None,
    registry: Registry | None = None,
    trace: list[StepResult] | None = None,
) -> dict[str, str]:
    """`{"zoneId", "serviceId", "campaignId"}` for this run, in the original's order; SetupError on failure.

    `registry`: account the requests as k6 accounts setup's (group `::setup`); `trace`: a row per step."""
    strict = (config.env.get(AUTH_ENV) or "legacy").strip().lower() == "strict"
    rng = rng or random.Random()
    campaign_type = config.plan.profile.settings.ads.campaign_type
    with SameOriginSession() as session:
        timeout = request_timeout(config.env)
        tracing = Tracing.from_env(config.env)
        api = _Api(config.target, strict, session, campaign_type, registry, trace, timeout, tracing)
        return {key: ensure(api, rng) for key, ensure in STEPS}
