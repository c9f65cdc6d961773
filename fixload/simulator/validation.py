"""JavaScript's coercions, as the backend applies them: truthiness, `new Date(…)`, `parseInt`, `parseFloat`, UUIDs.

The product's checks are written as `if (!value)`, `new Date(value)` and `Number.parseInt(value, 10)`, so
the simulator accepts and refuses exactly what those accept and refuse: `0` and `""` are missing, `"12abc"`
parses as 12, a date-only string is midnight UTC.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from .errors import uuid_error

_FLOAT_PREFIX = re.compile(
    r"^[\t\n\v\f\r \u00a0\ufeff]*([+-]?(?:Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))"
)
_INT_PREFIX = re.compile(r"^\s*([+-]?\d+)")
_NUMERIC = re.compile(r"^[+-]?([0-9]*[.])?[0-9]+$")  # validator.js isNumeric (no locale)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UUID_V4 = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def truthy(value: Any) -> bool:
    """JavaScript truthiness: null, false, 0, NaN and "" are false; every object and array is true."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    return True


def js_string(value: Any) -> str:
    """`String(value)` for JSON values, as validator.js sees them."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def is_numeric(value: Any) -> bool:
    """express-validator `isNumeric()`."""
    if isinstance(value, dict | list):
        return False
    return bool(_NUMERIC.match(js_string(value)))


def parse_float(value: Any) -> float | None:
    """`Number.parseFloat`, None for NaN."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _FLOAT_PREFIX.match(str(value))
    if not match:
        return None
    text = match.group(1)
    return math.copysign(math.inf, -1 if text.startswith("-") else 1) if "Infinity" in text else float(text)


def parse_int(value: Any) -> int | None:
    """`Number.parseInt(value, 10)`, None for NaN."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    match = _INT_PREFIX.match(str(value))
    return int(match.group(1)) if match else None


def js_number(value: Any) -> float | None:
    """`Number(value)` (finite results only; None otherwise)."""
    if value is None or isinstance(value, dict | list):
        return 0.0 if value is None else None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip()
    if text == "":
        return 0.0
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def js_date(value: Any) -> datetime | None:
    """`new Date(value)` for what JSON can carry: epoch milliseconds or an ISO-8601 string; None when invalid."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000.0, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.astimezone(UTC)  # JS reads a naive date-time as local time


def is_iso8601(value: str) -> bool:
    return js_date(value) is not None and bool(re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()))


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID.match(value))


def is_uuid_v4(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID_V4.match(value))


def require_uuid(field: str, value: Any) -> str:
    """A UUID column's value: anything else is PostgreSQL's 500 (B8)."""
    if not is_uuid(value):
        raise uuid_error(field, value)
    return str(value)


def quiet_hour(value: Any) -> str | None:
    """`normaliseQuietHour` (communicationsService.js:20-33): None when absent, "HH:mm" when valid, "" when not
    (the caller raises the product's 400)."""
    if not truthy(value):
        return None
    match = _HHMM.match(str(value).strip())
    if not match:
        return ""
    return f"{match.group(1).zfill(2)}:{match.group(2)}"


def iso(moment: datetime) -> str:
    """`Date.prototype.toISOString()`: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decimal(value: float) -> str:
    """A DECIMAL(…, 2) column as PostgreSQL returns it: a string with two decimals."""
    return f"{value:.2f}"
