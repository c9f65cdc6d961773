"""k6 duration strings, parsed the way k6 parses them: the one duration parser of fixload.

k6 reads every duration option through `types.ParseExtendedDuration` (lib/types/types.go), and so do we,
rule for rule, because a profile must mean the same thing to both harnesses:

1. a value Go's `strconv.ParseFloat` reads (a JSON number, or a string such as `"500"`, `"1.5"`, `"+5"`,
   `"1e3"`) is **milliseconds**, truncated to whole nanoseconds;
2. otherwise, without a `d`: Go's `time.ParseDuration` (`"1m30s"`, `"-1s"`, `".5s"`, `"1µs"`, `"1μs"`);
3. with a `d`: a whole number of days before the first `d` (`strconv.ParseInt`), then an optional Go
   duration that must not be negative; a negative day count negates it (`"-1d2h"` is -26 h).

So `"1h2d"` is an error (k6: `strconv.ParseInt: parsing "1h2"`), whitespace is never trimmed, and a
negative duration parses: whether a field allows it is the field's bound (`duration_bound_error`, the
executors' fields), not the parser's. Where k6 silently wraps an int64 (`1e308`, `"106752d"`), we raise.
"""

from __future__ import annotations

import math
import re

NS_PER_SECOND = 1_000_000_000
MAX_NS = (1 << 63) - 1
"""Go's time.Duration is an int64 of nanoseconds: about 292 years."""


_UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
}
# Go's ParseFloat: decimal with an optional exponent, hex with a binary exponent, inf/infinity/nan.
_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+"
    r"|(?i:inf|infinity|nan))"
)
_INT = re.compile(r"[+-]?\d+")
_GO_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")

EXPECTED = 'a k6 duration such as "30s", "1m30s", "500ms", "2h" or "1d" (a bare number means milliseconds)'


class DurationError(ValueError):
    """A value that is not a k6 duration; the message says what k6 accepts."""


def _bad(value: object, why: str = "") -> DurationError:
    shown = f"got {value!r}" if isinstance(value, str | int | float) else f"got {type(value).__name__}"
    return DurationError(f"expected {EXPECTED}, {shown}{f' ({why})' if why else ''}")


def parse_duration_ns(value: object) -> int:
    """Nanoseconds for a k6 duration (a JSON number or a string), by k6's rules; raise DurationError."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(value)
    if isinstance(value, int | float):
        return _milliseconds(float(value), value)
    if _FLOAT.fullmatch(value):
        text = value
        number = float.fromhex(text) if "x" in text.lower() and "n" not in text.lower() else float(text)
        return _milliseconds(number, value)
    day = value.find("d")
    if day < 0:
        return _go_duration(value, value)
    hours = _go_duration(value[day + 1 :], value) if day + 1 < len(value) else 0
    if hours < 0:
        raise _bad(value, f"k6: invalid time format '{value[day + 1 :]}'")
    if not _INT.fullmatch(value[:day]):
        raise _bad(value, f'k6: strconv.ParseInt: parsing "{value[:day]}": invalid syntax')
    days = int(value[:day])
    total = days * 86400 * NS_PER_SECOND + (-hours if days < 0 else hours)
    if abs(total) > MAX_NS:
        raise _bad(value, "longer than Go's time.Duration can hold")
    return total


def parse_duration(value: object) -> float:
    """Seconds for a k6 duration; raises DurationError naming what was expected."""
    return parse_duration_ns(value) / NS_PER_SECOND


def _milliseconds(number: float, value: object) -> int:
    if not math.isfinite(number):
        raise _bad(value, "not a finite number")
    ns = number * 1e6
    if abs(ns) > MAX_NS:
        raise _bad(value, "longer than Go's time.Duration can hold")
    return int(ns)  # Go's time.Duration(float) truncates toward zero


def _go_duration(text: str, value: object) -> int:
    """Go's time.ParseDuration, exactly: integer nanoseconds, a unit on every number except a lone 0."""
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise _bad(value)
    total = 0
    position = 0
    while position < len(text):
        match = _GO_PART.match(text, position)
        assert match is not None  # the pattern matches the empty string
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise _bad(value)
        if not unit:
            raise _bad(value, "a number without a unit")
        if unit not in _UNIT_NS:
            raise _bad(value, f"unknown unit {unit!r}")
        scale = _UNIT_NS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(float(int(fraction)) * (scale / 10 ** len(fraction)))
        if total > MAX_NS:
            raise _bad(value, "longer than Go's time.Duration can hold")
        position = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """The shortest k6 string for a number of seconds, for plans and summaries people read."""
    if seconds == 0:
        return "0s"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1e-6:
        return f"{round(seconds * 1e9, 3):g}ns"
    if seconds < 1e-3:
        return f"{round(seconds * 1e6, 3):g}µs"
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


MAX_DURATION_S = 30 * 86400.0
"""Every duration fixload reads (an executor's, `settings`', a threshold's `delayAbortEval`) is at most 30d,
so nanoseconds stay exact in a float64 (2**53 ns is 104 days) and the plan's counts are k6's."""
MAX_DURATION_TEXT = "30d"


def duration_bound_error(seconds: float) -> str | None:
    """The message for a duration beyond MAX_DURATION_S, or None."""
    if seconds > MAX_DURATION_S:
        return f"must be at most {MAX_DURATION_TEXT} ({MAX_DURATION_S:g}s), got {format_duration(seconds)}"
    return None
