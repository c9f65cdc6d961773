"""The Fixnado routes the five flows and the setup fixtures call: payload validation, then a store call.

Each route states whether the original harness sends a token to it (`legacy_token`, from FLOWS.md's
table: `--auth legacy` demands one only there) and which token roles may call it (403 for the others).
Templates are written without their prefix; the router serves each under both `/api` and `/api/v1`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from . import validation as v
from .errors import ApiError, Forbidden, Invalid, NotFound
from .store import PERSONA_SECTIONS, Store

PREFIXES: tuple[str, ...] = ("/api/v1", "/api")
ALL_ROLES = frozenset({"admin", "company", "provider", "user"})
STAFF = frozenset({"admin", "company", "provider"})
PERSONA_ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin"}),
    "provider": STAFF,
    "serviceman": STAFF,
    "enterprise": frozenset({"admin", "company"}),
    "user": frozenset({"admin", "user"}),
}
_NO_BODY = object()


@dataclass(slots=True)
class Ctx:
    """One request as handlers see it: path params, first query values, the raw body and the caller's claims."""

    store: Store
    params: dict[str, str]
    query: dict[str, str]
    raw_body: bytes
    claims: dict[str, Any] | None
    _body: Any = field(default=_NO_BODY)

    def body(self) -> dict[str, Any]:
        if self._body is _NO_BODY:
            if not self.raw_body:
                raise Invalid("body", "a JSON object is required")
            try:
                self._body = orjson.loads(self.raw_body)
            except orjson.JSONDecodeError:
                raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
        return v.body_object(self._body)

    @property
    def role(self) -> str | None:
        return self.claims.get("role") if self.claims else None

    @property
    def subject(self) -> str | None:
        return self.claims.get("sub") if self.claims else None


Handler = Callable[[Ctx], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    handler: Handler
    legacy_token: bool
    roles: frozenset[str]
    action: str
    segments: tuple[str, ...] = ()


# ---------------------------------------------------------------------- setup fixtures
def list_zones(ctx: Ctx) -> tuple[int, Any]:
    return 200, ctx.store.list_zones(ctx.query.get("companyId"), v.limit(ctx.query, default=50))


def create_zone(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    fields = {
        "companyId": v.string(body, "companyId"),
        "name": v.string(body, "name"),
        "demandLevel": v.string(body, "demandLevel", choices=("low", "medium", "high")),
        "geometry": _polygon(v.mapping(body, "geometry", required=True) or {}),
        "metadata": v.mapping(body, "metadata") or {},
    }
    return 201, ctx.store.create_zone(fields)


def _polygon(geometry: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Polygon: closed linear rings of [lon, lat] with at least four positions."""
    if geometry.get("type") != "Polygon":
        raise Invalid("geometry.type", "expected 'Polygon'")
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise Invalid("geometry.coordinates", "expected an array of linear rings")
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
            raise Invalid("geometry.coordinates", "each ring needs 4+ positions and must be closed")
        for point in ring:
            if (
                not isinstance(point, list)
                or len(point) < 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in point[:2])
                or not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90)
            ):
                raise Invalid("geometry.coordinates", "positions are [longitude, latitude] numbers")
    return geometry


def list_services(ctx: Ctx) -> tuple[int, Any]:
    q = ctx.query
    return 200, ctx.store.list_services(q.get("providerId"), q.get("companyId"), v.limit(q, default=50))


def create_service(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    identity = ctx.store.identity
    fields = {
        "title": v.string(body, "title"),
        "description": v.string(body, "description", required=False) or "",
        "category": v.string(body, "category"),
        "price": v.number(body, "price", minimum=0.01),
        "currency": _currency(body, "currency"),
        "companyId": v.string(body, "companyId", required=False) or identity.company_id,
        "providerId": (ctx.subject if ctx.role == "provider" else None)
        or v.string(body, "providerId", required=False)
        or identity.provider_id,
    }
    return 201, ctx.store.create_service(fields)


def _currency(body: dict[str, Any], name: str) -> str:
    value = v.string(body, name) or ""
    if len(value) != 3 or not value.isalpha() or not value.isupper():
        raise Invalid(name, "expected an ISO-4217 code such as GBP")
    return value


def list_campaigns(ctx: Ctx) -> tuple[int, Any]:
    q = ctx.query
    return 200, ctx.store.list_campaigns(q.get("companyId"), q.get("status"), v.limit(q, default=50))


CAMPAIGN_STATUSES = ("draft", "scheduled", "active", "paused", "completed", "archived")


def create_campaign(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    start = v.instant(body, "startAt")
    end = v.instant(body, "endAt")
    if start and end and end <= start:
        raise Invalid("endAt", "must be after startAt")
    budget = v.number(body, "totalBudget", minimum=0.01)
    cap = v.number(body, "dailySpendCap", required=False, minimum=0.01)
    if cap is not None and budget is not None and cap > budget:
        raise Invalid("dailySpendCap", "must not exceed totalBudget")
    fields = {
        "companyId": v.string(body, "companyId"),
        "name": v.string(body, "name"),
        "objective": v.string(body, "objective"),
        "campaignType": v.string(body, "campaignType"),
        "status": v.string(body, "status", required=False, choices=CAMPAIGN_STATUSES) or "draft",
        "pacingStrategy": v.string(body, "pacingStrategy", required=False) or "even",
        "bidStrategy": v.string(body, "bidStrategy", required=False) or "cpc",
        "currency": _currency(body, "currency"),
        "totalBudget": budget,
        "dailySpendCap": cap,
        "startAt": body["startAt"],
        "endAt": body["endAt"],
        "metadata": v.mapping(body, "metadata") or {},
    }
    return 201, ctx.store.create_campaign(fields)


# ---------------------------------------------------------------------- booking_flow
def create_booking(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    kind = v.string(body, "type", choices=("scheduled", "on_demand"))
    fields: dict[str, Any] = {
        "customerId": v.string(body, "customerId"),
        "companyId": v.string(body, "companyId"),
        "zoneId": v.string(body, "zoneId"),
        "type": kind,
        "demandLevel": v.string(body, "demandLevel", required=False, choices=("low", "medium", "high")) or "medium",
        "baseAmount": v.number(body, "baseAmount", minimum=0.01),
        "currency": _currency(body, "currency"),
        "targetCurrency": _currency(body, "targetCurrency") if body.get("targetCurrency") is not None else None,
        "metadata": v.mapping(body, "metadata") or {},
        "actor": v.mapping(body, "actor"),
        "scheduledStart": None,
        "scheduledEnd": None,
    }
    if kind == "scheduled":
        start = v.instant(body, "scheduledStart")
        end = v.instant(body, "scheduledEnd")
        if start and end and end <= start:
            raise Invalid("scheduledEnd", "must be after scheduledStart")
        fields["scheduledStart"], fields["scheduledEnd"] = body["scheduledStart"], body["scheduledEnd"]
    return 201, ctx.store.create_booking(fields)


def list_bookings(ctx: Ctx) -> tuple[int, Any]:
    q = ctx.query
    return 200, ctx.store.list_bookings(q.get("companyId"), q.get("status"), v.limit(q))


def get_booking(ctx: Ctx) -> tuple[int, Any]:
    return 200, ctx.store.booking(ctx.params["bookingId"])


def assign_booking(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    items = v.array(body, "assignments")
    assignments = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Invalid(f"assignments[{index}]", "expected an object")
        assignments.append(
            {
                "providerId": v.string(item, "providerId") if "providerId" in item else _missing(index, "providerId"),
                "role": v.string(item, "role", required=False, choices=("lead", "support")) or "lead",
            }
        )
    return 201, ctx.store.assign(ctx.params["bookingId"], assignments, v.string(body, "actorId", required=False))


def _missing(index: int, name: str) -> str:
    raise Invalid(f"assignments[{index}].{name}", "is required")


def respond_assignment(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    booking_id = ctx.params["bookingId"]
    claimed = v.string(body, "bookingId", required=False)
    if claimed is not None and claimed != booking_id:
        raise Invalid("bookingId", "does not match the booking in the path")
    provider_id = v.string(body, "providerId")
    status = v.string(body, "status", choices=("accepted", "declined"))
    if ctx.role == "provider" and ctx.subject != provider_id:
        raise Forbidden("a provider may only answer its own assignment")
    return 200, ctx.store.respond(booking_id, provider_id or "", status or "")


def update_booking_status(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    status = v.string(body, "status", choices=("in_progress", "completed", "cancelled"))
    v.string(body, "actorId", required=False)
    reason = v.string(body, "reason", required=False)
    return 200, ctx.store.set_status(ctx.params["bookingId"], status or "", reason)


# ---------------------------------------------------------------------- chat_flow
def create_conversation(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    created_by = v.mapping(body, "createdBy", required=True) or {}
    if not isinstance(created_by.get("id"), str) or not created_by["id"]:
        raise Invalid("createdBy.id", "is required")
    participants = []
    for index, item in enumerate(v.array(body, "participants", min_items=2)):
        name = f"participants[{index}]"
        if not isinstance(item, dict):
            raise Invalid(name, "expected an object")
        for key in ("participantType", "participantReferenceId"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise Invalid(f"{name}.{key}", "expected a non-empty string")
        participants.append(
            {
                "participantType": item["participantType"],
                "participantReferenceId": item["participantReferenceId"],
                "displayName": item.get("displayName"),
                "role": item.get("role") or item["participantType"],
                "timezone": item.get("timezone"),
                "aiAssistEnabled": bool(item.get("aiAssistEnabled", False)),
            }
        )
    fields = {
        "subject": v.string(body, "subject"),
        "createdBy": created_by,
        "metadata": v.mapping(body, "metadata") or {},
        "aiAssist": v.mapping(body, "aiAssist") or {"defaultEnabled": False},
    }
    conversation = ctx.store.create_conversation(fields, participants)
    return 201, ctx.store.conversation_view(conversation, 0)


def get_conversation(ctx: Ctx) -> tuple[int, Any]:
    conversation = ctx.store.conversation(ctx.params["conversationId"])
    if ctx.claims and ctx.role != "admin":
        refs = {p["participantReferenceId"] for p in conversation["participants"]}
        if ctx.subject not in refs:
            raise Forbidden("the bearer token's holder is not a participant of this conversation")
    return 200, ctx.store.conversation_view(conversation, v.limit(ctx.query))


def post_message(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    sender = v.string(body, "senderParticipantId") or ""
    fields = {
        "body": v.string(body, "body"),
        "messageType": v.string(body, "messageType", required=False) or "text",
        "metadata": v.mapping(body, "metadata") or {},
    }
    return 201, ctx.store.post_message(ctx.params["conversationId"], sender, fields, ctx.claims)


def video_session(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    participant = v.string(body, "participantId") or ""
    channel = v.string(body, "channelName") or ""
    expiry = v.integer(body, "expirySeconds", minimum=300)
    if expiry > 3600:
        raise Invalid("expirySeconds", "must be at most 3600")
    return 201, ctx.store.video_session(ctx.params["conversationId"], participant, channel, expiry, ctx.claims)


# ---------------------------------------------------------------------- payments_flow
def purchase_service(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    amount = v.number(body, "totalAmount", minimum=0.01) or 0.0
    currency = _currency(body, "currency")
    scheduled_for = v.instant(body, "scheduledFor")
    if scheduled_for and scheduled_for < datetime.now(UTC) - timedelta(minutes=5):
        raise Invalid("scheduledFor", "must be in the future")
    customer = (ctx.subject if ctx.role == "user" else None) or v.string(body, "customerId", required=False)
    customer = customer or ctx.store.identity.customer_id
    result = ctx.store.purchase(ctx.params["serviceId"], customer, amount, currency, scheduled_for)  # type: ignore[arg-type]
    return 201, result


# ---------------------------------------------------------------------- analytics_flow
def dashboard(ctx: Ctx) -> tuple[int, Any]:
    persona = ctx.params["persona"]
    if persona not in PERSONA_SECTIONS:
        raise NotFound("dashboard persona", persona)
    if ctx.claims and ctx.role not in PERSONA_ROLES[persona]:
        raise Forbidden(f"role {ctx.role!r} may not view the {persona!r} dashboard")
    q = ctx.query
    try:
        tz = ZoneInfo(q.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("timezone", f"unknown IANA timezone {q.get('timezone')!r}") from None
    now = datetime.now(tz)
    start = _query_instant(q, "startDate", tz) or (now - timedelta(days=7))
    end = _query_instant(q, "endDate", tz) or now
    if "endDate" in q and len(q["endDate"]) == 10:
        end += timedelta(days=1)  # a date-only end means "through the end of that local day"
    if end <= start:
        raise Invalid("endDate", "must be after startDate")
    if end - start > timedelta(days=366):
        raise Invalid("endDate", "the window may span at most 366 days")
    return 200, ctx.store.dashboard(persona, start, end, tz)


def _query_instant(query: dict[str, str], name: str, tz: Any) -> datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return v.parse_instant(raw, tz)
    except ValueError:
        raise Invalid(name, "expected an ISO-8601 date or date-time") from None


def pipeline_status(ctx: Ctx) -> tuple[int, Any]:
    return 200, ctx.store.pipeline_status()


# ---------------------------------------------------------------------- ads_flow
def campaign_metrics(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    when = v.instant(body, "metricDate")
    assert when is not None
    if when > datetime.now(UTC) + timedelta(days=1):
        raise Invalid("metricDate", "must not be in the future")
    figures = {
        "impressions": float(v.integer(body, "impressions")),
        "clicks": float(v.integer(body, "clicks")),
        "conversions": float(v.integer(body, "conversions")),
        "spend": v.number(body, "spend", minimum=0) or 0.0,
        "revenue": v.number(body, "revenue", minimum=0) or 0.0,
    }
    if figures["clicks"] > figures["impressions"]:
        raise Invalid("clicks", "must not exceed impressions")
    if figures["conversions"] > figures["clicks"]:
        raise Invalid("conversions", "must not exceed clicks")
    day = when.astimezone(UTC).date().isoformat()
    return 201, ctx.store.record_metrics(ctx.params["campaignId"], day, figures)


def campaign_summary(ctx: Ctx) -> tuple[int, Any]:
    return 200, ctx.store.campaign_summary(ctx.params["campaignId"])


def fraud_signals(ctx: Ctx) -> tuple[int, Any]:
    status = ctx.query.get("status")
    if status not in (None, "open", "resolved"):
        raise Invalid("status", "expected open or resolved")
    return 200, ctx.store.fraud_signals(ctx.params["campaignId"], status, v.limit(ctx.query, default=50))


def resolve_signal(ctx: Ctx) -> tuple[int, Any]:
    body = ctx.body()
    note = v.string(body, "resolutionNote") or ""
    reviewer = body.get("reviewer")
    if reviewer is not None and not isinstance(reviewer, str | dict):
        raise Invalid("reviewer", "expected a string or an object")
    return 200, ctx.store.resolve_signal(ctx.params["signalId"], note, reviewer)


def ping(ctx: Ctx) -> tuple[int, Any]:
    return 200, PONG


PONG = {"status": "ok"}


def _route(
    method: str, template: str, handler: Handler, legacy_token: bool, roles: frozenset[str], action: str
) -> Route:
    return Route(method, template, handler, legacy_token, roles, action, tuple(template.strip("/").split("/")))


ROUTES: tuple[Route, ...] = (
    _route("GET", "/zones", list_zones, False, ALL_ROLES, "list zones"),
    _route("POST", "/zones", create_zone, False, STAFF, "create zones"),
    _route("GET", "/services", list_services, False, ALL_ROLES, "list services"),
    _route("POST", "/services", create_service, True, STAFF, "publish services"),
    _route("POST", "/services/{serviceId}/purchase", purchase_service, True, frozenset({"user", "admin"}), "purchase"),
    _route("GET", "/campaigns", list_campaigns, True, STAFF, "list campaigns"),
    _route("POST", "/campaigns", create_campaign, True, STAFF, "create campaigns"),
    _route("POST", "/campaigns/{campaignId}/metrics", campaign_metrics, True, STAFF, "record campaign metrics"),
    _route("GET", "/campaigns/{campaignId}/summary", campaign_summary, True, STAFF, "read campaign summaries"),
    _route("GET", "/campaigns/{campaignId}/fraud-signals", fraud_signals, True, STAFF, "read fraud signals"),
    _route("POST", "/campaigns/fraud-signals/{signalId}/resolve", resolve_signal, True, STAFF, "resolve fraud signals"),
    _route("POST", "/bookings", create_booking, False, ALL_ROLES, "create bookings"),
    _route("GET", "/bookings", list_bookings, False, ALL_ROLES, "list bookings"),
    _route("GET", "/bookings/{bookingId}", get_booking, False, ALL_ROLES, "read bookings"),
    _route("POST", "/bookings/{bookingId}/assignments", assign_booking, False, STAFF, "assign bookings"),
    _route(
        "POST", "/bookings/{bookingId}/assignments/response", respond_assignment, False, STAFF, "answer assignments"
    ),
    _route("PATCH", "/bookings/{bookingId}/status", update_booking_status, False, STAFF, "change booking status"),
    _route("POST", "/communications", create_conversation, True, ALL_ROLES, "start conversations"),
    _route("GET", "/communications/{conversationId}", get_conversation, True, ALL_ROLES, "read conversations"),
    _route("POST", "/communications/{conversationId}/messages", post_message, True, ALL_ROLES, "send messages"),
    _route("POST", "/communications/{conversationId}/video-session", video_session, True, ALL_ROLES, "start video"),
    _route("GET", "/analytics/dashboards/{persona}", dashboard, True, ALL_ROLES, "view dashboards"),
    _route(
        "GET", "/analytics/pipeline/status", pipeline_status, True, frozenset({"admin", "company"}), "see pipelines"
    ),
)
PING = Route("GET", "/ping", ping, False, ALL_ROLES, "ping", ("ping",))


class Router:
    """Matches a path to (route, params, template-with-prefix); static segments win over `{param}` ones."""

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self.table: dict[tuple[str, int], list[Route]] = {}
        for route in sorted(routes, key=lambda r: sum(s.startswith("{") for s in r.segments)):
            self.table.setdefault((route.method, len(route.segments)), []).append(route)
        self.methods_by_shape: dict[int, list[Route]] = {}
        for route in routes:
            self.methods_by_shape.setdefault(len(route.segments), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], str, bool]:
        """(route, params, template, path_known): `path_known` tells a 405 from a 404 when route is None."""
        if path in ("/ping", "/api/ping", "/api/v1/ping"):
            return (PING if method in ("GET", "HEAD") else None), {}, path, True
        for prefix in PREFIXES:
            if path.startswith(prefix + "/"):
                rest = path[len(prefix) + 1 :].rstrip("/")
                break
        else:
            return None, {}, "<unmatched>", False
        parts = rest.split("/")
        for route in self.table.get((method, len(parts)), ()):
            params = _bind(route.segments, parts)
            if params is not None:
                return route, params, prefix + route.template, True
        for route in self.methods_by_shape.get(len(parts), ()):
            if _bind(route.segments, parts) is not None:
                return None, {}, prefix + route.template, True
        return None, {}, "<unmatched>", False


def _bind(segments: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for segment, part in zip(segments, parts, strict=True):
        if segment[0] == "{":
            if not part:
                return None
            params[segment[1:-1]] = part
        elif segment != part:
            return None
    return params
