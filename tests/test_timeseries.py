"""fixload.report.timeseries: the summary's per-scenario rows (issue 17) -- round trip, merging, bounded size."""

from __future__ import annotations

import random

import pytest

from fixload.report import timeseries
from fixload.report.summary import dumps
from fixload.report.timeseries import MAX_ROWS, TimeSeriesError, decode, encode

SCENARIOS = ("ads_flow", "analytics_flow", "booking_flow", "chat_flow", "payments_flow")


def live_points(count: int, seed: int = 7) -> list[dict]:
    """What fixload.runtime.live samples every 2 s for the baseline's five scenarios, with realistic magnitudes."""
    rng = random.Random(seed)
    dropped = dict.fromkeys(SCENARIOS, 0)
    points = []
    for k in range(1, count + 1):
        scenarios = {}
        for name in SCENARIOS:
            dropped[name] += rng.choice((0, 0, 0, 0, 1, 3))
            vus = name == "analytics_flow"
            q50 = rng.uniform(40, 700)
            scenarios[name] = {
                "target": None if vus else round(rng.uniform(3, 36), 3),
                "achieved": round(rng.uniform(3, 36), 3),
                "p95": round(rng.uniform(80, 1400), 3),
                "dropped": dropped[name],
                "started": 10 * k,
                "completed": 10 * k - 3,
                "failed": k // 7,
                "requests": rng.randint(20, 180),
                "q50": round(q50, 3),
                "q95": round(q50 * 2.1, 3),
                "q99": round(q50 * 2.9, 3),
                "fp95": round(q50 * 3.5, 3),
                "favg": round(q50 * 1.8, 3),
                "vus": 20,
            }
        points.append({"t": round(2.0 * k + rng.uniform(0, 0.004), 3), "scenarios": scenarios})
    return points


def test_round_trip_keeps_what_the_report_draws():
    points = live_points(30)
    block = encode(points, 2.0)
    assert block["intervalSeconds"] == 2.0 and block["columns"] == [
        *("t", "scheduled", "achieved", "dropped", "p95"),
        *("requests", "started", "completed", "failed", "q50", "q95", "q99"),
        *("fp95", "favg"),
    ]
    rows = decode(block)
    assert sorted(rows) == sorted(SCENARIOS)
    for name in SCENARIOS:
        assert len(rows[name]) == 30
        previous = 0
        for point, row in zip(points, rows[name], strict=True):
            s = point["scenarios"][name]
            assert row.t == point["t"]
            assert row.scheduled == (None if s["target"] is None else pytest.approx(s["target"], abs=0.0051))
            assert row.achieved == pytest.approx(s["achieved"], abs=0.0051)
            assert row.p95 == pytest.approx(s["p95"], abs=0.0051)
            assert row.dropped == s["dropped"] - previous  # per interval
            assert row.requests == s["requests"] and row.has_window
            assert (row.q50, row.q95, row.q99) == pytest.approx((s["q50"], s["q95"], s["q99"]), abs=0.0051)
            assert (row.fp95, row.favg) == pytest.approx((s["fp95"], s["favg"]), abs=0.0051)
            previous = s["dropped"]
        counts = [(r.started, r.completed, r.failed) for r in rows[name]]
        assert counts[0] == (10, 7, 0) and counts[1:] == [(10, 10, int(k % 7 == 0)) for k in range(2, 31)]
    assert block["scenarios"]["analytics_flow"][0].split(",")[1] == ""  # no schedule: empty, read back as None


def test_a_six_hour_soak_fits():
    """The size a 6-hour soak of the baseline's five scenarios adds to the summary, measured."""
    block = encode(live_points(MAX_ROWS), 2.0)
    size = len(dumps({"fixload": {"timeSeries": block}}))  # as nested in the summary
    print(f"\n6 h soak, 5 scenarios, {MAX_ROWS} rows each: timeSeries adds {size} bytes ({size / 2**20:.2f} MiB)")
    assert all(len(rows) == MAX_ROWS for rows in block["scenarios"].values())
    assert 2_000_000 < size < 5_600_000


def test_longer_runs_merge_rows_average_rates_sum_drops_keep_the_worst_p95(monkeypatch):
    """Past MAX_ROWS samples, rows merge (here MAX_ROWS is 50: 100 samples give 50 rows of 4 s)."""
    monkeypatch.setattr(timeseries, "MAX_ROWS", 50)
    points = live_points(100)
    block = encode(points, 2.0)
    assert block["intervalSeconds"] == 4.0
    assert all(len(rows) == 50 for rows in block["scenarios"].values())
    assert encode(points[:50], 2.0)["intervalSeconds"] == 2.0  # up to MAX_ROWS: one row per sample
    assert len(encode(points[:51], 2.0)["scenarios"]["booking_flow"]) == 26  # one more: pairs
    rows = decode(block)["booking_flow"]
    first = [p["scenarios"]["booking_flow"] for p in points[:2]]
    assert rows[0].t == points[1]["t"]
    assert rows[0].achieved == pytest.approx((first[0]["achieved"] + first[1]["achieved"]) / 2, abs=0.0051)
    assert rows[0].p95 == pytest.approx(max(f["p95"] for f in first), abs=0.0051)
    assert rows[0].requests == first[0]["requests"] + first[1]["requests"]  # counts summed
    weighted = (first[0]["q95"] * first[0]["requests"] + first[1]["q95"] * first[1]["requests"]) / rows[0].requests
    assert rows[0].q95 == pytest.approx(weighted, abs=0.0051)  # quantiles averaged, weighted by requests
    assert (
        rows[1].completed == 20
        and sum(r.completed for r in rows) == points[-1]["scenarios"]["booking_flow"]["completed"]
    )
    assert sum(r.dropped for r in rows) == points[-1]["scenarios"]["booking_flow"]["dropped"]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ([], "fixload.timeSeries: expected an object"),
        ({"columns": ["t"]}, "fixload.timeSeries.columns: expected"),
        ({"scenarios": {"a": "x"}}, "fixload.timeSeries.scenarios.a: expected an array of rows"),
        ({"scenarios": {"a": ["1,2,3"]}}, 'fixload.timeSeries.scenarios.a[0]: expected a row "t,scheduled'),
        ({"scenarios": {"a": ["1,2,x,0,1"]}}, "fixload.timeSeries.scenarios.a[0]: achieved 'x' is not a number"),
        ({"scenarios": {"a": [",2,3,0,1"]}}, "fixload.timeSeries.scenarios.a[0]: t is empty"),
    ],
)
def test_a_bad_block_names_the_row(block, message):
    with pytest.raises(TimeSeriesError, match=message.replace("[", r"\[").replace("(", r"\(")):
        decode(block)
    assert decode(None) == {}


def test_a_summary_from_before_the_window_columns_still_reads():
    """The five legacy columns: rows decode, their comparison fields are None (compare falls back to the budget)."""
    block = {"intervalSeconds": 2, "columns": ["t", "scheduled", "achieved", "dropped", "p95"], "scenarios": {}}
    block["scenarios"]["a"] = ["2.001,5,4.5,1,12.3", "4.002,,5,0,"]
    rows = decode(block)["a"]
    assert rows[0] == timeseries.Row(2.001, 5.0, 4.5, 1, 12.3) and rows[1].p95 is None and rows[1].scheduled is None
    assert not rows[0].has_window and rows[0].requests is None
    with pytest.raises(TimeSeriesError, match="expected a row"):
        decode({**block, "scenarios": {"a": ["2.001,5,4.5,1,12.3,40,5,5,0,1,2,3"]}})  # 12 fields under 5 columns


def test_a_summary_from_before_the_flow_columns_still_reads():
    """The twelve columns before the flow's duration: rows decode with `fp95`/`favg` None (issue 26)."""
    columns = list(timeseries.LEGACY_COLUMNS + timeseries.WINDOW_COLUMNS)
    block = {"intervalSeconds": 2, "columns": columns, "scenarios": {"a": ["2.001,5,4.5,1,12.3,40,5,5,0,1,2,3"]}}
    (row,) = decode(block)["a"]
    assert row.has_window and row.q99 == 3 and row.fp95 is None and row.favg is None
    (row,) = decode({"scenarios": {"a": ["2.001,5,4.5,1,12.3,40,5,5,0,1,2,3,900.5,700"]}})["a"]  # no `columns`
    assert (row.fp95, row.favg) == (900.5, 700.0)


def test_merged_rows_keep_the_worst_flow_p95_and_average_the_flow_mean(monkeypatch):
    monkeypatch.setattr(timeseries, "MAX_ROWS", 10)
    points = live_points(20)
    rows = decode(encode(points, 2.0))["booking_flow"]
    first = [p["scenarios"]["booking_flow"] for p in points[:2]]
    assert rows[0].fp95 == pytest.approx(max(s["fp95"] for s in first), abs=0.0051)
    assert rows[0].favg == pytest.approx(sum(s["favg"] for s in first) / 2, abs=0.0051)
