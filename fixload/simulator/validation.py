"""Payload checks that name the field they reject (422), hand-written because each is one line and hot."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any

from .errors import Invalid

_MISSING = object()


def body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("body", "expected a JSON object")
    return body


def string(body: dict[str, Any], name: str, *, required: bool = True, choices: tuple[str, ...] = ()) -> str | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise Invalid(name, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(name, "expected a non-empty string")
    if choices and value not in choices:
        raise Invalid(name, f"expected one of {', '.join(choices)}")
    return value


def number(body: dict[str, Any], name: str, *, required: bool = True, minimum: float | None = None) -> float | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise Invalid(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(name, "expected a number")
    if minimum is not None and value < minimum:
        raise Invalid(name, f"must be at least {minimum:g}")
    return float(value)


def integer(body: dict[str, Any], name: str, *, minimum: int = 0) -> int:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise Invalid(name, "is required")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise Invalid(name, "expected an integer")
    if value < minimum:
        raise Invalid(name, f"must be at least {minimum}")
    return int(value)


def mapping(body: dict[str, Any], name: str, *, required: bool = False) -> dict[str, Any] | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise Invalid(name, "is required")
        return None
    if not isinstance(value, dict):
        raise Invalid(name, "expected an object")
    return value


def array(body: dict[str, Any], name: str, *, min_items: int = 1) -> list[Any]:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise Invalid(name, "is required")
    if not isinstance(value, list):
        raise Invalid(name, "expected an array")
    if len(value) < min_items:
        raise Invalid(name, f"expected at least {min_items} item(s)")
    return value


def parse_instant(value: str, tz: tzinfo = UTC) -> datetime:
    """An ISO-8601 date or date-time as an aware datetime; naive values are read in `tz`. Raises ValueError."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) == 10:
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=tz)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def instant(body: dict[str, Any], name: str, *, required: bool = True, tz: tzinfo = UTC) -> datetime | None:
    raw = string(body, name, required=required)
    if raw is None:
        return None
    try:
        return parse_instant(raw, tz)
    except ValueError:
        raise Invalid(name, "expected an ISO-8601 date-time") from None


def limit(query: dict[str, str], default: int = 20, maximum: int = 200) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid("limit", "expected an integer") from None
    if value < 1:
        raise Invalid("limit", "must be at least 1")
    return min(value, maximum)
