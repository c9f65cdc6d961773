"""`fixload capacity`: the search, how a step is judged (target or generator), its reports and its exit codes.

The default set has the search and the judging on synthetic steps, bad input, one real step and a SIGINT
before any step; the long drills (a whole search against a capacity-limited simulator, a generator with too
few VUs, two workers, SIGINT mid-search) are `slow`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixload.cli.capacity import outcome_block, search, steady_profile
from fixload.profile.schema import load_profile
from fixload.report import capacity as report
from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[1]
SHORT = ROOT / "profiles" / "baseline-short.json"
CAPACITY_RULE = {"route": "*", "capacity": {"concurrency": 4, "service_ms": 12}}
MODEL_RPS = 4 / 0.012


def fake_step(knee: float, seen: list[tuple[float, str]]) -> Any:
    def run(multiplier: float, phase: str) -> report.Step:
        seen.append((multiplier, phase))
        return report.Step(multiplier=multiplier, phase=phase, seconds=1.0, sustainable=multiplier <= knee)

    return run


def test_search_grows_geometrically_then_bisects_to_the_precision() -> None:
    seen: list[tuple[float, str]] = []
    steps = search(fake_step(3.3, seen), start=1.0, most=32.0, growth=2.0, precision=0.05)
    assert seen[:3] == [(1.0, "grow"), (2.0, "grow"), (4.0, "grow")]
    assert {phase for _, phase in seen[3:]} == {"bisect"}
    good = max(s.multiplier for s in steps if s.sustainable)
    bad = min(s.multiplier for s in steps if not s.sustainable)
    assert good <= 3.3 < bad and (bad - good) / good <= 0.05
    block = outcome_block(steps, 1.0, 32.0, interrupted=False)
    assert block["sustainable"]["multiplier"] == good and block["firstFailing"]["multiplier"] == bad
    assert block["limitedBy"] == "target" and len(block["steps"]) == len(steps)


def test_search_stops_at_max_without_a_failure_and_when_interrupted() -> None:
    steps = search(fake_step(100.0, []), start=1.0, most=5.0, growth=2.0, precision=0.05)
    assert [s.multiplier for s in steps] == [1.0, 2.0, 4.0, 5.0]
    block = outcome_block(steps, 1.0, 5.0, interrupted=False)
    assert block["limitedBy"] is None and block["firstFailing"] is None
    assert "nothing failed up to --max ×5" in report.verdict_line(block)
    calls: list[tuple[float, str]] = []

    def interrupted_at_third(multiplier: float, phase: str) -> report.Step | None:
        calls.append((multiplier, phase))
        return None if len(calls) == 3 else report.Step(multiplier, phase, 1.0, True)

    assert [s.multiplier for s in search(interrupted_at_third, 1.0, 32.0, 2.0, 0.05)] == [1.0, 2.0]


def test_a_step_the_generator_failed_is_run_again_before_it_counts() -> None:
    """Once saturated at ×2 (a passing load on a shared machine): run again, sustainable, the search goes on.
    Saturated every time at ×4: the retry fails too, and the verdict is the generator's."""
    seen: list[tuple[float, str]] = []

    def run(multiplier: float, phase: str) -> report.Step:
        seen.append((multiplier, phase))
        blip = multiplier == 2.0 and phase == "grow"
        step = report.Step(multiplier, phase, 1.0, sustainable=multiplier < 4.0 and not blip)
        if not step.sustainable:
            step.generator.append("generator: start lag p95 300 ms > 100")
        return step

    steps = search(run, start=1.0, most=4.0, growth=2.0, precision=0.05)
    assert seen[:5] == [(1.0, "grow"), (2.0, "grow"), (2.0, "retry"), (4.0, "grow"), (4.0, "retry")]
    assert [s.phase for s in steps][:5] == ["grow", "grow", "retry", "grow", "retry"]
    assert {phase for _, phase in seen[5:]} == {"bisect"}  # then bisection between ×2 and ×4, all sustainable
    block = outcome_block(steps, 1.0, 4.0, interrupted=False)
    assert 3.8 <= block["sustainable"]["multiplier"] < 4.0
    assert block["firstFailing"]["multiplier"] == 4.0 and block["limitedBy"] == "generator"
    # saturated at ×4 once, then the target's own failure on the retry: the retry is the verdict
    first, again = report.Step(4.0, "grow", 1.0, False), report.Step(4.0, "retry", 1.0, False)
    first.generator.append("generator: start lag p95 300 ms > 100")
    again.reasons.append("booking_flow_duration p(95) 1,612 ms, needs p(95)<1400")
    block = outcome_block([report.Step(2.0, "grow", 1.0, True), first, again], 2.0, 8.0, interrupted=False)
    assert block["limitedBy"] == "target" and block["firstFailing"]["reasons"] == again.reasons


def summary(
    *, p95: float = 20.0, lag: float = 5.0, dropped: int = 0, failed: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    scenario = {
        "executor": "constant-arrival-rate",
        "scheduled": 100,
        "completed": 100 - dropped,
        "dropped": dropped,
        "durationSeconds": 10,
        "achievedRate": (100 - dropped) / 10,
        "p95LatencyMs": p95,
        "successRate": 1.0,
        "insufficientVUs": {"dropped": dropped, "maxVUs": 4, "neededMaxVUs": 9} if dropped else None,
    }
    return {
        "metrics": {
            "http_reqs": {"count": 500},
            "http_req_duration": {"p(95)": p95},
            "iteration_start_lag": {"p(95)": lag},
        },
        "fixload": {
            "status": "thresholds_failed" if failed else "passed",
            "scenarios": {"booking_flow": scenario},
            "thresholds": [*failed, {"metric": "http_req_failed", "expression": "rate<0.02", "ok": True}],
        },
    }


SLOW = {
    "metric": "booking_flow_duration",
    "aggregation": "p(95)",
    "expression": "p(95)<1400",
    "observed": 1612.4,
    "contains": "time",
    "metricType": "trend",
    "ok": False,
}


def judge(data: dict[str, Any], reference: float | None = 20.0, cpu: float | None = 30.0) -> report.Step:
    return report.judge(
        data,
        2.0,
        "grow",
        10.0,
        exit_code=0,
        cpu_percent=cpu,
        reference_p95_ms=reference,
        bounds=report.Bounds(),
        workers=0,
    )


def test_a_step_is_sustainable_only_when_thresholds_hold_and_nothing_dropped() -> None:
    ok = judge(summary())
    assert ok.sustainable and ok.limited_by is None and ok.requests_per_second == 50.0
    slow = judge(summary(p95=900.0, failed=(SLOW,)))
    assert not slow.sustainable and slow.limited_by == "target"
    assert slow.reasons == ["booking_flow_duration p(95) 1,612 ms, needs p(95)<1400"]
    silent = summary()
    silent["metrics"]["http_reqs"]["count"] = 0
    assert judge(silent).reasons == ["no request was made in the window"]


def windowed(q95s: dict[float, float | None]) -> dict[str, Any]:
    """A 12-s window's time series for booking_flow: each 2-s row's own request p95 (`q95`); the rolling `p95`
    beside it lags (the mean of the last three), as the summary's does."""
    rows, seen = [], []
    for t, q in q95s.items():
        seen += [q] if q is not None else []
        rolling = sum(seen[-3:]) / len(seen[-3:]) if seen else None
        cells = [t, 10, 10, 0, rolling, 20, 10, 10, 0, None, q, None, None, None]
        rows.append(",".join("" if c is None else f"{c:g}" for c in cells))
    from fixload.report.timeseries import COLUMNS

    return {"columns": list(COLUMNS), "intervalSeconds": 2, "scenarios": {"booking_flow": rows}}


# Each 2-s interval's own booking p95 (ms) in 12-s windows against the simulator capped at 333 requests/s
# (the --keep-steps summaries of two searches, local and --workers 2; None: no report from the workers then)
OVER_LOCAL = {2: 46, 4: 69, 6: 72, 8: 92, 10: 100, 12: 106, 13: 108}  # ×0.75, 340/s offered: 2 % over
OVER_WORKERS = {2: 45, 4: 88, 6: None, 8: 109, 10: 130, 12: None, 14: 135, 16: 60}  # ×0.75, two workers
# (a master's rows come up to 3 s late: its row at 14 s is the window's last seconds, at 16 the drain's)
HALF = {2: 23, 4: 21, 6: 19, 8: 19, 10: 20, 12: 22, 13: 19}  # ×0.5: 229/s
FIRST_BLIP = {2: 146, 4: 30, 6: None, 8: 18, 10: 16, 12: 16, 13: 17}  # ×0.25, two workers starting
SATURATED = {2: 224, 4: 388, 6: 385, 8: 383, 10: 378, 12: 375, 13: 362}  # ×1: every VU busy, latency at its cap


@pytest.mark.parametrize(
    ("q95s", "workers", "rising"),
    [
        (OVER_LOCAL, 0, True),
        (OVER_WORKERS, 2, True),
        (HALF, 0, False),
        (FIRST_BLIP, 2, False),
        (SATURATED, 0, False),
    ],
)
def test_latency_still_rising_at_the_windows_end_is_not_sustainable(
    q95s: dict[float, Any], workers: int, rising: bool
) -> None:
    """A target a few per cent over its capacity queues a little more every second: over a 12-s window the
    thresholds hold (p95 ~100 ms of 1,400), but each interval's p95 climbing through the window says the queue
    grows without bound. The rolling p95 the old rule read (last third above twice the first half) missed
    both measured ×0.75 windows; a load under capacity wanders, or is flat at a cap (thresholds judge that)."""
    data = summary()
    data["fixload"]["timeSeries"] = windowed(q95s)
    step = report.judge(
        data,
        0.75,
        "bisect",
        12.0,
        exit_code=0,
        cpu_percent=20.0,
        reference_p95_ms=20.0,
        bounds=report.Bounds(),
        workers=workers,
    )
    assert step.sustainable is not rising and step.limited_by == ("target" if rising else None)
    if rising:
        assert len(step.reasons) == 1 and step.reasons[0].startswith("booking_flow latency still rising"), step.reasons
        assert "first third" in step.reasons[0] and step.reasons[0].endswith("queueing")


def test_a_summary_without_interval_quantiles_judges_its_rolling_p95() -> None:
    legacy = {"columns": ["t", "scheduled", "achieved", "dropped", "p95"], "intervalSeconds": 2}
    data = summary()
    data["fixload"]["timeSeries"] = {
        **legacy,
        "scenarios": {"booking_flow": ["2,10,10,0,40", "4,10,10,0,90", "6,10,10,0,160", "8,10,10,0,260"]},
    }
    step = judge(data)
    assert step.reasons == [
        "booking_flow latency still rising as the window ended (p95 40 ms in its first third, 260 ms in its last): "
        "queueing"
    ]


def test_the_generator_is_blamed_for_start_lag_cpu_or_drops_with_flat_latency() -> None:
    lagging = judge(summary(lag=412.0, failed=(SLOW,)))
    assert lagging.limited_by == "generator"
    assert lagging.generator == ["generator: start lag p95 412 ms > 100"] and "--workers 2" in lagging.advice[0]
    busy = judge(summary(failed=(SLOW,)), cpu=97.0)
    assert busy.limited_by == "generator" and "CPU 97 %" in busy.generator[0]
    short = judge(summary(p95=22.0, dropped=30))
    assert short.limited_by == "generator"
    assert "insufficient VUs: maxVUs 4" in short.generator[0] and "maxVUs" in short.advice[0]
    # the same drops with the target's latency grown tenfold: the target is why VUs ran out
    queued = judge(summary(p95=200.0, dropped=30))
    assert queued.limited_by == "target" and not queued.generator


def test_a_steps_start_grid_is_allowed_on_top_of_the_lag_bound() -> None:
    """A profile with `settings.startGrid` 40ms delays its starts by up to 40 ms on purpose; its run's own
    generator block allows for it, and so does capacity (it blamed the generator at 130 ms before)."""
    gridded = summary(lag=130.0, failed=(SLOW,))
    gridded["fixload"]["generator"] = {"startLagBoundMs": 140.0, "startGridMs": 40.0}
    step = judge(gridded)
    assert step.limited_by == "target" and not step.generator and step.start_grid_ms == 40.0
    gridded["fixload"]["generator"]["startGridMs"] = 20.0
    assert judge(gridded).generator == ["generator: start lag p95 130 ms > 120"]


def test_steady_profile_holds_each_scenario_at_its_peak_times_the_multiplier() -> None:
    profile = load_profile(SHORT)
    data = steady_profile(profile, 2.0, 7.0)
    booking = data["scenarios"]["booking_flow"]
    assert booking["executor"] == "constant-arrival-rate" and booking["rate"] == 72  # peak 36 × 2
    assert booking["duration"] == "7s" and booking["maxVUs"] == 120 and booking["preAllocatedVUs"] == 50
    assert data["scenarios"]["analytics_flow"] == {**data["scenarios"]["analytics_flow"], "vus": 20, "duration": "7s"}
    only = steady_profile(profile, 2.0, 7.0, only="chat_flow")
    assert only["scenarios"]["chat_flow"]["rate"] == 56 and only["scenarios"]["booking_flow"]["rate"] == 36
    assert "defaultMultiplier" not in only["settings"]


JUDGED = (  # (metric, expression, aggregation, observed at ×m, contains, type): a step's summary judges these
    ("booking_flow_duration", "p(95)<1400", "p(95)", lambda m: 310.0 * m * m, "time", "trend"),
    ("booking_flow_duration", "avg<700", "avg", lambda m: 120.0 * m * m, "time", "trend"),
    ("http_req_duration{scenario:booking_flow}", "p(95)<1200", "p(95)", lambda m: 90.0 * m * m, "time", "trend"),
    ("booking_flow_success_rate", "rate>0.98", "rate", lambda m: 1.0 if m <= 3.3 else 0.96, "default", "rate"),
    ("http_req_failed", "rate<0.02", "rate", lambda m: 0.001 * m, "default", "rate"),
)


def holds(expression: str, value: float) -> bool:
    operator, bound = report.bound_of(expression) or ("", 0.0)
    return value < bound if operator == "<" else value > bound


def judged_steps() -> list[report.Step]:
    steps = search(fake_step(3.3, []), start=1.0, most=32.0, growth=2.0, precision=0.05)
    for step in steps:
        m = step.multiplier
        # the request p95 the old chart drew: another number than any threshold judges
        step.scenarios["booking_flow"] = report.ScenarioStep(
            "booking_flow", "constant-arrival-rate", 36 * m, 36 * m, 40.0 * m, 1.0, 100, 100, 0, flow="booking_flow"
        )
        step.thresholds = [
            {
                "metric": metric,
                "expression": expression,
                "aggregation": aggregation,
                "observed": value(m),
                "ok": holds(expression, value(m)),
                "metricType": kind,
                "contains": contains,
            }
            for metric, expression, aggregation, value, contains, kind in JUDGED
        ]
    return steps


def charts(page: str) -> dict[str, ET.Element]:
    """Each chart of the page by its title."""
    found = {}
    for svg in re.findall(r"<svg .*?</svg>", page, re.S):
        root = ET.fromstring(svg)
        found[root.get("aria-label")] = root
    return found


def scale(chart: ET.Element) -> tuple[Any, Any, tuple[float, float, float, float]]:
    """The chart's own axes, read from its tick labels: pixel -> value for x (×M) and y, and its plot box."""
    tag = "{http://www.w3.org/2000/svg}"
    plot = next(r for r in chart.iter(f"{tag}rect") if r.get("class") == "plot")
    box = (float(plot.get("x")), float(plot.get("y")))
    box = (*box, box[0] + float(plot.get("width")), box[1] + float(plot.get("height")))
    ticks = [t for t in chart.iter(f"{tag}text") if t.get("class") == "tick"]
    ys = [(float(t.get("y")) - 4, float(t.text.replace("k", "e3"))) for t in ticks if float(t.get("x")) < box[0]]
    xs = [(float(t.get("x")), float(t.text[1:])) for t in ticks if (t.text or "").startswith("×")]
    (py0, v0), (py1, v1) = ys[0], ys[-1]
    (px0, m0), (px1, m1) = xs[0], xs[-1]
    return (
        lambda px: m0 + (px - px0) * (m1 - m0) / (px1 - px0),
        lambda py: v0 + (py - py0) * (v1 - v0) / (py1 - py0),
        box,
    )


def drawn(chart: ET.Element, label: str) -> tuple[list[tuple[float, float]], list[float]]:
    """The points (pixels) of the series labelled `label` in the legend, and the threshold lines of its colour."""
    tag = "{http://www.w3.org/2000/svg}"
    items = list(chart)
    color = next(
        items[i - 1].get("stroke") for i, el in enumerate(items) if el.get("class") == "legend" and el.text == label
    )
    line = next(p for p in chart.iter(f"{tag}polyline") if p.get("stroke") == color and not p.get("stroke-dasharray"))
    points = [tuple(map(float, xy.split(","))) for xy in line.get("points").split()]
    lines = [
        float(el.get("y1"))
        for el in chart.iter(f"{tag}line")
        if el.get("stroke") == color and el.get("stroke-dasharray") == "2 3"
    ]
    return points, lines


def test_the_html_plots_the_number_each_threshold_judges_on_the_thresholds_own_axis() -> None:
    """Each point is the value the step's summary judged (booking_flow_duration p(95), not the request p95),
    at the step's multiplier, and the threshold's line sits at its bound on the same y axis, inside the plot."""
    steps = judged_steps()
    block = outcome_block(steps, 1.0, 32.0, interrupted=False)
    meta = {"profile": "p", "target": "http://127.0.0.1:1", "thresholds": []}
    page = report.html_report(block, meta)
    found = charts(page)
    assert set(found) == {
        "booking_flow — judged latency (ms) vs load",
        "booking_flow — judged rates (%) vs load",
        "the whole run — judged rates (%) vs load",
    }
    knee, failing = block["sustainable"]["multiplier"], block["firstFailing"]["multiplier"]
    assert f"knee ×{knee:g}" in page and f"first failing ×{failing:g}" in page
    cases = [
        ("booking_flow — judged latency (ms) vs load", "booking_flow_duration p(95)", 0, 1400.0, 1.0),
        ("booking_flow — judged latency (ms) vs load", "booking_flow_duration avg", 1, 700.0, 1.0),
        ("booking_flow — judged latency (ms) vs load", "http_req_duration{scenario:booking_flow} p(95)", 2, 1200, 1.0),
        ("booking_flow — judged rates (%) vs load", "booking_flow_success_rate rate", 3, 98.0, 100.0),
        ("the whole run — judged rates (%) vs load", "http_req_failed rate", 4, 2.0, 100.0),
    ]
    ordered = sorted(steps, key=lambda s: s.multiplier)
    for title, label, index, bound, unit in cases:
        to_x, to_y, (_, top, _, bottom) = scale(found[title])
        points, lines = drawn(found[title], label)
        span = abs(to_y(top) - to_y(bottom))
        assert len(points) == len(ordered), (label, points)
        for (px, py), step in zip(points, ordered, strict=True):
            judged = step.thresholds[index]["observed"] * unit
            assert to_x(px) == pytest.approx(step.multiplier, abs=0.01), (label, step.multiplier)
            assert to_y(py) == pytest.approx(judged, abs=span / 300), (label, step.multiplier, judged)
            assert top - 0.05 <= py <= bottom + 0.05
        threshold = [y for y in lines if to_y(y) == pytest.approx(bound, abs=span / 300)]
        assert threshold and all(top - 0.05 <= y <= bottom + 0.05 for y in threshold), (label, bound)
    # the failing threshold is ringed at the first failing step; the request p95 (40 ms × m) is drawn nowhere
    assert "✗</text>" in page and "request p95" not in page


def fixload(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixload", "capacity", *args],
        cwd=ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "0"], "--start: "),
        (["--start", "4", "--max", "2"], "--max: expected at least --start (4)"),
        (["--per-scenario", "nope"], "--per-scenario: 'nope' is not a scenario of the profile"),
        (["--precision", "2"], "--precision: expected a share in (0, 1)"),
        (["--step", "0.5s"], "a step and a warm-up last at least 1s"),
        (["--ui"], "--ui: not an option of `fixload capacity`"),
        (["--multiplier", "2"], "--multiplier: not an option"),
    ],
)
def test_bad_input_is_104_naming_it_and_sends_nothing(args: list[str], message: str, tmp_path: Path) -> None:
    result = fixload("--profile", str(SHORT), "--summary", str(tmp_path / "s.json"), *args)
    assert result.returncode == 104, result.stderr
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "s.json").exists()


@pytest.fixture()
def limited(tmp_path: Path) -> Any:
    with SimulatorProcess(extra_args=["--fault", orjson.dumps(CAPACITY_RULE).decode()]) as sim:
        yield sim


def capacity_env(sim: SimulatorProcess) -> dict[str, str]:
    return {**os.environ, **sim.env, "PYTHONPATH": str(ROOT)}


def test_one_step_against_a_capacity_limited_simulator(tmp_path: Path, limited: SimulatorProcess) -> None:
    """Fast twin of the search drill: one step at ×0.1, well below the knee; setup ran once, here."""
    out = tmp_path / "cap.json"
    result = fixload(
        "--profile",
        str(SHORT),
        "--start",
        "0.1",
        "--max",
        "0.1",
        "--warmup",
        "0",
        "--step",
        "2s",
        "--summary",
        str(out),
        env=capacity_env(limited),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    block = orjson.loads(out.read_bytes())["fixload"]["capacity"]
    assert block["sustainable"]["multiplier"] == 0.1 and len(block["steps"]) == 1
    booking = block["sustainable"]["scenarios"]["booking_flow"]
    assert booking["rate"] == pytest.approx(3.6, rel=0.2)
    # requests/s per scenario: each scenario's own requests; together every request of the window (setup sent none)
    step = block["steps"][0]
    assert booking["requestRate"] > 2 * booking["rate"]  # a booking iteration makes several requests
    assert sum(s["requests"] for s in step["scenarios"].values()) == round(step["requestsPerSecond"] * 2)
    assert booking["requestRate"] == step["scenarios"]["booking_flow"]["requestRate"]
    assert f"booking_flow {booking['rate']:,.1f} it/s {booking['requestRate']:,.0f} req/s" in result.stdout
    assert "req/s" in result.stdout.splitlines()[1] and "sustainable up to ×0.1" in result.stdout
    assert limited.stats()["capacity"][0]["served"] > 0
    # setup once, before the step: the step's own setup found the ids in its environment and sent nothing
    posts = [r for r in limited.requests() if r["method"] == "POST" and r["route"].endswith(("/zones", "/campaigns"))]
    assert len(posts) <= 2, posts


def run_search(args: list[str], env: dict[str, str], tmp_path: Path, timeout: float = 900) -> dict[str, Any]:
    out = tmp_path / "cap.json"
    result = fixload("--profile", str(SHORT), "--summary", str(out), *args, env=env, timeout=timeout)
    assert out.exists(), result.stderr[-3000:]
    data = orjson.loads(out.read_bytes())["fixload"]
    data["exit"], data["stdout"], data["stderr"] = result.returncode, result.stdout, result.stderr
    return data


SEARCH = ["--start", "0.25", "--max", "4", "--warmup", "2s", "--step", "12s", "--precision", "0.05"]
PRECISION = 0.05


def expected_multiplier(block: dict[str, Any]) -> float:
    """The model's capacity over the requests/s one unit of the profile sends (from the lowest step)."""
    lowest = min(block["steps"], key=lambda s: s["multiplier"])
    return MODEL_RPS / (lowest["requestsPerSecond"] / lowest["multiplier"])


@pytest.fixture(scope="module")
def local_search(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One local search against a capacity-limited simulator, for the search drill and the distributed one."""
    with SimulatorProcess(extra_args=["--fault", orjson.dumps(CAPACITY_RULE).decode()]) as sim:
        return run_search(SEARCH, capacity_env(sim), tmp_path_factory.mktemp("local"))


def assert_the_targets_capacity(data: dict[str, Any]) -> float:
    block = data["capacity"]
    assert data["exit"] == 0, data["stdout"][-4000:] + data["stderr"][-2000:]
    assert block["limitedBy"] == "target", data["stdout"][-4000:]
    sustainable = block["sustainable"]
    assert 0.8 * MODEL_RPS <= sustainable["requestsPerSecond"] <= 1.05 * MODEL_RPS, sustainable
    # predicted from the lowest step's requests per unit of load: analytics_flow is closed-loop (constant-vus),
    # so near the knee it sends fewer per unit than at ×0.25, and the multiplier may overshoot by that much
    assert 0.8 <= sustainable["multiplier"] / expected_multiplier(block) <= 1.1, data["stdout"][-4000:]
    return float(sustainable["multiplier"])


@pytest.mark.slow
@pytest.mark.timeout(900)  # a search is 7-9 steps of ~25 s on a loaded 2-core machine
def test_search_finds_the_simulators_capacity_limited_by_the_target(local_search: dict[str, Any]) -> None:
    assert_the_targets_capacity(local_search)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two searches (the local one may be this test's to run) of 7-9 steps of ~25 s
def test_two_workers_reach_the_same_verdict_within_the_precision(
    tmp_path: Path, limited: SimulatorProcess, local_search: dict[str, Any]
) -> None:
    """The same search over two worker processes finds the same multiplier as one process, within the search's
    precision, both limited by the target."""
    data = run_search([*SEARCH, "--workers", "2"], capacity_env(limited), tmp_path)
    distributed, local = assert_the_targets_capacity(data), assert_the_targets_capacity(local_search)
    assert abs(distributed - local) <= PRECISION * min(distributed, local) + 1e-9, (local, distributed)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a search is 7-9 steps of ~25 s on a loaded 2-core machine
def test_too_few_vus_is_the_generators_limit_and_says_which(tmp_path: Path, limited: SimulatorProcess) -> None:
    profile = orjson.loads(SHORT.read_bytes())
    profile["scenarios"]["booking_flow"].update(preAllocatedVUs=2, maxVUs=3)
    path = tmp_path / "few-vus.json"
    path.write_bytes(orjson.dumps(profile))
    out = tmp_path / "cap.json"
    result = fixload(
        "--profile",
        str(path),
        "--start",
        "0.2",
        "--max",
        "4",
        "--warmup",
        "0",
        "--step",
        "4s",
        "--summary",
        str(out),
        env=capacity_env(limited),
        timeout=600,
    )
    block = orjson.loads(out.read_bytes())["fixload"]["capacity"]
    assert block["limitedBy"] == "generator", result.stdout[-3000:]
    assert any("booking_flow" in r and "maxVUs" in r for r in block["firstFailing"]["reasons"]), block["firstFailing"]
    assert "limited by the generator" in result.stdout and "raise booking_flow's maxVUs" in result.stdout


def sigint_after(sim: SimulatorProcess, tmp_path: Path, marker: str, args: list[str]) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "cap.json"
    log = tmp_path / "out.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fixload", "capacity", "--profile", str(SHORT), "--summary", str(out), *args],
            cwd=ROOT,
            env=capacity_env(sim),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(lambda: marker in log.read_text(), 120, marker)
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return code, orjson.loads(out.read_bytes())["fixload"]


def test_sigint_before_the_first_step_is_105_with_no_steps(tmp_path: Path, limited: SimulatorProcess) -> None:
    code, data = sigint_after(limited, tmp_path, "setup once", ["--start", "0.1", "--warmup", "0", "--step", "30s"])
    assert code == 105 and data["status"] == "interrupted"
    assert data["capacity"]["interrupted"] is True and data["capacity"]["steps"] == []


@pytest.mark.slow
@pytest.mark.timeout(900)  # a search is 7-9 steps of ~25 s on a loaded 2-core machine
def test_sigint_mid_search_is_105_with_the_steps_done_so_far(tmp_path: Path, limited: SimulatorProcess) -> None:
    args = ["--start", "0.1", "--warmup", "0", "--step", "3s"]
    code, data = sigint_after(limited, tmp_path, "step 3:", args)
    assert code == 105 and data["status"] == "interrupted"
    assert [s["multiplier"] for s in data["capacity"]["steps"]] == [0.1, 0.2]
    assert data["capacity"]["sustainable"]["multiplier"] == 0.2 and data["capacity"]["interrupted"] is True


@pytest.mark.parametrize(
    ("short", "line", "advice"),
    [
        ({"maxVUs": 4, "neededMaxVUs": 9}, "(insufficient VUs: maxVUs 4 at ×2)", "(to about 4 at ×1)"),
        ({"maxVUs": 3, "neededMaxVUs": None}, "(insufficient VUs: maxVUs 3 at ×2)", "(it had 3 at ×2)"),
        (
            {"maxVUs": 3, "neededMaxVUs": None, "vusSufficed": 2},
            "(not for want of VUs: maxVUs 3, 2 suffice; the runner fell behind)",
            "spread the load over more processes (--workers 2)",
        ),
    ],
)
def test_drops_with_flat_latency_are_advised_by_what_the_summary_knows_of_the_vus(
    short: dict[str, Any], line: str, advice: str
) -> None:
    """A sized maxVUs where the summary has one; the VUs the scenario had where it has none (was: "to about
    more at ×1"); and, where the summary's bound says the VUs sufficed, not a call for VUs but for processes."""
    data = summary(p95=22.0, dropped=30)
    data["fixload"]["scenarios"]["booking_flow"]["insufficientVUs"] = {"dropped": 30, **short}
    step = judge(data)
    assert step.limited_by == "generator"
    assert step.generator == [f"generator: booking_flow dropped 30 iterations with the target's latency flat {line}"]
    assert len(step.advice) == 1 and advice in step.advice[0], step.advice
