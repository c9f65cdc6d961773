"""`--junit` and `--html-report` (issue 8): written at the end of a real headless run, atomically, from the
summary and the master's time series; the HTML report is self-contained and opened in headless Chromium."""

from __future__ import annotations

import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from fixload.cli.main import main
from fixload.common.secrets import register_secrets
from fixload.report.html import html_report, junit_xml
from fixload.report.svg import line_chart, nice_ticks
from fixload.report.timeseries import decode
from tests.surfacekit import (
    LOCUST,
    SCREENSHOTS,
    Browser,
    Process,
    assert_no_secrets,
    child_env,
    require_browser,
    scaled_profile,
    wait_for,
)

FACTOR = 5.0  # the short baseline's 60 s become 12 s: all five scenarios, rates and thresholds


@pytest.fixture(scope="module")
def reported_run(simulator, tmp_path_factory):
    """One headless run with both reports; a threshold that must fail (`iterations: count<1`) is added."""
    directory = tmp_path_factory.mktemp("reports")
    profile = scaled_profile(directory, FACTOR, extra_thresholds={"iterations": ["count<1"]})
    out = directory / "out"
    argv = [
        *LOCUST,
        "-f",
        "locustfiles/",
        "--headless",
        "--profile",
        str(profile),
        "-H",
        simulator.base_url,
        "--summary",
        str(out / "summary.json"),
        "--junit",
        str(out / "junit" / "fixload.xml"),
        "--html-report",
        str(out / "report.html"),
        "--progress-interval",
        "2",
    ]
    proc = Process(argv, child_env(simulator.env), directory, "locust")
    code = proc.wait(timeout=90)
    return {"code": code, "out": out, "proc": proc, "env": simulator.env}


def test_exit_code_and_files(reported_run):
    assert reported_run["code"] == 99, reported_run["proc"].output()[-3000:]  # the deliberate failure
    out: Path = reported_run["out"]
    assert (out / "summary.json").exists()
    assert (out / "junit" / "fixload.xml").exists()
    assert (out / "report.html").exists()
    leftovers = [p.name for p in out.rglob(".*.tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_junit_has_a_case_per_threshold_with_observed_values(reported_run):
    out: Path = reported_run["out"]
    summary = orjson.loads((out / "summary.json").read_bytes())
    thresholds = summary["fixload"]["thresholds"]
    root = ET.parse(out / "junit" / "fixload.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    threshold_cases = [c for c in cases if c.get("classname") == "fixload.thresholds"]
    assert len(threshold_cases) == len(thresholds) == 18
    assert [c.get("name") for c in cases if c.get("classname") == "fixload"] == ["run"]
    failed = {c.get("name"): c.find("failure") for c in threshold_cases if c.find("failure") is not None}
    expected_failed = {f"{t['metric']}: {t['expression']}" for t in thresholds if not t["ok"]}
    assert set(failed) == expected_failed and "iterations: count<1" in failed
    failure = failed["iterations: count<1"]
    observed = next(t["observed"] for t in thresholds if t["expression"] == "count<1")
    assert observed > 100
    assert "count<1" in failure.get("message") and f"{observed:g}" in failure.get("message")
    assert f"observed:    {observed:g}" in failure.text and "expression:  count<1" in failure.text
    suite = root.find("testsuite")
    # the run case fails too: the status is not passed
    run_case = next(c for c in cases if c.get("classname") == "fixload")
    assert run_case.find("failure") is not None and run_case.find("failure").get("type") == "thresholds_failed"
    assert suite.get("failures") == str(len(expected_failed) + 1) == root.get("failures")
    assert suite.get("tests") == "19"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["status"] == "thresholds_failed" and props["exitCode"] == "99"


def test_html_report_is_self_contained_with_time_series(reported_run):
    out: Path = reported_run["out"]
    text = (out / "report.html").read_text()
    summary = orjson.loads((out / "summary.json").read_bytes())
    # self-contained: nothing fetched, no executable script
    assert not re.search(r"<(link|img|iframe)\b", text)
    assert not re.search(r"\bsrc=", text) and "cdn" not in text.lower() and "@import" not in text
    assert all(m == "application/json" for m in re.findall(r'<script type="([^"]+)"', text))
    assert text.count("<script") == 1
    # per scenario: a rate chart and a latency chart; plus the two overview charts
    scenarios = summary["fixload"]["scenarios"]
    assert text.count("<svg") == 2 * len(scenarios) + 2
    for name in scenarios:
        assert f"{name} — iterations/s" in text and f"{name} — latency (ms)" in text
        flow = scenarios[name].get("flow") or name
        assert f"{flow}_duration p95" in text  # what the thresholds judge, beside the HTTP p95
    assert "scheduled it/s" in text and "achieved it/s" in text and "http_req_duration p95" in text
    assert "booking_flow_duration p(95)&lt;" in text and "http_req_duration{scenario:booking_flow} p(95)&lt;" in text
    failed_rows = sum(1 for t in summary["fixload"]["thresholds"] if not t["ok"])
    assert text.count('<tr class="fail"><td>') >= failed_rows  # thresholds table (and failures, failing routes)
    assert "Requests by route" in text and "<h2>Failures</h2>" in text
    for route in summary["fixload"]["routes"]:
        assert f"<code>{route['name']}</code>" in text.replace("&#x27;", "'")
    observed = re.findall(r'<td class="num">([^<]*)</td><td class="res', text)
    assert observed and all(re.search(r"(ms|s|%|/s|B)$|^\d+$", v.split(" (")[0]) for v in observed), observed
    assert ">FAIL<" in text and "count&lt;1" in text
    # the time series the plots were drawn from: the summary's, embedded as is
    data = orjson.loads(re.search(r'id="fixload-timeseries">(.*?)</script>', text, re.S).group(1))
    assert data == summary["fixload"]["timeSeries"]
    series = decode(data)
    assert set(series) == set(scenarios)
    payments = series["payments_flow"]
    assert len(payments) >= 5
    gaps = [b.t - a.t for a, b in itertools.pairwise(payments)]
    # every 2 s on plan time; the last row is the sample the summary takes when the run ends, at any time
    assert all(1.0 <= g <= 3.5 for g in gaps[:-1]) and 0 < gaps[-1] <= 3.5, gaps
    # payments_flow is a constant 6/s: mid-run, achieved follows scheduled
    middle = [r for r in payments if 3.0 <= r.t <= 11.0]
    assert all(r.scheduled == pytest.approx(6.0, abs=0.01) for r in middle)
    assert statistics.median(r.achieved for r in middle) == pytest.approx(6.0, rel=0.25)
    # booking_flow ramps 5 -> 18 -> 36 -> 0/s: scheduled rises then falls
    booking = [r.scheduled for r in series["booking_flow"]]
    assert max(booking) > 25 and booking[0] < 15
    assert any(r.p95 is not None for r in series["booking_flow"])
    assert all(r.scheduled is None for r in series["analytics_flow"])  # constant-vus
    # the dropped column is per interval: it adds up to the scenario's total
    for name, rows in series.items():
        assert sum(r.dropped for r in rows) == scenarios[name]["dropped"], name


def _tables(text: str) -> list[str]:
    return re.findall(r"<table>.*?</table>", text, re.S)


def test_fixload_report_rebuilds_equal_reports_from_the_summary(reported_run, tmp_path):
    """`fixload report SUMMARY` (what CI runs on an artefact) gives back the end-of-run HTML and JUnit."""
    out: Path = reported_run["out"]
    html_path, junit_path = tmp_path / "again" / "report.html", tmp_path / "again" / "junit.xml"
    argv = [sys.executable, "-m", "fixload", "report", str(out / "summary.json")]
    argv += ["--html", str(html_path), "--junit", str(junit_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    original, rebuilt = (out / "report.html").read_text(), html_path.read_text()
    # the same tables, the same series, the same charts -- and so the same bytes
    # thresholds, scenario totals, routes, failures, and the requests to look up (the slowest requests' ids)
    assert len(_tables(original)) >= 3 and _tables(rebuilt) == _tables(original)
    assert "Requests to look up" in original
    series = r'id="fixload-timeseries">(.*?)</script>'
    assert re.search(series, rebuilt, re.S).group(1) == re.search(series, original, re.S).group(1)
    assert re.findall(r"<svg.*?</svg>", rebuilt, re.S) == re.findall(r"<svg.*?</svg>", original, re.S)
    assert rebuilt == original
    assert junit_path.read_text() == (out / "junit" / "fixload.xml").read_text()


def test_fixload_report_names_a_bad_summary(tmp_path, capsys):
    from fixload.cli.main import main

    bad = tmp_path / "summary.json"
    bad.write_text('{"metrics": {}, "fixload": {"scenarios": {}, "timeSeries": {"scenarios": {"a": ["1,x"]}}}}')
    assert main(["report", str(bad), "--html", str(tmp_path / "r.html")]) == 104
    err = capsys.readouterr().err
    assert err.startswith(f"fixload report: {bad}: fixload.timeSeries.scenarios.a[0]: expected a row"), err
    assert not (tmp_path / "r.html").exists()
    assert main(["report", str(tmp_path / "none.json"), "--junit", str(tmp_path / "j.xml")]) == 104
    assert f"{tmp_path / 'none.json'}: file not found" in capsys.readouterr().err


def test_reports_carry_no_secrets(reported_run):
    out: Path = reported_run["out"]
    for name in ("report.html", "junit/fixload.xml"):
        assert_no_secrets((out / name).read_text(), reported_run["env"], name)


def test_progress_line_replaces_locust_table(reported_run):
    output = reported_run["proc"].output().splitlines()
    heads = [i for i, line in enumerate(output) if re.match(r"^fixload 0:\d\d/0:12 ", line)]
    assert len(heads) >= 3, "\n".join(output[-60:])
    last = heads[-1]
    assert "thresholds: " in output[last]
    block = output[last + 1 : last + 6]  # one labelled line per scenario, under the head line
    assert any(re.match(r"^  booking_flow +achieved [\d.]+ it/s of [\d.]+ target", line) for line in block), block
    assert any(re.match(r"^  analytics_flow +achieved [\d.]+ it/s, \d+ VUs busy", line) for line in block), block
    assert all(len(line) <= 120 for i in heads for line in output[i : i + 6])
    assert any("failing: iterations count<1" in output[i] for i in heads)
    # Locust's own table is printed once, at the end (its periodic copies are off: --only-summary)
    assert output.count("Aggregated") <= 2


def test_html_report_renders_in_chromium(reported_run):
    browser = Browser(require_browser())
    url = (reported_run["out"] / "report.html").as_uri()
    dom = browser.dump_dom(url)
    assert "Scenario totals" in dom and "<svg" in dom and "booking_flow — latency (ms)" in dom
    shot = browser.screenshot(url, SCREENSHOTS / "html-report.png", size="1400,2400")
    assert shot.stat().st_size > 50_000


# ---------------------------------------------------------------------------- unit checks, no processes
def _summary(status: str = "passed", reason: str = "", ok: bool = True) -> dict:
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    return {
        "metrics": {"http_reqs": {"count": 10, "rate": 1.0}},
        "fixload": {
            "profile": "p",
            "status": status,
            "reason": reason,
            "exitCode": 0 if status == "passed" else 107,
            "durationSeconds": 3.0,
            "startedAt": now,
            "endedAt": now,
            "thresholds": [
                {
                    "metric": "http_req_failed",
                    "expression": "rate<0.01",
                    "aggregation": "rate",
                    "observed": 0.5,
                    "ok": ok,
                }
            ],
            "thresholdsFailed": 0 if ok else 1,
            "scenarios": {},
        },
    }


def test_junit_run_case_fails_when_the_run_did_not_complete():
    root = ET.fromstring(junit_xml(_summary("aborted", "abortOnFail: threshold http_req_failed crossed")))
    run = root.find("./testsuite/testcase[@name='run']")
    assert run.find("failure") is not None and "abortOnFail" in run.find("failure").get("message")
    assert root.get("failures") == "1"


def test_reports_redact_known_secrets():
    register_secrets(["s3cr3t-token-value"])
    summary = _summary("setup_failed", "setup failed: 401 for s3cr3t-token-value", ok=False)
    for text in (junit_xml(summary), html_report(summary)):
        assert "s3cr3t-token-value" not in text and "***" in text


def test_chart_helpers():
    assert nice_ticks(0, 37) == [0, 10, 20, 30, 40]
    svg = line_chart("t", [{"label": "a", "color": "#000", "points": [(0, 1.0), (2, None), (4, 3.0)]}], 4, "u")
    assert svg.startswith("<svg") and svg.count("<circle") == 2  # a gap splits the line into two points
    far = line_chart(
        "t",
        [{"label": "a", "color": "#000", "points": [(0, 1.0), (2, 2.0)]}],
        2,
        "ms",
        hlines=[(1000.0, "threshold p(95)<1000", "#f00")],
    )
    assert "off scale" in far


def test_an_interrupted_run_still_writes_both_reports(simulator, tmp_path):
    """SIGINT mid-run: the summary is written on the way out (exit 105) and the reports follow it."""
    profile = scaled_profile(tmp_path, 2.0)
    argv = [*LOCUST, "-f", "locustfiles/", "--headless", "--profile", str(profile), "-H", simulator.base_url]
    argv += ["--summary", str(tmp_path / "s.json"), "--junit", str(tmp_path / "j.xml")]
    argv += ["--html-report", str(tmp_path / "r.html"), "--progress-interval", "1"]
    proc = Process(argv, child_env(simulator.env), tmp_path, "locust")
    wait_for(lambda: "fixload 0:0" in proc.output() or proc.popen.poll() is not None, 30, "the first progress line")
    proc.popen.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 105, proc.output()[-3000:]
    root = ET.parse(tmp_path / "j.xml").getroot()
    failure = root.find("./testsuite/testcase[@name='run']/failure")
    assert failure is not None and failure.get("type") == "interrupted"
    assert "interrupted" in (tmp_path / "r.html").read_text()


def test_fixload_compare_reads_the_run_summary(reported_run, capsys):
    """The real end-of-run summary has every value `fixload compare` shows, for every scenario."""
    from fixload.cli.main import main

    summary = str(reported_run["out"] / "summary.json")
    assert main(["compare", summary, summary, "--format", "json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)["rows"]
    groups = {r["group"] for r in rows}
    assert groups == {"overall", "booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}
    missing = [(r["group"], r["metric"]) for r in rows if r["base"] is None]
    assert not missing, missing


def test_fixload_report_history_orders_runs_by_start_time(tmp_path):
    """`fixload report --history DIR`: one page, runs in time order whatever the file names, junk skipped."""
    from tests.test_compare import K6_EXPORT, STARTED, make_summary

    runs = tmp_path / "runs"
    runs.mkdir()
    for name, hours, top in (("c.json", 0, 100.0), ("a.json", 2, 300.0), ("b.json", 1, 200.0)):
        make_summary(runs, name, booking_ms=top, booking_fails=int(hours), started=STARTED + timedelta(hours=hours))
    (runs / "notes.json").write_text('{"hello": 1}')
    (runs / "nested").mkdir()
    (runs / "nested" / "k6.json").write_bytes(K6_EXPORT.read_bytes())
    later = (STARTED + timedelta(hours=3)).timestamp()
    os.utime(runs / "nested" / "k6.json", (later, later))
    out = tmp_path / "history.html"
    argv = [sys.executable, "-m", "fixload", "report", "--history", str(runs), "--html", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"skipped {runs / 'notes.json'}: " in done.stderr and "history of 4 runs" in done.stdout
    text = out.read_text()
    order = [m for m in re.findall(r"<td class=\"path\">([^<]*\.json)</td>", text)]
    assert order[:3] == ["c.json", "b.json", "a.json"]  # by startedAt, not by name
    assert order[3] == "nested/k6.json"  # a k6 export is placed by its file's mtime
    assert text.count("<svg") == 4 and "HTTP p95 (http_req_duration) by scenario across runs (ms)" in text
    assert "success rate by scenario across runs (%)" in text and "12-01 09:00" in text
    assert "achieved iterations/s by scenario across runs" in text and "dropped iterations by scenario" in text
    run_rows = re.findall(r'<tr><td class="num">\d</td>.*?</tr>', text)
    assert len(run_rows) == 4  # one row per run (its first scenario), then one per further scenario
    assert not re.search(r"<(link|img|iframe)\b|<script", text)  # self-contained
    # nothing to read: 104, naming the directory
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run([*argv[:4], "--history", str(empty)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 104 and f"{empty}: no fixload summary or k6 export found" in done.stderr


def test_the_summary_carries_per_window_data_and_its_experiment(reported_run):
    """Issue 27: each interval's requests, iterations and latency quantiles, and what defines the experiment."""
    summary = orjson.loads((reported_run["out"] / "summary.json").read_bytes())
    fx = summary["fixload"]
    assert fx["timeSeries"]["columns"][5:] == [
        *("requests", "started", "completed", "failed", "q50", "q95", "q99", "fp95", "favg")
    ]
    series = decode(fx["timeSeries"])
    for name, rollup in fx["scenarios"].items():
        rows = series[name]
        assert all(r.has_window for r in rows)
        assert sum(r.completed for r in rows) == rollup["completed"]  # per-interval counts add up to the run's
        assert sum(r.failed for r in rows) == (rollup["failedIterations"] or 0)
        with_requests = [r for r in rows if r.requests]
        assert with_requests and all(r.q50 <= r.q95 <= r.q99 for r in with_requests)
        if rollup["completed"]:  # the flow's duration over the last intervals, as its thresholds judge it
            assert any(r.fp95 is not None and r.favg is not None and r.favg <= r.fp95 * 1.0001 for r in rows), name
    requests = sum(r.requests for rows in series.values() for r in rows)
    assert 0 < requests <= summary["metrics"]["http_reqs"]["count"]  # setup's requests are in no scenario
    experiment = fx["experiment"]
    assert experiment["multiplier"] == fx["multiplier"] and experiment["workers"] == 0
    assert experiment["profileHash"].startswith("sha256:") and experiment["locustfilesHash"].startswith("sha256:")
    assert experiment["target"].startswith("http://127.0.0.1:") and experiment["fixloadVersion"]


def test_fixload_history_over_ten_runs_marks_the_regression(tmp_path, capsys):
    """`fixload history DIR`: ten runs oldest first, each judged against the runs before it; the slow one is
    a regression with its interval in the table and ringed on the p95 chart."""
    from tests.comparekit import STARTED, write_run

    runs = tmp_path / "runs"
    runs.mkdir()
    for i in range(10):
        slow = {"booking_flow": 1.6} if i == 7 else None
        write_run(runs, f"run-{9 - i}.json", seed=300 + i, slow=slow, started=STARTED + timedelta(hours=i))
    code = main(["history", str(runs), "--html", str(tmp_path / "h.html")])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["#", "started", "scenario"]
    flagged = [line for line in lines if "REGRESSION" in line]
    assert len(flagged) >= 1 and all("booking_flow" in line or "overall" in line for line in flagged)
    booking = next(line for line in flagged if "booking_flow" in line)
    assert re.search(r"REGRESSION p95 \+\d+\.\d % \[\+\d+\.\d, \+\d+\.\d\]", booking)
    run8 = lines[1 + 7 * 3 : 1 + 8 * 3]  # three lines a run: booking_flow, payments_flow, overall
    assert run8[0].split()[0] == "8" and "REGRESSION" in run8[0]
    assert lines[1].endswith("first run")
    # its cells are `fixload compare`'s: success a percentage as compare writes it, dropped a count
    assert re.search(r"\s100\.00%\s", lines[1]) and lines[1].split()[-3] == "0", lines[1]
    text = (tmp_path / "h.html").read_text()
    assert text.count("<svg") == 4 and text.count('stroke="#dc2626" stroke-width="2.5"') >= 1
    assert 'class="regression">REGRESSION p95 +' in text and "run-2.json" in text
    assert "history of 10 runs written to" in out
