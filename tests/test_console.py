"""What a person reads at the end of a run and while it goes (issue 26 point 5): k6's TOTAL RESULTS block
with k6's units, colour only on a terminal that wants it, and progress lines of at most 120 columns."""

from __future__ import annotations

import io
import json
from pathlib import Path

from fixload.report.console import format_console_summary, k6_bytes, k6_duration, total_results, wants_colour
from fixload.surfaces.progress import WIDTH, format_lines

K6_EXPORT = json.loads((Path(__file__).parent / "data" / "k6_summary_export.json").read_text())


def _summary(seconds: float = 3.0) -> dict:
    return {**K6_EXPORT, "fixload": {"durationSeconds": seconds, "status": "passed"}}


def test_total_results_is_k6s_block_with_k6s_units():
    lines = total_results(_summary())
    text = "\n".join(lines)
    assert lines[0] == "  █ TOTAL RESULTS"
    assert "    checks_total.......................: 61      20.3333/s" in text
    assert "    checks_succeeded...................: 100.00% 61 out of 61" in text
    # k6's trend columns and duration units, read from the export k6 v1.1.0 wrote
    duration = next(line for line in lines if line.startswith("    http_req_duration."))
    assert duration.endswith("avg=904.79µs min=518.21µs med=899.11µs max=1.44ms p(90)=1.09ms p(95)=1.18ms")
    assert any(line.startswith("      { expected_response:true }...") for line in lines)
    assert any(line.startswith("    http_reqs....") and line.endswith("61     20.3166/s") for line in lines)
    assert any(line.startswith("    vus_max.....") and "min=3" in line for line in lines)
    assert any(line.startswith("    data_received....") and line.endswith("28.2 kB 9.4 kB/s") for line in lines)
    assert [line.strip() for line in lines if line.strip() in ("HTTP", "EXECUTION", "NETWORK")] == [
        "HTTP",
        "EXECUTION",
        "NETWORK",
    ]


def test_k6_units():
    assert [k6_duration(v) for v in (0.31, 4.01, 28.2, 1500.0, None)] == ["310µs", "4.01ms", "28.2ms", "1.5s", "n/a"]
    assert [k6_bytes(v) for v in (710, 3800, 23_000, 1_250_000)] == ["710 B", "3.8 kB", "23 kB", "1.2 MB"]


def test_a_metric_without_samples_is_left_out():
    summary = _summary()
    summary["metrics"] = {**summary["metrics"], "checks": {"passes": 0, "fails": 0, "value": 0}}
    assert "checks_total" not in "\n".join(total_results(summary))


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_that_wants_it(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wants_colour(_Tty()) and not wants_colour(io.StringIO())  # a pipe or a file: no colour
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: present, whatever its value
    assert not wants_colour(_Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not wants_colour(_Tty())
    plain = format_console_summary(_summary())
    assert "\x1b[" not in plain and "STATUS passed" in plain
    coloured = format_console_summary(_summary(), colour=True)
    assert "STATUS \x1b[32mpassed\x1b[0m" in coloured


def test_scenario_lines_say_which_p95_they_show():
    summary = _summary()
    summary["fixload"]["scenarios"] = {
        "booking_flow": {
            "completed": 10,
            "scheduled": 10,
            "achievedRate": 1.0,
            "dropped": 0,
            "interrupted": 0,
            "p95LatencyMs": 12.5,
            "successRate": 1.0,
            "errorBudgetConsumed": None,
        }
    }
    assert "http p95=12.50ms" in format_console_summary(summary)


def _status(names: list[str], elapsed: float = 24.0, duration: float = 60.0) -> dict:
    scenarios = [
        {"name": n, "targetRate": 14.6, "targetRateWindow": 14.6, "achievedRate": 14.0, "vusBusy": 3, "dropped": 12}
        for n in names
    ]
    scenarios.append({"name": "analytics_flow", "targetRate": None, "achievedRate": 16.4, "vusBusy": 10, "dropped": 0})
    failing = [{"metric": f"{n}_duration", "expression": "p(95)<1300", "ok": False} for n in names]
    return {"elapsed": elapsed, "duration": duration, "workers": 2, "scenarios": scenarios, "thresholds": failing}


def test_progress_lines_fit_120_columns_and_are_labelled():
    long = ["booking_flow", "chat_flow", "payments_flow", "a_scenario_with_a_very_long_name_" + "x" * 120]
    lines = format_lines(_status(long))
    assert all(len(line) <= WIDTH for line in lines)
    assert lines[0].startswith("fixload 0:24/1:00  workers 2  thresholds: 4 failing: booking_flow_duration p(95)<1300")
    assert lines[1].split() == ["booking_flow", "achieved", "14.0", "it/s", "of", "14.6", "target,", "dropped", "12"]
    assert lines[-1].split() == ["analytics_flow", "achieved", "16.4", "it/s,", "10", "VUs", "busy"]


def test_progress_counts_to_run_time_when_it_ends_the_run_first():
    assert format_lines(_status([]), run_time=20.0)[0].startswith("fixload 0:24/0:20 (-t)")
    assert format_lines(_status([]), run_time=90.0)[0].startswith("fixload 0:24/1:00 ")


def test_no_total_results_block_without_metrics():
    assert total_results({"metrics": {}, "fixload": {"durationSeconds": 1.0}}) == []
