"""k6 durations: Go's syntax plus whole days, and a bare number means milliseconds (checked against k6 1.1.0)."""

from __future__ import annotations

import pytest

from fixload.common.durations import DurationError, format_duration, parse_duration, parse_duration_ns


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
        ("500", 0.5),
        ("1.5", 0.0015),  # k6 reads numeric strings with ParseFloat, not ParseInt
        ("1μs", 1e-6),  # Greek mu, as Go accepts
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
        "1h2d",  # k6: strconv.ParseInt: parsing "1h2"
        " 30s",  # k6 does not trim
        "NaN",
        "inf",
        1e308,  # k6 wraps the int64; we refuse
        "106752d",
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


# --- the real k6 binary is the reference ------------------------------------------------------------

K6_CASES: list[object] = [
    "500", "-1s", "1h2d", "1μs", "1µs", "1us", 500, 1.5, "1.5", "+5", "1e3", " 30s", "2d3h", "-1d2h", "-0d1h",
    "1d-1h", "1d", "0", "-500", ".5s", "5.s", "1m30", "1h30m0.5s", "0.000001ms", "1.5d", "12h1d", "s", "",
    "2 minutes", "1h 30m", "0x1p3",
]  # fmt: skip


def _go_string(ns: int) -> str:
    """Go's time.Duration.String, to compare with what k6 inspect prints."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if ns < size * 1000:
                whole, rest = divmod(ns, size)
                frac = f"{rest:0{len(str(size)) - 1}d}".rstrip("0") if size > 1 else ""
                return f"{sign}{whole}{'.' + frac if frac else ''}{unit}"
    seconds, rest = divmod(ns, 1_000_000_000)
    frac = f"{rest:09d}".rstrip("0")
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    tail = f"{seconds}{'.' + frac if frac else ''}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{tail}"
    if minutes:
        return f"{sign}{minutes}m{tail}"
    return sign + tail


def test_every_case_reads_as_k6_1_1_0_reads_it(tmp_path):
    """k6 inspect prints `setupTimeout` as Go's Duration.String, or fails to load the options: our parser must
    give the same nanoseconds for every value k6 accepts and refuse every value k6 refuses."""
    import json
    import shutil
    import subprocess

    k6 = shutil.which("k6")
    if k6 is None:
        pytest.skip("k6 binary not installed (the test extra installs it)")
    script = 'export const options = JSON.parse(open("./options.json")); export default function () {}\n'
    children = []
    for i, value in enumerate(K6_CASES):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "s.js").write_text(script, encoding="utf-8")
        (folder / "options.json").write_text(json.dumps({"setupTimeout": value}), encoding="utf-8")
        children.append(
            subprocess.Popen([k6, "inspect", "s.js"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    mismatches = []
    for value, child in zip(K6_CASES, children, strict=True):
        out, _ = child.communicate(timeout=60)
        k6_says = json.loads(out)["setupTimeout"] if child.returncode == 0 else None
        try:
            ours: str | None = _go_string(parse_duration_ns(value))
        except DurationError:
            ours = None
        if ours != k6_says:
            mismatches.append((value, k6_says, ours))
    assert mismatches == []


def test_nanoseconds_are_exact():
    assert parse_duration_ns("1h30m0.5s") == 5_400_500_000_000
    assert parse_duration_ns(1.5) == 1_500_000
    assert parse_duration_ns("-1d2h") == -93_600_000_000_000


def test_thresholds_use_the_same_parser():
    from fixload.metrics.thresholds import ThresholdError, ThresholdSet

    parsed = ThresholdSet.parse({"http_reqs": [{"threshold": "count>0", "abortOnFail": True, "delayAbortEval": "500"}]})
    assert parsed.thresholds[0].delay_abort_eval_s == 0.5
    with pytest.raises(ThresholdError, match="delayAbortEval"):
        ThresholdSet.parse({"http_reqs": [{"threshold": "count>0", "delayAbortEval": "1h2d"}]})
