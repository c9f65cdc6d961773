"""The charts hold their data (issue 26 points 1 and 2): known series rendered, the SVG parsed, its extents
checked -- every point inside the plot, the y axis above the data and the thresholds with headroom, round
ticks, a count that is all zeros on a 0..1 axis of whole numbers, nothing past the x axis; and the latency
chart draws what the thresholds judge (the flow's duration p95 and its threshold lines, labelled)."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from fixload.report.html import judged_lines, scenario_charts, settled
from fixload.report.svg import line_chart, nice_ticks
from fixload.report.timeseries import Row

NS = {"s": "http://www.w3.org/2000/svg"}


def _value(label: str) -> float:
    return float(label[:-1]) * 1000 if label.endswith("k") else float(label)


def _parse(svg: str) -> dict:
    """The plot area, the y ticks (value, y), every drawn point, bar and reference line of one chart."""
    root = ET.fromstring(svg)
    plot = next(r for r in root.iter(f"{{{NS['s']}}}rect") if r.get("class") == "plot")
    x0, y0 = float(plot.get("x")), float(plot.get("y"))
    box = (x0, y0, x0 + float(plot.get("width")), y0 + float(plot.get("height")))
    ticks = [
        (_value(t.text), float(t.get("y")) - 4)
        for t in root.iter(f"{{{NS['s']}}}text")
        if t.get("class") == "tick" and t.get("text-anchor") == "end" and float(t.get("x")) < x0
    ]
    points = []
    for line in root.iter(f"{{{NS['s']}}}polyline"):
        points += [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    points += [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{{{NS['s']}}}circle")]
    bars = [
        (float(r.get("x")), float(r.get("y")), float(r.get("x")) + float(r.get("width")))
        for r in root.iter(f"{{{NS['s']}}}rect")
        if r.get("class") != "plot"
    ]
    hlines = [
        float(line.get("y1")) for line in root.iter(f"{{{NS['s']}}}line") if line.get("stroke-dasharray") == "2 3"
    ]
    return {"box": box, "ticks": ticks, "points": points, "bars": bars, "hlines": hlines, "svg": svg}


def _inside(chart: dict) -> None:
    left, top, right, bottom = chart["box"]
    for x, y in chart["points"]:
        assert left - 0.05 <= x <= right + 0.05 and top - 0.05 <= y <= bottom + 0.05, (x, y, chart["box"])
    for x_from, y, x_to in chart["bars"]:
        assert left - 0.05 <= x_from <= x_to <= right + 0.05 and y >= top - 0.05
    for y in chart["hlines"]:
        assert top - 0.05 <= y <= bottom + 0.05


def _sensible(ticks: list[tuple[float, float]]) -> list[float]:
    values = [v for v, _ in ticks]
    assert 2 <= len(values) <= 9, values
    steps = {round(b - a, 9) for a, b in itertools.pairwise(values)}
    assert len(steps) == 1, values  # evenly spaced
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5), values  # round steps
    return values


def test_the_y_axis_covers_the_data_and_the_threshold_with_headroom() -> None:
    # the cases: a first point of 6.49 on a 6/s schedule, 20.24 and ~17 over a 15 or 20 axis
    for peak, threshold in ((6.49, None), (20.24, None), (17.0, 15.0), (430.0, 1200.0), (2053.9, 1400.0)):
        points = [(2.0 * k, peak * (0.6 + 0.4 * (k % 3 == 0))) for k in range(1, 31)]
        hlines = [(threshold, f"p(95)<{threshold:g}", "#dc2626")] if threshold else []
        chart = _parse(line_chart("t", [{"label": "a", "color": "#000", "points": points}], 60, "ms", hlines=hlines))
        _inside(chart)
        values = _sensible(chart["ticks"])
        highest = max(peak, threshold or 0)
        assert values[-1] >= highest * 1.05, (values, highest)  # headroom above the data and the line
        assert values[-1] <= highest * 2.5, (values, highest)  # not so much that the data is flattened
        top = chart["box"][1]
        assert min(y for _, y in chart["points"]) > top + 2  # the highest point clear of the frame


def test_an_all_zero_count_gets_a_whole_number_axis() -> None:
    zeros = [(2.0 * k, 0.0) for k in range(1, 20)]
    chart = _parse(line_chart("dropped", [{"label": "a", "color": "#000", "points": zeros}], 40, "it", integer=True))
    _inside(chart)
    assert [v for v, _ in chart["ticks"]] == [0, 1]
    three = [{"label": "a", "color": "#000", "points": [(1, 0.0), (2, 3.0)]}]
    few = _parse(line_chart("d", three, 2, "it", integer=True))
    assert all(v == int(v) for v, _ in few["ticks"]) and _sensible(few["ticks"])[-1] >= 3
    assert nice_ticks(0, 1, integer=True) == [0, 1] and nice_ticks(0, 37) == [0, 10, 20, 30, 40]
    assert nice_ticks(0, 6.49)[-1] >= 6.49 and nice_ticks(0, 20.24)[-1] >= 20.24


def test_nothing_is_drawn_past_the_x_axis() -> None:
    points = [(2.0 * k, 5.0) for k in range(1, 31)] + [(61.1, 1.0)]  # a partial last bucket past a 60 s axis
    bars = {"label": "dropped it/s", "color": "#f00", "points": [(60.0, 2.0), (61.1, 9.0)]}
    chart = _parse(line_chart("t", [{"label": "a", "color": "#000", "points": points}], 60, "it/s", bars=bars))
    _inside(chart)
    assert len(chart["points"]) == 30 and len(chart["bars"]) == 1


def _rows() -> list[Row]:
    """A slowed booking flow: HTTP p95 ~430 ms, the flow's duration p95 ~2,050 ms, a last interval of 1.1 s."""
    rows = [Row(2.0 * k, 5.0, 5.0, 0, 430.0, fp95=2050.0 + k, favg=1600.0) for k in range(1, 30)]
    return [*rows, Row(59.1, 5.0, 4.0, 2, 440.0, fp95=2060.0, favg=1610.0)]


THRESHOLDS = [
    {"metric": "booking_flow_duration", "expression": "p(95)<1400", "ok": False},
    {"metric": "booking_flow_duration", "expression": "avg<700", "ok": False},
    {"metric": "http_req_duration{scenario:booking_flow}", "expression": "p(95)<1200", "ok": True},
    {"metric": "http_req_duration", "expression": "p(95)<900", "ok": True},  # the run's, not this chart's
    {"metric": "booking_flow_success_rate", "expression": "rate>0.98", "ok": True},
    {"metric": "http_req_duration{scenario:chat_flow}", "expression": "p(95)<1000", "ok": True},
]


def test_the_latency_chart_draws_the_flow_duration_over_its_failing_threshold_labelled() -> None:
    lines = judged_lines(THRESHOLDS, "booking_flow", "booking_flow")
    assert [(j["metric"], j["aggregation"], j["value"], j["ok"]) for j in lines] == [
        ("booking_flow_duration", "p(95)", 1400.0, False),
        ("booking_flow_duration", "avg", 700.0, False),
        ("http_req_duration", "p(95)", 1200.0, True),
    ]
    html = scenario_charts(
        {"booking_flow": {"executor": "ramping-arrival-rate", "flow": "booking_flow"}},
        THRESHOLDS,
        {"booking_flow": _rows()},
        2.0,
        60.0,
    )
    svgs = [s + "</svg>" for s in html.split("</svg>")[:-1]]
    latency = next(s[s.index("<svg") :] for s in svgs if "latency (ms)" in s)
    chart = _parse(latency)
    _inside(chart)
    for label in (
        "booking_flow_duration p95",
        "booking_flow_duration avg",
        "http_req_duration p95",
        "booking_flow_duration p(95)&lt;1400 ✗",
        "booking_flow_duration avg&lt;700 ✗",
        "http_req_duration{scenario:booking_flow} p(95)&lt;1200 ✓",
    ):
        assert label in latency, label
    assert "p(95)&lt;900" not in latency and "chat_flow" not in latency
    assert "✗ 2 thresholds failed" in latency
    assert _sensible(chart["ticks"])[-1] >= 2060 * 1.05
    # the flow's p95 line lies above its failing threshold line: lower y is higher on the page
    flow_line = ET.fromstring(latency).findall("s:polyline", NS)
    ys = {p.get("stroke"): [float(xy.split(",")[1]) for xy in p.get("points").split()] for p in flow_line}
    threshold_y = max(chart["hlines"][:1])  # lines are drawn highest first
    assert max(ys["#111827"]) < threshold_y
    rate = _parse(next(s[s.index("<svg") :] for s in svgs if "iterations/s" in s))
    _inside(rate)


@pytest.mark.parametrize("field", ["fp95", "favg"])
def test_a_summary_without_the_flow_columns_draws_the_http_p95_alone(field: str) -> None:
    rows = [Row(2.0 * k, 5.0, 5.0, 0, 430.0) for k in range(1, 5)]
    html = scenario_charts({"b": {"flow": "booking_flow"}}, THRESHOLDS, {"b": rows}, 2.0, 8.0)
    assert getattr(rows[0], field) is None
    assert "http_req_duration p95" in html and "booking_flow_duration p95" not in html


def _summary() -> dict:
    thresholds = [
        {"metric": "booking_flow_duration", "expression": "p(95)<1400", "aggregation": "p(95)", "observed": 2053.94,
         "ok": False, "metricType": "trend", "contains": "time"},
        {"metric": "booking_flow_success_rate", "expression": "rate>0.98", "aggregation": "rate", "observed": 1.0,
         "ok": True, "metricType": "rate", "contains": "default"},
        {"metric": "iterations", "expression": "count>1", "aggregation": "count", "observed": 16.0, "ok": True,
         "metricType": "counter", "contains": "default"},
    ]  # fmt: skip
    booking = {
        "executor": "ramping-arrival-rate", "flow": "booking_flow", "scheduled": 20, "started": 20, "dropped": 0,
        "completed": 19, "interrupted": 1, "achievedRate": 5.0, "p95LatencyMs": 430.2, "successRate": 1.0,
        "errorBudgetConsumed": 0.0,
        "failures": [{"step": "create booking", "status": 503, "count": 3, "body": '{"message": "unavailable"}'}],
    }  # fmt: skip
    routes = [
        {"method": "POST", "name": "/api/bookings", "count": 40, "failures": 3, "p(50)": 310.5, "p(95)": 440.0,
         "p(99)": 1450.0},
    ]  # fmt: skip
    return {
        "metrics": {"http_reqs": {"count": 40, "rate": 2.0}, "http_req_duration": {"p(95)": 440.0}},
        "fixload": {"profile": "p", "status": "thresholds_failed", "exitCode": 99, "durationSeconds": 20.0,
                    "thresholds": thresholds, "thresholdsFailed": 1, "routes": routes,
                    "scenarios": {"booking_flow": booking}},
    }  # fmt: skip


def test_the_report_has_routes_failures_and_units_everywhere() -> None:
    from fixload.report.html import html_report, junit_xml

    text = html_report(_summary())
    assert "<h2>Requests by route</h2>" in text and "<code>/api/bookings</code>" in text
    assert '<td class="num">3 (7.50%)</td>' in text and ">310.5ms<" in text and ">1.45s<" in text
    assert "<h2>Failures</h2>" in text and "create booking" in text and "unavailable" in text
    assert ">2053.94ms<" in text and ">100.00%<" in text and ">16<" in text  # the console's formatter
    assert ">430.2ms<" in text and ">5 it/s<" in text and ">0.00%<" in text  # totals: p95, rate, budget
    totals = text.split("Scenario totals")[1].split("</table>")[0]
    assert '<td class="num">100.00%</td><td class="num">0.00%</td></tr>' in totals  # success 1, budget 0 before
    junit = junit_xml(_summary())
    assert "observed p(95) = 2053.94ms" in junit and "observed rate = 100.00%" in junit
    assert "observed count = 16" in junit


def test_a_short_last_row_keeps_its_rates_and_drops_not_its_latencies() -> None:
    rows = [*_rows()[:-1], Row(58.18, 5.0, 4.0, 2, 900.0, fp95=300.0, favg=200.0)]  # 0.18 s after the last
    drawn = settled(rows, 2.0)
    assert drawn[:-1] == rows[:-1] and drawn[-1].achieved == 4.0 and drawn[-1].dropped == 2
    assert (drawn[-1].p95, drawn[-1].fp95, drawn[-1].favg) == (None, None, None)
    assert settled(_rows(), 2.0) == _rows()  # a last row 1.1 s long is half an interval or more: drawn whole
