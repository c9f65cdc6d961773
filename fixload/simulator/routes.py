"""The Fixnado routes the five flows, the setup and the token helpers call, checked as the product checks them.

Each handler runs the backend's checks in the backend's order (FIXNADO-API.md §2-§8, the file:line in each
docstring), so the first problem a request has is the one the product reports, with the product's status:
a service's own 400/403/404 where it answers cleanly, 422 from express-validator, and 500 where PostgreSQL
refuses the value (an enum, a UUID, a foreign key, a NOT NULL). Every error body names the field and,
for an enum, its allowed values (`errors.py`).

Auth is per route as the product's: only `GET /auth/me`, `POST /services` and `POST /services/{id}/purchase`
check a token (`Route.user_types`); every other route ignores it (`--auth strict` is a simulator extension
that demands a valid token everywhere).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fixload.common import contract as product

from . import backend as c
from .context import Ctx, Handler, Route, _date_or_400, _enum
from .errors import (
    ApiError,
    ValidationFailed,
    bad_request,
    fk_error,
    invalid_value,
    not_found,
    not_null,
    server_error,
)
from .records import Conversation
from .setup_routes import (
    create_campaign,
    create_service,
    create_zone,
    list_campaigns,
    list_services,
    list_zones,
    login,
    me,
    purchase_service,
    register,
)
from .validation import (
    is_iso8601,
    is_uuid_v4,
    iso,
    js_date,
    js_number,
    parse_float,
    parse_int,
    quiet_hour,
    require_uuid,
    truthy,
)


# ---------------------------------------------------------------------- booking_flow
def create_booking(ctx: Ctx) -> tuple[int, Any]:
    """bookingController.js:22-29 → bookingService.js:45-142: 400s, the finance 500 (B7), the INSERT's 500s."""
    body = ctx.required_body("POST /api/bookings")
    if not all(truthy(body.get(k)) for k in ("customerId", "companyId", "zoneId")):
        missing = next(k for k in ("customerId", "companyId", "zoneId") if not truthy(body.get(k)))
        raise bad_request("customerId, companyId, and zoneId are required", field=missing)
    kind = "scheduled" if body.get("type") == "scheduled" else "on_demand"
    totals = booking_totals(body.get("baseAmount"), body.get("currency"), body.get("targetCurrency"))
    start = _optional_date(body.get("scheduledStart"), "scheduledStart")
    end = _optional_date(body.get("scheduledEnd"), "scheduledEnd")
    if kind == "scheduled" and (start is None or end is None or end <= start):
        raise bad_request(
            "Scheduled bookings require a valid start and end window",
            field="scheduledEnd" if start else "scheduledStart",
        )
    if kind == "on_demand" and (start or end):
        raise bad_request(
            "On-demand bookings cannot provide schedule windows", field="scheduledStart" if start else "scheduledEnd"
        )
    for name in ("customerId", "companyId", "zoneId"):
        require_uuid(name, body[name])
    store = ctx.store
    if store.company(body["companyId"]) is None:
        raise fk_error("companyId", body["companyId"], "Booking", "Company")
    if store.user(body["customerId"]) is None:
        raise fk_error("customerId", body["customerId"], "Booking", "User")
    if body["zoneId"] not in store.zones:
        raise fk_error("zoneId", body["zoneId"], "Booking", "ServiceZone")
    fields = {
        "customerId": body["customerId"],
        "companyId": body["companyId"],
        "zoneId": body["zoneId"],
        "type": kind,
        "scheduledStart": iso(start) if start else None,
        "scheduledEnd": iso(end) if end else None,
        "baseAmount": body.get("baseAmount"),
        "currency": body.get("currency"),
        "demandLevel": body.get("demandLevel") or "medium",
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
    }
    return 201, store.create_booking(fields, totals)


def _optional_date(value: Any, name: str) -> datetime | None:
    """bookingService.js:24-37 `ensureDate`: absent (falsy) is None, unparsable is a 400."""
    if not truthy(value):
        return None
    return _date_or_400(value, f"Invalid date provided for {name}", name)


def booking_totals(base: Any, currency: Any, target: Any) -> dict[str, Any]:
    """financeService.js:56-107: base converted to the target currency, 12% commission, 20% tax."""
    if (
        isinstance(base, bool)
        or not isinstance(base, int | float | str)
        or (isinstance(base, str) and parse_float(base) is None)
    ):
        raise server_error(
            "Error: Invalid numeric value supplied to finance service (financeService.js:20)", field="baseAmount"
        )
    amount = float(base) if not isinstance(base, str) else parse_float(base) or 0.0
    native = str(currency or c.DEFAULT_CURRENCY).upper()
    output = str(target or native).upper()
    gross = (
        amount if native == output else amount / c.EXCHANGE_RATES.get(native, 1.0) * c.EXCHANGE_RATES.get(output, 1.0)
    )
    gross = _round2(gross)
    commission = _round2(gross * c.COMMISSION_RATE)
    tax = _round2((gross + commission) * c.TAX_RATE)
    return {
        "currency": output,
        "baseAmount": gross,
        "commissionAmount": commission,
        "taxAmount": tax,
        "totalAmount": _round2(gross + commission + tax),
    }


def _round2(value: float) -> float:
    return float(f"{value:.2f}") if math.isfinite(value) else value


def list_bookings(ctx: Ctx) -> tuple[int, Any]:
    """bookingController.js:31-38 → bookingService.js:589-602: filters zoneId/status/companyId; `limit` ignored
    (B6), so every match comes back; the simulator serves at most its newest `Limits.booking_list`."""
    filters = {}
    for name in ("zoneId", "companyId"):
        if ctx.query.get(name):
            filters[name] = require_uuid(name, ctx.query[name])
    if ctx.query.get("status"):
        filters["status"] = _enum(ctx.query["status"], "status", c.BOOKING_STATUSES, "status@booking")
    return 200, ctx.store.list_bookings(filters)


def get_booking(ctx: Ctx) -> tuple[int, Any]:
    booking_id = require_uuid("bookingId", ctx.params["bookingId"])
    return 200, ctx.store.booking_row(booking_id).public


def assign_booking(ctx: Ctx) -> tuple[int, Any]:
    """bookingController.js:65-72 → bookingService.js:195-275: always 201, a bare array."""
    body = ctx.required_body("POST /api/bookings/{bookingId}/assignments")
    items = body.get("assignments")
    if not isinstance(items, list) or not items:
        raise bad_request("At least one assignment is required", field="assignments")
    booking_id = require_uuid("bookingId", ctx.params["bookingId"])
    row = ctx.store.booking_row(booking_id)
    checked = []
    for index, item in enumerate(items):
        item = item if isinstance(item, dict) else {}
        if not truthy(item.get("providerId")):
            raise bad_request("Assignment providerId is required", field=f"assignments[{index}].providerId")
        provider_id = require_uuid(f"assignments[{index}].providerId", item["providerId"])
        if provider_id not in row.assignments:
            role = item.get("role") or "support"
            _enum(role, f"assignments[{index}].role", product.ASSIGNMENT_ROLES, "role@assignment")
        checked.append({"providerId": provider_id, "role": item.get("role") or "support"})
    return 201, ctx.store.assign(booking_id, checked, body.get("actorId"))


def respond_assignment(ctx: Ctx) -> tuple[int, Any]:
    """bookingController.js:74-85 → bookingService.js:322-362: the path's booking (a body `bookingId` is ignored)."""
    body = ctx.required_body("POST /api/bookings/{bookingId}/assignments/response")
    status = body.get("status")
    if status not in product.ASSIGNMENT_RESPONSES:
        raise bad_request("Unsupported assignment status", field="status", allowed=product.ASSIGNMENT_RESPONSES)
    booking_id = require_uuid("bookingId", ctx.params["bookingId"])
    provider_id = body.get("providerId")
    if provider_id is None:
        raise server_error('WHERE parameter "providerId" has invalid "undefined" value', field="providerId")
    require_uuid("providerId", provider_id)
    return 200, ctx.store.respond(booking_id, provider_id, status)


def update_booking_status(ctx: Ctx) -> tuple[int, Any]:
    """bookingController.js:53-63 → bookingService.js:144-193: ALLOWED_STATUS_TRANSITIONS, same status a no-op."""
    body = ctx.required_body("PATCH /api/bookings/{bookingId}/status")
    booking_id = require_uuid("bookingId", ctx.params["bookingId"])
    booking = ctx.store.set_status(booking_id, body.get("status"), body.get("actorId"), body.get("reason"))
    return 200, booking


# ---------------------------------------------------------------------- chat_flow
def create_conversation(ctx: Ctx) -> tuple[int, Any]:
    """communicationsController.js:18-42 → communicationsService.js:536-657."""
    body = ctx.fields()
    subject = body.get("subject")
    if not isinstance(subject, str) or len(subject.strip()) < 3:
        raise bad_request("Conversation subject must be at least three characters long", field="subject")
    created_by = body.get("createdBy")
    created_by = created_by if isinstance(created_by, dict) else {}
    if not truthy(created_by.get("id")) or not truthy(created_by.get("type")):
        name = "createdBy.id" if not truthy(created_by.get("id")) else "createdBy.type"
        raise bad_request("createdBy.id and createdBy.type are required", field=name)
    participants = body.get("participants")
    if not isinstance(participants, list) or len(participants) < 2:
        raise bad_request("At least two participants are required to start a conversation", field="participants")
    quiet = body.get("quietHours") if isinstance(body.get("quietHours"), dict) else {}
    default_start, default_end, default_tz = c.QUIET_HOURS
    start = _quiet_hour(quiet.get("start") or default_start, "quietHours.start")
    end = _quiet_hour(quiet.get("end") or default_end, "quietHours.end")
    timezone = quiet.get("timezone") or default_tz
    if len(subject.strip()) > c.SUBJECT_MAX:
        raise server_error(f"Validation len on subject failed (3..{c.SUBJECT_MAX} characters)", field="subject")
    _enum(created_by["type"], "createdBy.type", product.CONVERSATION_CREATOR_TYPES)
    require_uuid("createdBy.id", created_by["id"])
    ai = body.get("aiAssist") if isinstance(body.get("aiAssist"), dict) else {}
    ai_default = ai.get("defaultEnabled") is not False
    members = []
    for index, item in enumerate(participants):
        members.append(_participant(item if isinstance(item, dict) else {}, index, timezone))
    if ai_default and not any(m["role"] == "ai_assistant" for m in members):
        members.append(_assistant(ai, timezone))
    fields = {
        "subject": subject.strip(),
        "createdById": created_by["id"],
        "createdByType": created_by["type"],
        "defaultTimezone": timezone,
        "quietHoursStart": start,
        "quietHoursEnd": end,
        "aiAssistDefault": ai_default,
        "retentionDays": c.RETENTION_DAYS,
        "metadata": body.get("metadata") if body.get("metadata") is not None else {},
    }
    return 201, ctx.store.create_conversation(fields, members)


def _quiet_hour(value: Any, name: str) -> str | None:
    normalised = quiet_hour(value)
    if normalised == "":
        raise bad_request(f'Quiet hour value "{value}" must follow HH:mm format', field=name)
    return normalised


def _participant(item: dict[str, Any], index: int, timezone: str) -> dict[str, Any]:
    name = f"participants[{index}]"
    if not truthy(item.get("participantType")) or not truthy(item.get("participantReferenceId")):
        missing = "participantType" if not truthy(item.get("participantType")) else "participantReferenceId"
        raise bad_request(
            "participantType and participantReferenceId are required for each participant", field=f"{name}.{missing}"
        )
    start = _quiet_hour(item.get("quietHoursStart"), f"{name}.quietHoursStart")
    end = _quiet_hour(item.get("quietHoursEnd"), f"{name}.quietHoursEnd")
    if item.get("displayName") is None:
        raise not_null("ConversationParticipant", "displayName")
    _enum(item["participantType"], f"{name}.participantType", product.PARTICIPANT_TYPES, "participantType")
    require_uuid(f"{name}.participantReferenceId", item["participantReferenceId"])
    role = item.get("role") or "customer"
    _enum(role, f"{name}.role", product.PARTICIPANT_ROLES, "role@participant")
    return {
        "participantType": item["participantType"],
        "participantReferenceId": item["participantReferenceId"],
        "displayName": item["displayName"],
        "role": role,
        "aiAssistEnabled": item.get("aiAssistEnabled") if item.get("aiAssistEnabled") is not None else True,
        "notificationsEnabled": item.get("notificationsEnabled")
        if item.get("notificationsEnabled") is not None
        else True,
        "videoEnabled": item.get("videoEnabled") if item.get("videoEnabled") is not None else True,
        "quietHoursStart": start,
        "quietHoursEnd": end,
        "timezone": item.get("timezone") or timezone,
        "lastReadAt": None,
        "agoraUid": None,
        "metadata": item.get("metadata") or {},
    }


def _assistant(ai: dict[str, Any], timezone: str) -> dict[str, Any]:
    """The "Fixnado Assist" participant added unless `aiAssist.defaultEnabled === false` (:605-623)."""
    return {
        "participantType": "support_bot",
        "participantReferenceId": None,
        "displayName": ai.get("displayName") or "Fixnado Assist",
        "role": "ai_assistant",
        "aiAssistEnabled": True,
        "notificationsEnabled": False,
        "videoEnabled": False,
        "quietHoursStart": None,
        "quietHoursEnd": None,
        "timezone": timezone,
        "lastReadAt": None,
        "agoraUid": None,
        "metadata": {"capabilities": ["knowledge_base", "ai_suggestions"], "temperature": 0.35},
    }


def _conversation(ctx: Ctx) -> Conversation:
    return ctx.store.conversation(require_uuid("conversationId", ctx.params["conversationId"]))


def get_conversation(ctx: Ctx) -> tuple[int, Any]:
    """communicationsController.js:58-69 → communicationsService.js:701-718: the last `limit` (1..100) messages."""
    conversation = _conversation(ctx)
    limit = parse_int(ctx.query["limit"]) if ctx.query.get("limit") else 50
    return 200, ctx.store.conversation_view(conversation, min(max(limit or 50, 1), 100))


def post_message(ctx: Ctx) -> tuple[int, Any]:
    """communicationsController.js:71-86 → communicationsService.js:720-768 (+413-534). Who may post: anyone
    sending the id of a participant of this conversation (the token is never compared with it)."""
    body = ctx.fields()
    sender_id = body.get("senderParticipantId")
    if not truthy(sender_id):
        raise bad_request("senderParticipantId is required", field="senderParticipantId")
    conversation = _conversation(ctx)
    sender = next((p for p in conversation.participants if p["id"] == sender_id), None)
    if sender is None:
        members = [p["id"] for p in conversation.participants]
        raise ApiError(403, "Sender is not part of this conversation", field="senderParticipantId", allowed=members)
    message_type = body.get("messageType", "user")
    if message_type == "assistant":
        raise bad_request(
            "Assistant messages must be generated by the platform",
            field="messageType",
            allowed=_CALLER_MESSAGE_TYPES,
        )
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("Message body is required", field="body")
    if message_type is None:
        raise not_null("ConversationMessage", "messageType")
    _enum(message_type, "messageType", _CALLER_MESSAGE_TYPES)  # the enum, less what the platform alone sends
    attachments = body.get("attachments", [])
    if attachments is None:
        raise not_null("ConversationMessage", "attachments")
    fields = {
        "messageType": message_type,
        "body": text.strip(),
        "attachments": attachments,
        "metadata": body.get("metadata") if body.get("metadata") is not None else {},
    }
    return 201, ctx.store.post_message(conversation, sender, fields)


_CALLER_MESSAGE_TYPES = tuple(t for t in product.MESSAGE_TYPES if t != "assistant")


def video_session(ctx: Ctx) -> tuple[int, Any]:
    """communicationsController.js:102-117 → communicationsService.js:814-870 (no quiet-hours check here)."""
    body = ctx.fields()
    participant_id = body.get("participantId")
    if not truthy(participant_id):
        raise bad_request("participantId is required", field="participantId")
    if not ctx.agora:
        raise ApiError(503, "Agora credentials are not configured", field="AGORA_APP_ID")
    conversation = _conversation(ctx)
    member = next((p for p in conversation.participants if p["id"] == participant_id), None)
    if member is None:
        raise not_found("Participant not found in conversation", "participantId")
    if not member["videoEnabled"]:
        raise ApiError(403, "Video has been disabled for this participant", field="participantId")
    requested = body.get("expirySeconds")
    ttl = js_number(requested) if truthy(requested) else c.AGORA_TTL_S
    if ttl is None:
        raise server_error("RangeError: Invalid time value (expirySeconds is not a number)", field="expirySeconds")
    return 201, ctx.store.video_session(conversation, member, body.get("channelName"), max(ttl, 300))


# ---------------------------------------------------------------------- analytics_flow
def dashboard(ctx: Ctx) -> tuple[int, Any]:
    """analyticsPipelineRoutes.js:26-36 → analyticsDashboardController.js:8-40."""
    persona, q = ctx.params["persona"], ctx.query
    problems = []
    if not 3 <= len(persona.strip()) <= 32:
        problems.append(invalid_value("persona", persona, "params", "3 to 32 characters"))
    for name in ("companyId", "providerId"):
        if name in q and not is_uuid_v4(q[name]):
            problems.append(invalid_value(name, q[name], "query", "a UUID v4"))
    for name in ("startDate", "endDate"):
        if name in q and not is_iso8601(q[name]):
            problems.append(invalid_value(name, q[name], "query", "an ISO 8601 date"))
    if "timezone" in q and not 2 <= len(q["timezone"].strip()) <= 64:
        problems.append(invalid_value("timezone", q["timezone"], "query", "2 to 64 characters"))
    if problems:
        raise ValidationFailed(problems)
    key = persona.strip().lower()
    if key not in c.PERSONAS:
        raise ApiError(404, "persona_not_supported", field="persona", allowed=c.PERSONAS)
    zone_name = q.get("timezone") or "Europe/London"
    try:
        tz = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise server_error(f"Invalid timezone: {zone_name}", field="timezone") from None
    now = datetime.now(tz)
    start = js_date(q["startDate"]) if q.get("startDate") else None
    end = js_date(q["endDate"]) if q.get("endDate") else None
    if start is None or end is None or start >= end:
        start, end = now - timedelta(days=28), now
    company_id = q.get("companyId") or next(iter(ctx.store.companies))  # the oldest Company (:186-193)
    totals = ctx.store.dashboard_totals(start, end)
    bookings = totals.get("bookings", 0.0)
    view = {
        "persona": key,
        "name": _PERSONA_NAMES[key],
        "headline": f"{_PERSONA_NAMES[key]} performance",
        "window": {
            "start": start.astimezone(tz).isoformat(timespec="milliseconds"),
            "end": end.astimezone(tz).isoformat(timespec="milliseconds"),
            "timezone": zone_name,
            "label": f"{start.astimezone(tz):%d %b %Y} – {end.astimezone(tz):%d %b %Y}",
        },
        "metadata": {
            "companyId": company_id,
            "totals": {
                "bookings": int(bookings),
                "revenue": round(totals.get("revenue", 0.0), 2),
                "completionRate": round(totals.get("bookings_completed", 0.0) / bookings, 4) if bookings else 0,
                "disputed": int(totals.get("bookings_disputed", 0.0)),
            },
        },
        "navigation": [{"id": item, "label": item.title()} for item in _NAVIGATION[key]],
        "exports": {"csv": {"href": f"/api/analytics/dashboards/{key}/export", "rowLimit": 5000}},
    }
    return 200, view


_PERSONA_NAMES = {
    "admin": "Admin Control Tower",
    "provider": "Provider Operations",
    "serviceman": "Serviceman Workspace",
    "enterprise": "Enterprise Portfolio",
    "user": "Customer Dashboard",
}
_NAVIGATION = {
    "admin": ("overview", "operations", "compliance", "assets"),
    "provider": ("overview", "bookings", "finance"),
    "serviceman": ("overview", "schedule", "jobs"),
    "enterprise": ("overview", "spend", "sites"),
    "user": ("overview", "orders", "messages"),
}


def pipeline_status(ctx: Ctx) -> tuple[int, Any]:
    """analyticsPipelineController.js:8-15 → analyticsPipelineService.js:193-244."""
    return 200, ctx.store.pipeline_status()


# ---------------------------------------------------------------------- ads_flow
def campaign_metrics(ctx: Ctx) -> tuple[int, Any]:
    """campaignController.js:84-91 → campaignService.js:547-683, as intended (the bugs B2/B3 are the
    `fixnado-d191423` fault preset's)."""
    body = ctx.required_body("POST /api/campaigns/{campaignId}/metrics")
    if not truthy(body.get("metricDate")):
        raise bad_request("metricDate is required", field="metricDate")
    campaign = ctx.store.campaign(require_uuid("campaignId", ctx.params["campaignId"]))
    if truthy(body.get("flightId")):
        raise bad_request("Flight does not belong to campaign", field="flightId", allowed=[])
    when = _date_or_400(body["metricDate"], "metricDate must be a valid date", "metricDate")
    figures = {
        "impressions": _count(body.get("impressions", 0)),
        "clicks": _count(body.get("clicks", 0)),
        "conversions": _count(body.get("conversions", 0)),
        "spend": _amount(body.get("spend", 0)),
        "revenue": _amount(body.get("revenue", 0)),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
    }
    return 201, ctx.store.record_metrics(campaign, when, figures)


def _count(value: Any) -> int:
    parsed = parse_int(value)
    return parsed if parsed is not None and parsed >= 0 else 0


def _amount(value: Any) -> float:
    parsed = parse_float(value)
    return parsed if parsed is not None and math.isfinite(parsed) and parsed >= 0 else 0.0


def campaign_summary(ctx: Ctx) -> tuple[int, Any]:
    """campaignController.js:113-120 → campaignService.js:756-785."""
    return 200, ctx.store.campaign_summary(require_uuid("campaignId", ctx.params["campaignId"]))


def fraud_signals(ctx: Ctx) -> tuple[int, Any]:
    """campaignController.js:93-102 → campaignService.js:685-695: unresolved only unless includeResolved=true."""
    campaign_id = require_uuid("campaignId", ctx.params["campaignId"])
    return 200, ctx.store.fraud_signals(campaign_id, ctx.query.get("includeResolved") == "true")


def resolve_signal(ctx: Ctx) -> tuple[int, Any]:
    """campaignController.js:104-111 → campaignService.js:697-711: only `note` is read."""
    signal_id = require_uuid("signalId", ctx.params["signalId"])
    return 200, ctx.store.resolve_signal(signal_id, ctx.fields().get("note"))


def ping(ctx: Ctx) -> tuple[int, Any]:
    return 200, PONG


PONG = {"status": "ok"}
ROOT = {"status": "ok", "service": "Fixnado API"}  # app.js:27-29

SERVICE_TYPES = ("servicemen", "company")  # serviceRoutes.js:13
BUYER_TYPES = ("user", "company")  # serviceRoutes.js:21


def _route(
    method: str, template: str, handler: Handler, user_types: tuple[str, ...] | None = None, authenticated: bool = False
) -> Route:
    return Route(method, template, handler, user_types, authenticated, tuple(template.strip("/").split("/")))


ROUTES: tuple[Route, ...] = (
    _route("POST", "/auth/register", register),
    _route("POST", "/auth/login", login),
    _route("GET", "/auth/me", me, authenticated=True),
    _route("GET", "/zones", list_zones),
    _route("POST", "/zones", create_zone),
    _route("GET", "/services", list_services),
    _route("POST", "/services", create_service, SERVICE_TYPES),
    _route("POST", "/services/{serviceId}/purchase", purchase_service, BUYER_TYPES),
    _route("GET", "/campaigns", list_campaigns),
    _route("POST", "/campaigns", create_campaign),
    _route("POST", "/campaigns/{campaignId}/metrics", campaign_metrics),
    _route("GET", "/campaigns/{campaignId}/summary", campaign_summary),
    _route("GET", "/campaigns/{campaignId}/fraud-signals", fraud_signals),
    _route("POST", "/campaigns/fraud-signals/{signalId}/resolve", resolve_signal),
    _route("POST", "/bookings", create_booking),
    _route("GET", "/bookings", list_bookings),
    _route("GET", "/bookings/{bookingId}", get_booking),
    _route("POST", "/bookings/{bookingId}/assignments", assign_booking),
    _route("POST", "/bookings/{bookingId}/assignments/response", respond_assignment),
    _route("PATCH", "/bookings/{bookingId}/status", update_booking_status),
    _route("POST", "/communications", create_conversation),
    _route("GET", "/communications/{conversationId}", get_conversation),
    _route("POST", "/communications/{conversationId}/messages", post_message),
    _route("POST", "/communications/{conversationId}/video-session", video_session),
    _route("GET", "/analytics/dashboards/{persona}", dashboard),
    _route("GET", "/analytics/pipeline/status", pipeline_status),
)
PING = Route("GET", "/ping", ping, segments=("ping",))
PING_PATHS = ("/ping", "/api/ping", "/api/v1/ping")  # the simulator's own, for the engine benchmarks


class Router:
    """Matches a path under the API prefix to (route, params, template-with-prefix); static segments win
    over `{param}` ones. Anything else is the product's 404 `{"message":"Route not found"}`."""

    def __init__(self, prefix: str = "/api", routes: tuple[Route, ...] = ROUTES) -> None:
        self.prefix = prefix
        self.table: dict[tuple[str, int], list[Route]] = {}
        for route in sorted(routes, key=lambda r: sum(s.startswith("{") for s in r.segments)):
            self.table.setdefault((route.method, len(route.segments)), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], str]:
        if path in PING_PATHS:
            return (PING if method in ("GET", "HEAD") else None), {}, path
        if not path.startswith(self.prefix + "/"):
            return None, {}, "/" if path == "/" else "<unmatched>"
        parts = path[len(self.prefix) + 1 :].rstrip("/").split("/")
        for route in self.table.get((method, len(parts)), ()):
            params = _bind(route.segments, parts)
            if params is not None:
                return route, params, self.prefix + route.template
        return None, {}, "<unmatched>"


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
