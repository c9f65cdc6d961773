"""The zone, service and campaign every iteration shares, resolved once per run before any load.

As the original's `setup()` (FLOWS.md "Setup"): each comes from its `K6_*_ID` override if set, else from
the API's list, else is created. `fixload.plugin` calls `provision` once on the master (or the local
runner) and sends the result to every worker; a `SetupError` stops the run with exit 107.

A plain blocking `requests` session (shipped with Locust) with timeouts: under Locust it runs in a
monkey-patched gevent world, so it blocks only its own greenlet.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests

from fixload.config import RunConfig
from fixload.contract import CAMPAIGN_ENDED
from fixload.envvars import Target
from fixload.flow import AUTH_ENV, JSON_HEADERS, clamp, iso, log_line, money
from fixload.secrets import redact

SKIPPED_CAMPAIGNS = CAMPAIGN_ENDED | {"archived"}
"""Campaigns setup does not reuse: the original skips `archived`, no status of the product's (a later Fixnado
may have it), so the product's ended ones (`completed`, `cancelled`) are skipped too."""
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0


class SetupError(Exception):
    """A fixture could not be resolved: names the step, the status and the (redacted, truncated) body."""

    def __init__(self, step: str, status: int | None, body: str = "") -> None:
        self.step = step
        self.status = status
        self.body = redact(body)
        super().__init__(log_line("setup", step, status, body))


class _Api:
    """The setup's HTTP calls: the prefix, the extra headers, a token only where the original sends one."""

    def __init__(self, target: Target, strict: bool, session: requests.Session, campaign_type: str) -> None:
        self.target = target
        self.campaign_type = campaign_type
        self.strict = strict
        self.session = session
        self.headers = {**JSON_HEADERS, **dict(target.headers)}

    def call(
        self,
        step: str,
        method: str,
        path: str,
        token: str = "",
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        headers = self.headers if not token else {**self.headers, "Authorization": f"Bearer {token}"}
        url = self.target.base_url + self.target.api_prefix + path
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=orjson.dumps(json) if json is not None else None,
                headers=headers,
                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            )
        except requests.RequestException as exc:
            raise SetupError(step, 0, f"{type(exc).__name__}: {exc}") from None
        return response.status_code, response.text

    def json(self, step: str, status: int, text: str) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise SetupError(f"{step} — failed to parse JSON response ({exc})", status, text) from None

    def listed(self, step: str, status: int, text: str) -> list[Any]:
        """The original's `listToArray`: a 200 whose body is a JSON array, else nothing to reuse."""
        if status != 200:
            return []
        payload = self.json(step, status, text)
        return payload if isinstance(payload, list) else []

    def created_id(self, step: str, status: int, text: str) -> str:
        if status != 201:
            raise SetupError(step, status, text)
        created = self.json(step, status, text)
        ident = created.get("id") if isinstance(created, dict) else None
        if not ident:
            raise SetupError(f"{step} — response did not include an id", status, text)
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


def provision(config: RunConfig, rng: random.Random | None = None) -> dict[str, str]:
    """`{"zoneId", "serviceId", "campaignId"}` for this run, in the original's order; SetupError on failure."""
    strict = (config.env.get(AUTH_ENV) or "legacy").strip().lower() == "strict"
    rng = rng or random.Random()
    with requests.Session() as session:
        api = _Api(config.target, strict, session, config.plan.profile.settings.ads.campaign_type)
        return {key: ensure(api, rng) for key, ensure in STEPS}
