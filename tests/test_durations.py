"""k6 durations: Go's syntax plus whole days, and a bare number means milliseconds (checked against k6 1.1.0)."""

from __future__ import annotations

import pytest

from fixload.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("1m30s", 90),
        ("500ms", 0.5),
        ("2h", 7200),
        ("1d", 86400),
        ("1d12h", 129600),
        ("-1d2h", -93600),  # k6: the sign of the days applies to the hours too
        ("1h2m3.5s", 3723.5),
        (".5s", 0.5),
        ("1.s", 1),
        ("+5s", 5),
        ("-1s", -1),
        ("1500us", 0.0015),
        ("1500µs", 0.0015),
        ("250ns", 250e-9),
        ("0s", 0),
        ("3000", 3),  # k6: a numeric string is milliseconds
        ("1e3", 1),
        (" 2m ", 120),
        (3000, 3),  # a JSON number is milliseconds too (k6 inspect shows 3000 as "3s")
        (1.5, 0.0015),
        (0, 0),
    ],
)
def test_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "s",
        "2 minutes",
        "1.5d",  # k6: strconv.ParseInt: parsing "1.5"
        "12h1d",
        "1d-5h",  # k6: hours after days must not be negative
        "1d1d",
        "5x",
        "1m30",
        "m30s",
        "1h 30m",
        "--1s",
        "NaNs",
    ],
)
def test_reject(text):
    with pytest.raises(DurationError, match="k6 duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [True, False, None, [], {}, object()])
def test_reject_non_strings(value):
    with pytest.raises(DurationError):
        parse_duration(value)


def test_error_names_what_was_given():
    with pytest.raises(DurationError) as info:
        parse_duration("2 minutes")
    assert "'2 minutes'" in str(info.value)
    assert 'such as "30s"' in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (0.0015, "1.5ms"), (1, "1s"), (90, "1m30s"), (360, "6m"), (3723.5, "1h2m3.5s")],
)
def test_format(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
