"""The routes setup and the token helpers call: auth (register, login, me), zones, services and their
purchase, campaigns' creation and listing, each checked as the product checks them (FIXNADO-API.md §2-§4;
the file:line in each docstring). The flows' own routes are in `routes.py`, which serves both.
"""

from __future__ import annotations

import re
from typing import Any

from fixload.common import contract as product

from . import backend as c
from .context import Ctx, _date_or_400, _enum
from .errors import (
    ApiError,
    ValidationFailed,
    bad_request,
    fk_error,
    invalid_value,
    no_body,
    not_found,
    not_null,
    server_error,
)
from .geometry import polygon_area_m2, ring_is_valid, summarise
from .validation import (
    is_numeric,
    iso,
    js_date,
    js_number,
    parse_float,
    parse_int,
    require_uuid,
    truthy,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---------------------------------------------------------------------- auth (authRoutes.js)
def register(ctx: Ctx) -> tuple[int, Any]:
    """authRoutes.js:8-18 → authController.js:9-56."""
    body = ctx.fields()
    problems = []
    for name in ("firstName", "lastName"):
        if not truthy(body.get(name)) or not str(body.get(name)).strip():
            problems.append(invalid_value(name, body.get(name), expected="a non-empty string"))
    if not isinstance(body.get("email"), str) or not _EMAIL.match(body["email"]):
        problems.append(invalid_value("email", body.get("email"), expected="an email address"))
    if len(str(body.get("password") or "")) < 8:
        problems.append(invalid_value("password", None, expected="at least 8 characters"))
    if body.get("type") not in product.USER_TYPES:
        problems.append(invalid_value("type", body.get("type"), expected="one of " + ", ".join(product.USER_TYPES)))
        problems[-1]["allowed"] = list(product.USER_TYPES)
    if problems:
        raise ValidationFailed(problems)
    return 201, ctx.store.register(body)


def login(ctx: Ctx) -> tuple[int, Any]:
    """authRoutes.js:20 → authController.js:58-81."""
    body = ctx.fields()
    problems = []
    if not isinstance(body.get("email"), str) or not _EMAIL.match(body["email"]):
        problems.append(invalid_value("email", body.get("email"), expected="an email address"))
    if not truthy(body.get("password")):
        problems.append(invalid_value("password", None, expected="a non-empty string"))
    if problems:
        raise ValidationFailed(problems)
    user = ctx.store.login(body["email"], str(body["password"]))
    if user is None or ctx.token_for is None:
        raise ApiError(401, "Invalid credentials")
    return 200, {"token": ctx.token_for(user), "user": {k: user[k] for k in ("id", "email", "type")}}


def me(ctx: Ctx) -> tuple[int, Any]:
    """authRoutes.js:21 → authController.js:83-95: the whole User row (passwordHash included, B9) + Company."""
    assert ctx.user is not None
    return 200, ctx.store.me(ctx.user["id"])


# ---------------------------------------------------------------------- setup fixtures
def list_zones(ctx: Ctx) -> tuple[int, Any]:
    """zoneController.js:50-59 → zoneService.js:227-258: a bare array, newest first, no limit."""
    company_id = ctx.query.get("companyId")
    if company_id:
        require_uuid("companyId", company_id)
    return 200, ctx.store.list_zones(company_id, ctx.query.get("includeAnalytics") == "true")


def create_zone(ctx: Ctx) -> tuple[int, Any]:
    """zoneController.js:19-26 → zoneService.js:104-136: geometry 400s, then the INSERT's 500s."""
    body = ctx.required_body("POST /api/zones")
    geometry = body.get("geometry")
    if not truthy(geometry):
        raise bad_request("Zone geometry is required", field="geometry")
    source = geometry if isinstance(geometry, dict) and geometry.get("type") else None
    if source is None and isinstance(geometry, dict):
        source = geometry.get("geometry")
    if not isinstance(source, dict) or source.get("type") not in ("Polygon", "MultiPolygon"):
        raise bad_request(
            "Zone geometry must be a Polygon or MultiPolygon",
            field="geometry.type",
            allowed=("Polygon", "MultiPolygon"),
        )
    polygons = [source.get("coordinates")] if source["type"] == "Polygon" else source.get("coordinates")
    if not isinstance(polygons, list) or not polygons or not all(_polygon_ok(p) for p in polygons):
        raise bad_request("Zone polygon is invalid or self-intersects", field="geometry.coordinates")
    if sum(polygon_area_m2(p) for p in polygons) < 10:
        raise bad_request("Zone polygon area is too small to be actionable", field="geometry.coordinates")
    for name in ("companyId", "name"):
        if body.get(name) is None:
            raise not_null("ServiceZone", name)
    company_id = require_uuid("companyId", body["companyId"])
    demand = _enum(body.get("demandLevel", "medium"), "demandLevel", c.DEMAND_LEVELS)
    if ctx.store.company(company_id) is None:
        raise fk_error("companyId", company_id, "ServiceZone", "Company")
    boundary = {
        "type": "MultiPolygon",
        "coordinates": polygons,
        "crs": {"type": "name", "properties": {"name": "EPSG:4326"}},
    }
    centroid, bbox = summarise(polygons)
    fields = {
        "companyId": company_id,
        "name": body["name"],
        "boundary": boundary,
        "centroid": centroid,
        "boundingBox": bbox,
        "metadata": body.get("metadata") if body.get("metadata") is not None else {},
        "demandLevel": demand,
    }
    return 201, ctx.store.create_zone(fields)


def _polygon_ok(rings: Any) -> bool:
    return isinstance(rings, list) and bool(rings) and all(ring_is_valid(ring) for ring in rings)


def list_services(ctx: Ctx) -> tuple[int, Any]:
    """serviceController.js:4-11: at most 50, newest first; query parameters ignored."""
    return 200, ctx.store.list_services()


def create_service(ctx: Ctx) -> tuple[int, Any]:
    """serviceRoutes.js:10-16 → serviceController.js:13-33: title notEmpty, price isNumeric (422)."""
    body = ctx.fields()
    problems = []
    title = body.get("title")
    if title is None or title == "" or title == []:
        problems.append(invalid_value("title", title, expected="a non-empty value"))
    if not is_numeric(body.get("price")):
        problems.append(invalid_value("price", body.get("price"), expected="a number"))
    if problems:
        raise ValidationFailed(problems)
    assert ctx.user is not None
    price = parse_float(body["price"]) or 0.0
    fields = {
        "providerId": ctx.user["id"],
        "title": title,
        "description": body.get("description"),
        "category": body.get("category"),
        "price": f"{price:.2f}",
        "currency": body.get("currency") or "USD",
    }
    return 201, ctx.store.create_service(fields)


def purchase_service(ctx: Ctx) -> tuple[int, Any]:
    """serviceRoutes.js:18-24 → serviceController.js:35-79: an order and a funded escrow, no idempotency."""
    body = ctx.fields()
    amount = body.get("totalAmount")
    if amount is not None and not is_numeric(amount):
        raise ValidationFailed([invalid_value("totalAmount", amount, expected="a number")])
    if ctx.body is None:
        raise no_body("POST /api/services/{serviceId}/purchase")
    service_id = require_uuid("serviceId", ctx.params["serviceId"])
    service = ctx.store.services.get(service_id)
    if service is None:
        raise not_found("Service not found", "serviceId")
    when = body.get("scheduledFor")
    if when is not None and js_date(when) is None:
        raise server_error(f'invalid input syntax for type timestamp with time zone: "{when}"', field="scheduledFor")
    total = parse_float(amount if truthy(amount) else service["price"]) or 0.0  # `totalAmount || service.price`
    assert ctx.user is not None
    result = ctx.store.purchase(
        service,
        ctx.user["id"],
        f"{total:.2f}",
        body.get("currency") or service["currency"],
        iso(js_date(when)) if when is not None else None,  # type: ignore[arg-type]
    )
    return 201, result


def list_campaigns(ctx: Ctx) -> tuple[int, Any]:
    """campaignController.js:30-43 → campaignService.js:325-341."""
    q = ctx.query
    if q.get("companyId"):
        require_uuid("companyId", q["companyId"])
    if q.get("status"):
        _enum(q["status"], "status", product.CAMPAIGN_STATUSES, "status@campaign")
    limit = parse_int(q["limit"]) if q.get("limit") else 50
    offset = parse_int(q["offset"]) if q.get("offset") else 0
    return 200, ctx.store.list_campaigns(q.get("companyId"), q.get("status"), limit or 0, offset or 0)


def create_campaign(ctx: Ctx) -> tuple[int, Any]:
    """campaignController.js:21-28 → campaignService.js:277-323."""
    body = ctx.required_body("POST /api/campaigns")
    required = ("companyId", "name", "objective", "totalBudget", "startAt", "endAt")
    missing = [name for name in required if not truthy(body.get(name))]
    if missing:
        raise bad_request(
            "companyId, name, objective, budget, startAt, and endAt are required fields", field=missing[0]
        )
    company_id = require_uuid("companyId", body["companyId"])
    if ctx.store.company(company_id) is None:
        raise not_found("Company not found", "companyId")
    start = _date_or_400(body["startAt"], "startAt must be a valid date", "startAt")
    end = _date_or_400(body["endAt"], "endAt must be a valid date", "endAt")
    fields = {
        "companyId": company_id,
        "name": body["name"],
        "objective": _max_length(body["objective"], "objective", c.OBJECTIVE_MAX),
        "campaignType": _enum(body.get("campaignType", "ppc"), "campaignType", product.CAMPAIGN_TYPES),
        "status": _enum(body.get("status", "draft"), "status", product.CAMPAIGN_STATUSES, "status@campaign"),
        "pacingStrategy": _enum(body.get("pacingStrategy", "even"), "pacingStrategy", product.PACING_STRATEGIES),
        "bidStrategy": _enum(body.get("bidStrategy", "cpc"), "bidStrategy", product.BID_STRATEGIES),
        "currency": str(body["currency"]).upper() if truthy(body.get("currency")) else c.DEFAULT_CURRENCY,
        "totalBudget": _money(body["totalBudget"], "totalBudget"),
        "dailySpendCap": _money(body["dailySpendCap"], "dailySpendCap")
        if body.get("dailySpendCap") is not None
        else None,
        "startAt": iso(start),
        "endAt": iso(end),
        "timezone": "Europe/London",
        "metadata": body.get("metadata") if body.get("metadata") is not None else {},
    }
    return 201, ctx.store.create_campaign(fields)


def _max_length(value: Any, name: str, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        raise server_error(f"value too long for type character varying({limit})", field=name)
    return value


def _money(value: Any, name: str) -> str:
    number = js_number(value)
    if number is None:
        raise server_error(f'invalid input syntax for type numeric: "{value}"', field=name)
    return f"{number:.2f}"
