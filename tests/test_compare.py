"""`fixload compare` (issue 17): two summaries (fixload or k6) aligned, judged against a budget, exit codes.

Summaries here are built by `fixload.report.summary.build_summary` from registries with known samples (what a run
writes), or are the real k6 v1.1.0 export in tests/data; the CLI is `fixload.cli.main.main`, the function the
`fixload` script calls (one test runs the script itself).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from fixload.cli.main import main
from fixload.common import budget as budgets
from fixload.metrics.registry import Registry
from fixload.metrics.thresholds import ThresholdSet
from fixload.report.compare import canonical_key, compare, load
from fixload.report.summary import RunInfo, ScenarioCounts, build_summary, write_summary

K6_EXPORT = Path(__file__).parent / "data" / "k6_summary_export.json"
STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
THRESHOLDS = {
    "http_req_duration{scenario:booking_flow}": ["p(95)<200"],
    "booking_flow_success_rate": ["rate>0.98"],
    "payments_flow_success_rate": ["rate>0.98"],
    "http_req_failed": ["rate<0.02"],
}


def make_summary(
    tmp_path: Path,
    name: str,
    *,
    booking_ms: float = 100.0,
    booking_fails: int = 0,
    booking_dropped: int = 0,
    started: datetime = STARTED,
) -> Path:
    """A two-scenario run: booking_flow (200 iterations, latencies 1..booking_ms), payments_flow (100, 1..50 ms)."""
    registry = Registry()
    for flow in ("booking_flow", "payments_flow"):
        registry.define(f"{flow}_success_rate", "rate")
        registry.define(f"{flow}_duration", "trend", contains="time")
    runs = {"booking_flow": (200, booking_ms, booking_fails), "payments_flow": (100, 50.0, 0)}
    for scenario, (count, top, fails) in runs.items():
        tags = {"scenario": scenario, "method": "GET", "status": "200", "expected_response": "true"}
        for i in range(count):
            registry.add("http_req_duration", 1 + (top - 1) * i / (count - 1), tags)
            registry.add("http_reqs", 1, tags)
            registry.add("http_req_failed", False, tags)
            registry.add("iterations", 1, {"scenario": scenario})
            registry.add(f"{scenario}_success_rate", i >= fails, {"scenario": scenario})
    thresholds = ThresholdSet.parse(THRESHOLDS)
    info = RunInfo("two flows", 1.0, started, started + timedelta(seconds=20), "passed")
    counts = [
        ScenarioCounts("booking_flow", "constant-arrival-rate", "booking_flow", 200 + booking_dropped, 200,
                       booking_dropped, 200, 0, 20.0),
        ScenarioCounts("payments_flow", "constant-arrival-rate", "payments_flow", 100, 100, 0, 100, 0, 20.0),
    ]  # fmt: skip
    summary = build_summary(registry, thresholds, info, counts)
    return write_summary(tmp_path / name, summary)


def run_cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(result: dict) -> dict[tuple[str, str], dict]:
    return {(r["group"], r["metric"]): r for r in result["rows"]}


# ------------------------------------------------------------------------------------------ verdicts


def test_two_equal_runs_are_within_budget(tmp_path, capsys):
    base, new = make_summary(tmp_path, "base.json"), make_summary(tmp_path, "new.json", booking_ms=104.0)
    code, out, err = run_cli(str(base), str(new), "--format", "json", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["verdict"] == "within_budget" and result["exitCode"] == 0
    rows = rows_of(result)
    p95 = rows[("booking_flow", "p95")]
    assert p95["base"] == pytest.approx(95.05, rel=0.02) and p95["new"] == pytest.approx(98.8, rel=0.02)
    assert p95["relative"] == pytest.approx(0.04, abs=0.01) and p95["judged"] and not p95["regression"]
    for group in ("overall", "booking_flow", "payments_flow"):  # every row has both sides, fixload has p99
        for metric in ("p50", "p95", "p99", "avg", "success", "failures", "iterations", "dropped", "thresholds"):
            row = rows[(group, metric)]
            assert row["base"] is not None and row["new"] is not None, (group, metric)
    assert rows[("booking_flow", "iterations")]["base"] == 10.0  # 200 in 20 s
    assert rows[("overall", "thresholds")]["newTotal"] == 4


def test_a_p95_regression_exits_99_and_marks_the_row(tmp_path, capsys):
    base, new = make_summary(tmp_path, "base.json"), make_summary(tmp_path, "new.json", booking_ms=150.0)
    code, out, _ = run_cli(str(base), str(new), capsys=capsys)
    assert code == 99
    lines = out.splitlines()
    assert lines[0].startswith("fixload compare: REGRESSION: 2 over budget: overall http p95 ms +")  # overall moved too
    marked = [line for line in lines if line.startswith("✗")]
    assert len(marked) == 2 and all(" http p95 ms " in line and "p95 +10% REGRESSION" in line for line in marked)
    booking = next(i for i, line in enumerate(lines) if line[2:].startswith("booking_flow "))
    assert lines[booking + 1].startswith("✗ ") and "+50.0%" in lines[booking + 1]
    # p50/avg moved too but have no budget by default: shown, not judged
    assert "REGRESSION" not in lines[booking] and "REGRESSION" not in lines[booking + 3]

    code, out, _ = run_cli(str(base), str(new), "--budget", "p95=+60%", capsys=capsys)
    assert code == 0 and out.startswith("fixload compare: within budget (p95 +60%, success -0.5pp")
    code, out, _ = run_cli(str(base), str(new), "--budget", "p95=+60%,avg=+20ms", capsys=capsys)
    assert code == 99 and "booking_flow http avg ms +" in out.splitlines()[0]


def test_success_drops_and_new_drops_and_newly_failed_thresholds(tmp_path, capsys):
    base = make_summary(tmp_path, "base.json")
    worse = make_summary(tmp_path, "new.json", booking_fails=6, booking_dropped=3)  # 97% < 98%: threshold fails
    code, out, _ = run_cli(str(base), str(worse), "--format", "json", capsys=capsys)
    assert code == 99
    result = json.loads(out)
    regressed = {(r["group"], r["metric"]) for r in result["rows"] if r["regression"]}
    assert regressed == {
        ("booking_flow", "success"),  # -3 pp
        ("booking_flow", "dropped"),  # 0 -> 3
        ("booking_flow", "thresholds"),  # booking_flow_success_rate: rate>0.98 newly failed
        ("overall", "success"),  # 294/300 vs 300/300: -2 pp
        ("overall", "dropped"),
        ("overall", "thresholds"),
    }
    rows = rows_of(result)
    assert rows[("booking_flow", "success")]["delta"] == pytest.approx(-0.03)
    assert rows[("booking_flow", "failures")]["new"] == 6 and not rows[("booking_flow", "failures")]["judged"]
    assert rows[("booking_flow", "thresholds")]["note"] == "1 newly failed"
    newly = [t for t in result["thresholds"] if t["newlyFailed"]]
    assert [(t["metric"], t["expression"]) for t in newly] == [("booking_flow_success_rate", "rate>0.98")]
    # each rule can be relaxed or switched off
    relaxed = "success=-5pp,dropped=+3,thresholds=+1"
    assert run_cli(str(base), str(worse), "--budget", relaxed, capsys=capsys)[0] == 0
    assert run_cli(str(base), str(worse), "--budget", "success=off,dropped=off,thresholds=off", capsys=capsys)[0] == 0
    # an improvement is never a regression
    assert run_cli(str(worse), str(base), capsys=capsys)[0] == 0


def test_the_profile_compare_block_sets_the_budget_and_the_command_line_wins(tmp_path, capsys):
    base, new = make_summary(tmp_path, "base.json"), make_summary(tmp_path, "new.json", booking_ms=150.0)
    profile = orjson.loads((Path(__file__).parents[1] / "profiles" / "baseline-short.json").read_bytes())
    profile["compare"] = {"budget": {"p95": "+60%"}}
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(profile))
    code, out, _ = run_cli(str(base), str(new), "--profile", str(path), capsys=capsys)
    assert code == 0 and "(p95 +60%," in out.splitlines()[0]
    assert run_cli(str(base), str(new), "--profile", str(path), "--budget", "p95=+10%", capsys=capsys)[0] == 99


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p95=+5x", "--budget: p95='+5x' is not a budget, expected +10% or +50ms or off"),
        ("p59=+5%", "--budget: unknown budget key 'p59'"),
        ("success=+1pp", "--budget: success='+1pp': a budget is the change allowed the bad way"),
        ("success=1%", "--budget: success='1%': unit '%' does not apply to success"),
        ("p95", "--budget: 'p95' is not key=value"),
    ],
)
def test_a_bad_budget_exits_104_naming_it(tmp_path, capsys, text, expected):
    base = make_summary(tmp_path, "base.json")
    code, out, err = run_cli(str(base), str(base), "--budget", text, capsys=capsys)
    assert code == 104 and out == ""
    assert expected in err


def test_budget_rules():
    rules = budgets.resolve(budgets.parse_text("p99=+20ms,iterations=-5%,p95=off"))
    assert list(rules) == ["success", "dropped", "thresholds", "p99", "iterations"]
    assert rules["p99"].exceeded(100.0, 120.5) and not rules["p99"].exceeded(100.0, 120.0)
    assert rules["iterations"].exceeded(10.0, 9.4) and not rules["iterations"].exceeded(10.0, 9.6)
    assert rules["success"].exceeded(0.999, 0.9939) and not rules["success"].exceeded(0.999, 0.9941)
    assert not rules["dropped"].exceeded(None, 5)
    assert budgets.describe(budgets.DEFAULTS) == "p95 +10%, success -0.5pp, dropped +0, thresholds +0"


# ------------------------------------------------------------------------------------------ k6 exports


def test_a_fixload_summary_against_the_k6_export(tmp_path, capsys):
    """k6's selector spelling is normalised, and its threshold booleans are read inverted (true = FAILED)."""
    base = make_summary(tmp_path, "base.json", booking_ms=1.5)
    code, out, _ = run_cli(str(base), str(K6_EXPORT), "--format", "json", capsys=capsys)
    result = json.loads(out)
    assert result["new"]["format"] == "k6 summary export" and result["base"]["format"] == "fixload summary"
    rows = rows_of(result)
    p95 = rows[("booking_flow", "p95")]  # from http_req_duration{scenario : 'booking_flow'} and {scenario:...}
    assert p95["new"] == pytest.approx(1.178277) and p95["base"] == pytest.approx(1.425, rel=0.05)
    assert rows[("booking_flow", "p50")]["new"] == pytest.approx(0.899113)
    assert rows[("booking_flow", "p99")]["new"] is None and not rows[("booking_flow", "p99")]["judged"]
    assert rows[("booking_flow", "success")]["new"] == 1.0 and rows[("booking_flow", "failures")]["new"] == 0
    assert rows[("booking_flow", "dropped")]["new"] == 0  # k6 wrote no dropped_iterations: none dropped
    iterations = rows[("booking_flow", "iterations")]["new"]
    assert iterations == pytest.approx(20.3166, rel=1e-3)  # 61 flow iterations over k6's 3.0 s
    assert rows[("overall", "success")]["new"] == 1.0 and rows[("overall", "iterations")]["new"] == pytest.approx(
        20.31660299001431
    )
    states = {(t["metric"], t["expression"]): t["new"] for t in result["thresholds"]}
    assert states[("booking_flow_duration", "p(95)<1")] is True  # k6 wrote true: FAILED
    assert states[("http_req_duration{scenario:booking_flow}", "p(95)<1200")] is False  # both spellings, merged
    assert states[("booking_flow_success_rate", "rate>0.98")] is False
    assert states[("empty_rate", "rate>0.98")] is False  # no samples: k6 does not fail it
    assert states[("http_req_duration", "p(99.9)<2000")] is False
    assert states[("empty_trend", "max>0")] is True
    failed = sorted(f"{m}: {e}" for (m, e), s in states.items() if s)
    assert failed == [
        "booking_flow_duration: p(95)<1",
        "empty_counter: count>1",
        "empty_gauge: value>1",
        "empty_trend: max>0",
        "http_req_duration{scenario:nonexistent}: p(95)>1200",
    ]
    assert code == 99  # those k6 failures are new relative to the fixload run
    assert rows[("booking_flow", "thresholds")]["note"] == "1 newly failed"


def test_the_k6_export_against_itself_and_the_handle_summary_shape(tmp_path, capsys):
    assert run_cli(str(K6_EXPORT), str(K6_EXPORT), capsys=capsys)[0] == 0
    # k6's handleSummary JSON nests values and says {"ok": bool}: read with the same meaning
    export = json.loads(K6_EXPORT.read_text())
    nested = {"metrics": {}}
    for key, entry in export["metrics"].items():
        values = {k: v for k, v in entry.items() if k != "thresholds"}
        item = {"type": "trend", "values": values}
        if "thresholds" in entry:
            item["thresholds"] = {expr: {"ok": not failed} for expr, failed in entry["thresholds"].items()}
        nested["metrics"][key] = item
    path = tmp_path / "handle.json"
    path.write_text(json.dumps(nested))
    side, original = load(path), load(K6_EXPORT)
    assert side.format == "k6 handleSummary JSON"
    assert side.overall.thresholds == original.overall.thresholds
    assert side.scenarios == original.scenarios


def test_canonical_keys():
    assert canonical_key("http_req_duration{ scenario : 'booking_flow' }") == "http_req_duration{scenario:booking_flow}"
    assert canonical_key("m{scenario:a,method:GET}") == canonical_key("m{method:GET,scenario:a}")
    assert canonical_key("http_reqs") == "http_reqs"


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"metrics": {', "not JSON: "),
        ("", "the file is empty"),
        ("[1, 2]", "expected a JSON object (a fixload summary or a k6 --summary-export), got an array"),
        ('{"root_group": {}}', 'has no "metrics" object: neither a fixload summary nor a k6 --summary-export file'),
        ('{"metrics": {"http_reqs": 3}}', 'metrics["http_reqs"]: expected an object, got a number'),
        ('{"metrics": {"http_req_duration": {"p(95)": "fast"}}}', 'metrics["http_req_duration"].p(95): expected a'),
        ('{"metrics": {"x": {"thresholds": {"rate<1": "yes"}}}}', 'metrics["x"].thresholds["rate<1"]: expected true'),
        ('{"metrics": {}, "fixload": {"scenarios": []}}', "fixload.scenarios: expected an object"),
    ],
)
def test_unreadable_input_exits_104_naming_the_file(tmp_path, capsys, content, expected):
    good = make_summary(tmp_path, "good.json")
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, out, err = run_cli(str(good), str(bad), capsys=capsys)
    assert code == 104 and out == ""
    assert err.startswith(f"fixload compare: {bad}: ") and expected in err, err
    # either side
    assert run_cli(str(bad), str(good), capsys=capsys)[0] == 104


def test_a_missing_file_and_every_problem_at_once(tmp_path, capsys):
    code, _, err = run_cli(str(tmp_path / "nope.json"), str(tmp_path), "--budget", "p95=x", capsys=capsys)
    assert code == 104
    lines = err.splitlines()
    assert lines == [
        "fixload compare: --budget: p95='x' is not a budget, expected +10% or +50ms or off",
        f"fixload compare: {tmp_path / 'nope.json'}: file not found (expected a summary JSON file)",
        f"fixload compare: {tmp_path}: is a directory; expected a summary JSON file, a regular file",
    ]


def test_not_json_says_where(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "metrics": {\n    "a": 1,,\n  }\n}\n')
    _, _, err = run_cli(str(bad), str(bad), capsys=capsys)
    assert "at line 3, column" in err


# ------------------------------------------------------------------------------------------ markdown


def test_markdown_for_a_pull_request_line_by_line(tmp_path, capsys):
    base, new = make_summary(tmp_path, "base.json"), make_summary(tmp_path, "new.json", booking_ms=150.0)
    code, out, _ = run_cli(str(base), str(new), "--format", "markdown", capsys=capsys)
    assert code == 99
    result = compare(load(base), load(new), budgets.DEFAULTS)
    rows = {(r.group, r.metric): r for r in result.rows}
    b95, n95 = rows[("booking_flow", "p95")].base, rows[("booking_flow", "p95")].new
    o95, on95 = rows[("overall", "p95")].base, rows[("overall", "p95")].new
    notes = [line for line in out.splitlines() if line.startswith("- note: ")]
    assert notes == [
        f"- note: {path}: no per-interval data (its rows are judged against the fixed budget) and no experiment"
        " identity (not checked): a summary written before fixload recorded them"
        for path in (base, new)
    ]
    lines = [line for line in out.splitlines() if not line.startswith("- note: ")]
    assert lines[0] == (
        f"### ❌ fixload compare: REGRESSION: 2 over budget: overall http p95 ms {on95 - o95:+.2f} "
        f"({(on95 - o95) / o95 * 100:+.1f}%), booking_flow http p95 ms {n95 - b95:+.2f} (+50.0%) "
        "(budget: p95 +10%, success -0.5pp, dropped +0, thresholds +0)"
    )
    assert lines[1] == ""
    assert lines[2] == f"- base: `{base} (fixload summary, two flows, 2026-12-01T09:00:00.000Z, passed)`"
    assert lines[3] == f"- new: `{new} (fixload summary, two flows, 2026-12-01T09:00:00.000Z, passed)`"
    assert lines[4] == ""
    assert lines[5] == "| scenario | metric | base | new | delta | delta % | budget |"
    assert lines[6] == "|---|---|---:|---:|---:|---:|---|"
    table = lines[7 : 7 + 27]
    assert all(line.startswith("| ") and line.endswith(" |") and line.count(" | ") == 6 for line in table)
    assert [line.split(" | ")[0] for line in table[::9]] == ["| overall", "| booking_flow", "| payments_flow"]
    assert table[1] == f"|  | **http p95 ms** | **{o95:.2f}** | **{on95:.2f}** | **{on95 - o95:+.2f}** | " + (
        f"**{(on95 - o95) / o95 * 100:+.1f}%** | **p95 +10% REGRESSION** |"
    )
    assert table[10] == (
        f"|  | **http p95 ms** | **{b95:.2f}** | **{n95:.2f}** | **{n95 - b95:+.2f}** | **+50.0%** | "
        "**p95 +10% REGRESSION** |"
    )
    assert table[9 + 4] == "|  | success rate | 100.00% | 100.00% | +0.00pp | +0.0% | success -0.5pp ok |"
    assert table[9 + 5] == "|  | failures | 0 | 0 | +0 | — |  |"
    assert table[9 + 6] == "|  | iterations/s | 10.00 | 10.00 | +0.00 | +0.0% |  |"
    assert table[9 + 8] == "|  | thresholds failed | 0/2 | 0/2 | +0 | — | thresholds +0 ok |"
    bold = [line for line in table if "**" in line]
    assert len(bold) == 2
    assert lines[7 + 27 :] == ["", "Thresholds: 0 failing on either side, 4 passing on both."]


def test_markdown_lists_a_newly_failed_threshold_in_bold(tmp_path, capsys):
    base, worse = make_summary(tmp_path, "base.json"), make_summary(tmp_path, "new.json", booking_fails=6)
    _, out, _ = run_cli(str(base), str(worse), "--format", "markdown", capsys=capsys)
    assert out.splitlines()[-5:] == [
        "Thresholds: 1 failing on either side, 3 passing on both.",
        "",
        "| threshold | base | new |",
        "|---|---|---|",
        "| **`booking_flow_success_rate`: `rate>0.98`** | **pass** | **FAIL (newly failed)** |",
    ]


def test_the_fixload_script_itself(tmp_path):
    base = make_summary(tmp_path, "base.json")
    worse = copy.deepcopy(orjson.loads(base.read_bytes()))
    worse["fixload"]["scenarios"]["payments_flow"]["p95LatencyMs"] *= 2
    (tmp_path / "new.json").write_bytes(orjson.dumps(worse))
    argv = [sys.executable, "-m", "fixload", "compare", str(base), str(tmp_path / "new.json"), "--format", "markdown"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 99, done.stderr
    assert "payments_flow http p95 ms +" in done.stdout.splitlines()[0] and "(+100.0%)" in done.stdout.splitlines()[0]


def test_a_bad_profile_for_the_budget_exits_104_naming_it(tmp_path, capsys):
    base = make_summary(tmp_path, "base.json")
    profile = orjson.loads((Path(__file__).parents[1] / "profiles" / "baseline-short.json").read_bytes())
    profile["compare"] = {"budget": {"p95": "+5 percent"}}
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(profile))
    code, out, err = run_cli(str(base), str(base), "--profile", str(path), capsys=capsys)
    assert code == 104 and out == ""
    assert str(path) in err and "compare.budget: p95='+5 percent' is not a budget" in err


def test_fixload_report_needs_a_fixload_summary(tmp_path, capsys):
    assert main(["report", str(K6_EXPORT), "--html", str(tmp_path / "r.html")]) == 104
    err = capsys.readouterr().err
    assert f"{K6_EXPORT}: not a fixload summary" in err and not (tmp_path / "r.html").exists()
