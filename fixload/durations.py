"""k6 duration strings, parsed the way k6 parses them.

k6 reads `"1m30s"`, `"500ms"`, `"2h"`, `"1d12h"` with Go's unit syntax, and reads a value with no unit
(a JSON number, or a numeric string) as **milliseconds** (`types.ParseExtendedDuration`). We keep that
rule rather than invent a friendlier one: a profile must mean the same thing to both harnesses.
"""

from __future__ import annotations

import re

_UNIT_SECONDS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DAYS = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class DurationError(ValueError):
    """A value that is not a k6 duration; the message says what k6 accepts."""


EXPECTED = 'a k6 duration such as "30s", "1m30s", "500ms", "2h" or "1d" (a bare number means milliseconds)'


def parse_duration(value: object) -> float:
    """Seconds for a k6 duration; raises DurationError naming what was expected."""
    if isinstance(value, bool):
        raise DurationError(f"expected {EXPECTED}, got {value!r}")
    if isinstance(value, int | float):
        return float(value) / 1000.0
    if not isinstance(value, str):
        raise DurationError(f"expected {EXPECTED}, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise DurationError(f"expected {EXPECTED}, got an empty string")
    if _NUMBER.fullmatch(text):
        return float(text) / 1000.0
    # k6's extension of Go's syntax: a whole number of days first ("1d", "1d12h"), then a Go duration.
    if "d" in text:
        days, _, rest = text.partition("d")
        hours = _go_duration(rest, value) if rest else 0.0
        if not _DAYS.fullmatch(days) or hours < 0:
            raise DurationError(f"expected {EXPECTED}, got {value!r}")
        return int(days) * 86400.0 + (-hours if days.startswith("-") else hours)
    return _go_duration(text, value)


def _go_duration(text: str, value: object) -> float:
    """Go's time.ParseDuration: an optional sign, then number+unit parts."""
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    position = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        raise DurationError(f"expected {EXPECTED}, got {value!r}")
    return sign * total


def format_duration(seconds: float) -> str:
    """The shortest k6 string for a number of seconds, for plans and summaries people read."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    whole = int(seconds)
    rest = round(seconds - whole, 3)
    hours, remainder = divmod(whole, 3600)
    minutes, secs = divmod(remainder, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or rest:
        parts.append(f"{secs + rest:g}s")
    return "".join(parts)
