"""The benches that judge the engine (bench/cost.py) and size a run (bench/sizing.py), and the RESULTS.md writer.

The default set runs their pieces: the ratio, median and bar logic, the steady window read from a summary's time
series, the rate search on a fake measure, the reports and RESULTS.md from synthetic results, and one real
sizing step (a Locust process for ~2 s). The whole benches, tiny (one round, short windows), are `slow`.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import math
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixload.report.timeseries import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import _common  # noqa: E402
import calls  # noqa: E402
import cost  # noqa: E402
import evenness  # noqa: E402
import results  # noqa: E402
import sizing  # noqa: E402
import wakeups  # noqa: E402


def _row(t: float, scheduled: float | None, dropped: int, started: int, completed: int, requests: int) -> str:
    """A time-series row; `scheduled` is the series' smoothed rate column (None: a VU scenario)."""
    values = {"t": t, "scheduled": "" if scheduled is None else scheduled, "achieved": completed / 2}
    values |= {"dropped": dropped, "p95": 1.5}
    values |= {"requests": requests, "started": started, "completed": completed, "failed": 0}
    return ",".join(str(values.get(c, "")) for c in COLUMNS)


def _summary(rows: dict[str, list[str]], lag_p95: float | None = 1.2) -> dict[str, Any]:
    metrics = {sizing.STEADY_LAG: {"p(95)": lag_p95}, "iteration_start_lag": {"p(95)": 99.0}} if lag_p95 else {}
    series = {"intervalSeconds": 2, "columns": list(COLUMNS), "scenarios": rows}
    return {"metrics": metrics, "fixload": {"timeSeries": series}}


# ------------------------------------------------------------------------------ bench/cost.py's figures
def test_ratios_median_and_the_bars() -> None:
    assert cost.round_ratios([400.0, 330.0, 360.0], [300.0, 330.0, 0.0])[:2] == [1.333, 1.0]
    assert math.isnan(cost.round_ratios([1.0], [0.0])[0])
    assert cost.median([1.2, 1.0, 1.1, 5.0, 0.9]) == 1.1
    assert cost.missed_pct(1200, 8.0, 9504) == 1.0 and cost.missed_pct(1000, 2.0, 2010) == -0.5
    assert cost.at_most(1.05, 1.05) is True and cost.at_most(1.051, 1.05) is False
    assert cost.at_most(float("nan"), 1.05) is False and cost.at_most(None, 1.03) is None


def _cost_result(f: list[float], dropped: list[float], missed: list[float], calls: float | None) -> dict[str, Any]:
    r: dict[str, Any] = {"rate": 1200, "users": 50, "vus": 200, "rounds": len(f), "warmup_s": 3, "window_s": 8}
    r["f"] = {"engine_us": [f_ * 300 for f_ in f], "paced_us": [300.0] * len(f), "ratios": f, "median": cost.median(f)}
    r["s"] = {"dropped_pct": dropped, "median": cost.median(dropped)}
    r["p"] = {"missed_pct": missed, "median": cost.median(missed)}
    r["c"] = {"rate": 400, "rounds": 1, "engine": calls and calls * 440, "paced": 440.0, "ratio": calls}
    r["saturated"] = {"rate": 20000, "a_rps": [3000.0], "b_rps": [2400.0], "ratios": [0.8], "median": 0.8}
    r["served_rps"] = {"engine": [1200.0] * len(f), "paced": [1190.0] * len(f)}
    r["stolen_pct"] = {"engine": [0.0] * len(f)}
    r["verdicts"] = cost.verdicts(r)
    return r


def test_verdicts_judge_each_figure_against_its_bar() -> None:
    good = {
        v["figure"]: v["met"]
        for v in _cost_result([1.0, 1.04, 1.2], [0.0, 0.4, 0.0], [0.0, 0.1, 0.0], 1.02)["verdicts"]
    }
    assert good == {"f": True, "c": True, "s": True, "b/a": None}
    bad = {
        v["figure"]: v["met"]
        for v in _cost_result([1.06, 1.1, 1.0], [0.7, 0.7, 0.0], [0.1, 0.0, 0.0], 1.04)["verdicts"]
    }
    assert bad == {"f": False, "c": False, "s": False, "b/a": None}
    unmeasured = _cost_result([1.0], [float("nan")], [0.0], None)["verdicts"]
    assert {v["figure"]: v["met"] for v in unmeasured} == {"f": True, "c": None, "s": False, "b/a": None}


def test_cost_report_and_results_section_show_every_round_and_bar(tmp_path: Path) -> None:
    r = _cost_result([1.0, 1.1, 1.2], [0.0, 0.0, 0.6], [0.2, 0.0, 0.0], 1.1)
    text = cost.report(r)
    assert "[1.0, 1.1, 1.2]: median 1.1" in text and "bar <= 1.05: NOT met" in text
    assert "(c) calls per request engine/paced: 1.1  bar <= 1.03: NOT met" in text and "information only" in text
    (tmp_path / "cost.json").write_bytes(orjson.dumps(r))
    section = "\n".join(results.cost_markdown(tmp_path / "cost.json", "python bench/cost.py --rounds 3"))
    assert "`python bench/cost.py --rounds 3`" in section and "| [1.0, 1.1, 1.2] | 1.1 | ≤ 1.05 | **no** |" in section
    assert "saturated b/a, information only" in section
    assert results.cost_markdown(tmp_path / "missing.json", "x")[-1] == "_not run_"


def test_the_engine_at_another_start_grid_is_judged_beside_the_default(tmp_path: Path) -> None:
    r = _cost_result([1.15, 1.12, 1.2], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 1.01)
    r["f_grids"] = {"20ms": {"engine_us": [303.0, 306.0, 309.0], "ratios": [1.01, 1.02, 1.03], "median": 1.02}}
    r["wakeups_per_request"] = {"engine": 0.25, "paced": 0.06, "engine@20ms": 0.055}
    r["lag_p95_ms"] = {"engine": 5.5, "engine@20ms": 21.2}
    r["verdicts"] = cost.verdicts(r)
    assert {v["figure"]: v["met"] for v in r["verdicts"]} == {
        "f": False,
        "f@20ms": True,
        "c": True,
        "s": True,
        "b/a": None,
    }
    text = cost.report(r)
    assert (
        "startGrid 20ms: engine µs [303.0, 306.0, 309.0], engine/paced per round [1.01, 1.02, 1.03]: median 1.02"
        in text
    )
    assert "(f@20ms) CPU per request engine/paced, startGrid 20ms: 1.02  bar <= 1.05: met" in text
    (tmp_path / "cost.json").write_bytes(orjson.dumps(r))
    section = "\n".join(results.cost_markdown(tmp_path / "cost.json", "python bench/cost.py"))
    row = "| (f) at `settings.startGrid` 20ms, engine µs [303.0, 306.0, 309.0] | [1.01, 1.02, 1.03] | 1.02 | ≤ 1.05 |"
    assert f"{row} yes |" in section
    assert (
        "Wake-ups per request (the generator's voluntary context switches; medians): engine 0.25, paced 0.06" in section
    )
    assert section.splitlines()[-1].endswith(
        "(f) 1.15 [1.15, 1.12, 1.2], (f) at startGrid 20ms 1.02 [1.01, 1.02, 1.03]; (c) 1.01; (s) 0.0 against (p) 0.0"
    )
    # (f=): the engine at the grid as even as the paced loop, judged by the same bar
    r["f_even"] = {"grid": "26ms", "paced_band_ms": 26.07, **r["f_grids"]["20ms"], "ratios": [1.0, 1.04, 1.1]}
    r["f_even"]["median"] = 1.04
    r["verdicts"] = cost.verdicts(r)
    assert {v["figure"]: v["met"] for v in r["verdicts"]}["f="] is True
    assert "at equal evenness: the paced loop's band 26.07 ms, the engine at startGrid 26ms" in cost.report(r)
    band = {"requests": 4800, "rate": 1200.0, "gap_p99_ms": 5.5, "capture_drops": 0}
    r["evenness"] = {"rate": 1200, "arms": {"engine": {**band, "band_ms": 6.9}, "paced": {**band, "band_ms": 27.5}}}
    assert "evenness, one observation each: paced 98 % within 27.5 ms of an even schedule" in cost.report(r)
    (tmp_path / "cost.json").write_bytes(orjson.dumps(r))
    section = "\n".join(results.cost_markdown(tmp_path / "cost.json", "python bench/cost.py"))
    assert "the gap p99: engine 6.9 ms / 5.5 ms, paced 27.5 ms / 5.5 ms." in section
    assert "| (f=) at equal evenness: the engine at `startGrid` 26ms, as even as the paced loop" in section
    assert section.splitlines()[-1].endswith(
        ", (f=) at equal evenness (26ms) 1.04; (c) 1.01; (s) 0.0 against (p) 0.0; "
        "bands ms {'engine': 6.9, 'paced': 27.5}"
    )


def test_results_keep_what_did_not_run_this_time_and_every_cost_run(tmp_path: Path) -> None:
    # an earlier RESULTS.md with a throughput section and a cost run; this run measured cost only
    (tmp_path / "cost.json").write_bytes(orjson.dumps(_cost_result([1.2], [0.0], [0.0], 1.0)))
    earlier = results.results_markdown(tmp_path, {"cost": "python bench/cost.py"})
    earlier = earlier.replace(" on 20", " on 1999-01-02 03:04 UTC. Machine: x; was 20", 1)
    earlier = earlier.replace(
        "## Throughput: requests/s to GET /ping from one generator core\n\n_not run_",
        "## Throughput: requests/s to GET /ping from one generator core\n\n| (a) bare | 3000 |",
    )
    (tmp_path / "cost.json").write_bytes(orjson.dumps(_cost_result([1.01], [0.0], [0.0], 1.0)))
    now = results.keep_earlier(results.results_markdown(tmp_path, {"cost": "python bench/cost.py"}), earlier)
    throughput = now.split("## Throughput: requests/s to GET /ping from one generator core\n")[1].split("\n## ")[0]
    assert "_Kept from the run of 1999-01-02 03:04 UTC: this run did not include it._" in throughput
    assert "| (a) bare | 3000 |" in throughput
    assert "## fixload vs k6: the same arrival-rate profile, the same simulator\n\n_not run_" in now  # never ran
    runs = [line for line in now.split(results.COST_RUNS)[1].splitlines() if line.startswith("- ")]
    assert [r.split(": (f) ")[1].split(" ")[0] for r in runs] == ["1.2", "1.01"]  # oldest first, both kept
    # a third run: a section kept twice keeps the date it was measured, and the runs grow by one
    again = results.keep_earlier(results.results_markdown(tmp_path, {"cost": "python bench/cost.py"}), now)
    assert again.count("_Kept from the run of 1999-01-02 03:04 UTC") == 1
    assert len([line for line in again.split(results.COST_RUNS)[1].splitlines() if line.startswith("- ")]) == 3


# ------------------------------------------------------------------------------ the steady window
def test_evenness_tells_an_even_schedule_from_clusters() -> None:
    # 1,200/s for 4 s, each start at the end of its 5-ms cell, a cell's six 0.1 ms apart: the engine's default grid
    even = evenness.evenness([math.ceil(i / 1200 / 0.005) * 0.005 + (i % 6) * 1e-4 for i in range(4800)])
    assert 3.0 <= even["band_ms"] <= 5.0 and 4.0 <= even["gap_p99_ms"] <= 5.0 and abs(even["rate"] - 1200) < 1
    # the same rate as 24 clusters a second of 50 requests 0.1 ms apart: a paced loop's users in step
    clusters = evenness.evenness([c / 24 + k * 1e-4 for c in range(96) for k in range(50)])
    assert 30.0 <= clusters["band_ms"] <= 42.0 and clusters["gap_p99_ms"] > 30.0
    assert math.isnan(evenness.evenness([1.0, 1.0])["band_ms"])


def test_the_grid_as_even_as_a_band() -> None:
    assert [cost.equal_grid(b) for b in (26.07, 0.2, 250.0, float("nan"))] == ["26ms", "1ms", "100ms", "20ms"]


def test_the_reader_sees_each_request_to_its_port_once_on_the_wire() -> None:
    """The packet reader bench/cost.py's evenness uses (root: AF_PACKET), against real sockets on loopback: the
    requests to its port, each once (a frame is seen leaving and arriving), and nothing else."""
    with _http_server() as port, _http_server() as other, evenness.open_reader(port) as sock:
        before = time.time()
        for target, path, n in ((port, "/ping", 20), (port, "/elsewhere", 5), (other, "/ping", 5)):
            conn = http.client.HTTPConnection("127.0.0.1", target, timeout=5)
            for _ in range(n):
                conn.request("GET", path)
                conn.getresponse().read()
            conn.close()
        arrivals, drops = evenness.read_window(sock, port, 0.3)
    assert len(arrivals) == 20 and drops == 0
    assert all(before - 1 < t < time.time() + 1 for t in arrivals) and arrivals == sorted(arrivals)


@contextlib.contextmanager
def _http_server() -> Iterator[int]:
    class Ok(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_steady_window_counts_only_the_intervals_inside_it() -> None:
    # the series' `scheduled` column (50/s here) is smoothed: the window counts started + dropped instead
    cells = ((2.0, 50, 150), (4.0, 1, 199), (6.0, 2, 198), (8.0, 0, 200), (10.0, 90, 110))
    rows = [_row(t, 50.0, dropped, started, 200, 200) for t, dropped, started in cells]
    window = _common.steady_window(_summary({"ping": rows, "vus": [_row(4.0, None, 0, 5, 5, 10)]}), 2.0, 8.0)
    # the rows ending at 4, 6 and 8 s lie in [2, 8]; the start (to 2 s) and the stop (to 10 s) do not
    assert window["ping"] == {
        "seconds": 6.0,
        "scheduled": 600.0,
        "dropped": 3.0,
        "started": 597.0,
        "completed": 600.0,
        "requests": 600.0,
    }
    vus = {"seconds": 2.0, "scheduled": 0.0, "dropped": 0.0, "started": 5.0, "completed": 5.0, "requests": 10.0}
    assert window["vus"] == vus  # a VU scenario schedules nothing
    assert _common.dropped_pct(window) == pytest.approx(0.5)
    assert math.isnan(_common.dropped_pct({}))


def test_sizing_step_figures_from_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    rows = [_row(t, 1000.0, 0, 2000, 2000, 2000) for t in (2.0, 4.0, 6.0, 8.0)]
    warm = [_row(t, 1000.0 if t <= 2 else 0, 90, 1910, 1910, 1910) for t in (2.0, 4.0, 6.0, 8.0)]
    path.write_bytes(orjson.dumps(_summary({"ping": rows, "warmup_ping": warm}, lag_p95=3.25)))
    got = sizing._window(path, 2.0, 4.0)  # 4 s after 2 s of warm-up
    assert got == {
        "dropped_pct": 0.0,
        "lag_p95_ms": 3.25,
        "scheduled_per_s": 1000.0,
        "iterations_per_s": 1000.0,
        "requests_per_s": 1000.0,
        "window_s": 4.0,
    }
    assert sizing.judge({**got, "exit_code": 0}) == []
    reasons = sizing.judge({**got, "dropped_pct": 1.5, "lag_p95_ms": 5.01, "exit_code": 1})
    assert reasons == ["dropped 1.50 % > 1 %", "iteration_start_lag p95 5.01 ms > 5 ms", "the run exited 1"]
    assert sizing.judge(sizing._window(tmp_path / "none.json", 2.0, 4.0))[0].startswith("no steady window")


def test_warmed_runs_each_scenario_first_as_a_warm_up_twin() -> None:
    profile = {"profile": "p", "scenarios": {"a": {"executor": "constant-vus", "vus": 2, "duration": "8s"}}}
    got = sizing.warmed(profile, 4.0)
    assert got["scenarios"] == {
        "warmup_a": {"executor": "constant-vus", "vus": 2, "duration": "4s", "exec": "a"},
        "a": {"executor": "constant-vus", "vus": 2, "duration": "8s", "startTime": "4s", "tags": {"phase": "steady"}},
    }
    assert got["thresholds"] == {"iteration_start_lag{phase:steady}": ["p(95)<1000000000"]}
    assert list(sizing.warmed(profile, 0)["scenarios"]) == ["a"]


# ------------------------------------------------------------------------------ the rate search
def test_find_highest_grows_then_bisects_on_a_fake_measure() -> None:
    seen: list[float] = []

    def fake(rate: float) -> dict[str, Any]:
        seen.append(rate)
        lag = 1.0 if rate <= 3300 else 9.0
        return {"dropped_pct": 0.0, "lag_p95_ms": lag, "iterations_per_s": rate, "requests_per_s": rate}

    found = sizing.find_highest(fake, 800, 20000, 2.0, 0.1)
    assert seen[:4] == [800, 1600, 3200, 6400]
    assert found["highest"] <= 3300 < found["first_failing"]
    assert (found["first_failing"] - found["highest"]) / found["highest"] <= 0.1
    assert found["highest_figures"]["iterations_per_s"] == found["highest"]
    assert found["first_failing_reasons"] == ["iteration_start_lag p95 9.00 ms > 5 ms"]
    assert [s["value"] for s in found["steps"]] == seen
    nothing = sizing.find_highest(lambda r: {"dropped_pct": 50.0, "lag_p95_ms": 1.0}, 800, 20000, 2.0, 0.1)
    assert nothing["highest"] is None and nothing["first_failing"] == 800


def test_sizing_refuses_windows_off_the_time_series_grid(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        sizing.main(["--warmup", "3"])
    assert refused.value.code == 2 and "whole multiples of 2 s" in capsys.readouterr().err


def test_a_wake_up_is_priced_against_the_largest_bursts_of_the_same_run() -> None:
    r = wakeups.bench(rounds=1, seconds=0.3)
    rows = r["rows"]
    assert [row["burst"] for row in rows] == [1, 6, 24, 48] and rows[-1]["over_largest"] == 1.0
    assert rows[0]["wakeups_per_s"] > 5 * rows[-1]["wakeups_per_s"]  # one burst per wake-up: smaller, more often
    assert all(row["us_per_unit"] > 0 for row in rows)
    assert "each wake-up added" in wakeups.report(r)


def test_workers_table_rounds_up() -> None:
    assert [sizing.workers_needed(m, 2.5) for m in (1, 2.5, 3, 10)] == [1, 1, 2, 4]


def test_results_markdown_holds_cost_and_sizing(tmp_path: Path) -> None:
    (tmp_path / "cost.json").write_bytes(orjson.dumps(_cost_result([1.0], [0.0], [0.0], 1.0)))
    best = {"scheduled_per_s": 90.0, "iterations_per_s": 100.0, "requests_per_s": 400.0, "lag_p95_ms": 2.0}
    best["generator_cpu"] = 0.93
    sized = {"highest": 2.5, "highest_figures": best, "first_failing": 2.75, "first_failing_reasons": ["lag"]}
    ping = {**sized, "highest": 2000, "first_failing": 2200}
    data = {"max_dropped_pct": 1, "window_s": 8, "warmup_s": 4, "max_lag_p95_ms": 5, "growth": 2, "precision": 0.1}
    data |= {"seconds": 200, "ping": ping, "flows": sized, "table": [[1, 1], [5, 2]]}
    (tmp_path / "sizing.json").write_bytes(orjson.dumps(data))
    text = results.results_markdown(tmp_path, {"cost": "python bench/cost.py", "sizing": "python bench/sizing.py"})
    assert "| five flows, baseline mix | 2.5 × baseline | 90.0 | 100.0 | 400.0 | 2.0 | 0.93 | 2.75: lag |" in text
    assert "| GET /ping | 2000 it/s |" in text and "×1: 1, ×5: 2" in text
    assert "## Throughput: requests/s to GET /ping from one generator core\n\n_not run_" in text


def test_bytecodes_per_request_are_tallied_and_shown_beside_the_calls(tmp_path: Path) -> None:
    """bench/calls.py's second count: per arm the bytecodes per request (median of the rounds, by package),
    engine over paced, the functions the engine runs more; RESULTS.md's calls section shows its table."""

    def run(fixload_ops: int, locust_ops: int, requests: int) -> dict[str, Any]:
        rows = [["fixload/engine/arrival_rate.py", "acquire", fixload_ops * requests]] if fixload_ops else []
        return {"requests": requests, "calls": [*rows, ["locust/user/task.py", "wait", locust_ops * requests]]}

    ops = calls._tally(
        {"engine": [run(300, 700, 800), run(320, 700, 400)], "paced": [run(0, 900, 800)]}, "ops_per_request"
    )
    assert ops["engine"]["ops_per_request"] == 1010.0 and ops["paced"]["ops_per_request"] == 900.0
    assert ops["engine"]["by_package"]["fixload"] == 310.0 and ops["engine_over_paced"] == round(1010 / 900, 3)
    assert ops["engine_extra"][0] == ["fixload/engine/arrival_rate.py:acquire", 310.0]
    counted = calls._tally({"engine": [run(1, 440, 10)], "paced": [run(0, 440, 10)]}, "calls_per_request")
    result = {"rate": 400, "users": 50, "rounds": 1, **counted, "ops": {"rate": 200, **ops}}
    (tmp_path / "calls.json").write_bytes(orjson.dumps(result))
    text = results.results_markdown(tmp_path, {"calls": "python bench/calls.py"})
    assert "| fixload engine, 200 VUs | 1010.0 | [1000.0, 1020.0] |" in text
    assert "| Locust's paced loop, 50 users | 900.0 | [900.0] |" in text and "engine/paced = 1.122" in text
    assert "engine/paced = 1.002" in text  # the calls' own table stays, above it
    assert "bytecodes per request" in calls.report(result)


# ------------------------------------------------------------------------------ real processes
@pytest.mark.slow  # fast twin: test_sizing_step_figures_from_a_summary
def test_one_real_sizing_step_reads_its_summary(tmp_path: Path) -> None:
    with sizing.SimulatorProcess() as sim:
        got = sizing.Steps(sim, warmup=0.0, window=2.0, tmp=tmp_path).ping(200)
    assert got["exit_code"] == 0, (tmp_path / "step1.log").read_text()[-2000:]
    assert got["window_s"] == 2.0 and got["lag_p95_ms"] is not None
    assert 150 <= got["requests_per_s"] <= 250 and got["dropped_pct"] <= 1.0
    assert 0 < got["generator_cpu"] < 1.5 and 0 < got["simulator_cpu"] < 1.5  # each pinned to a core


@pytest.mark.slow
def test_cost_bench_tiny(tmp_path: Path) -> None:
    r = cost.bench(
        rate=300, rounds=1, warmup=1.0, window=4.0, users=10, saturated_rate=2000, calls_rate=None, grids=["20ms"]
    )
    assert len(r["f"]["ratios"]) == 1 and r["f"]["median"] > 0 and r["f_grids"]["20ms"]["median"] > 0
    assert r["s"]["median"] <= 1.0 and abs(r["p"]["median"]) <= 10.0
    assert r["saturated"]["b_rps"][0] > 0
    assert {v["figure"] for v in r["verdicts"]} == {"f", "f@20ms", "f=", "c", "s", "b/a"}
    seen = r["evenness"]["arms"]
    assert {"engine", "engine@20ms", "paced"} <= set(seen) and seen["paced"]["capture_drops"] == 0
    assert seen["engine"]["band_ms"] < seen["engine@20ms"]["band_ms"] and seen["paced"]["requests"] > 900
    even = r["f_even"]  # the arm as even as the paced loop ran in the rounds, and its evenness was observed
    assert even["grid"] == cost.equal_grid(even["paced_band_ms"]) and even["median"] > 0
    assert f"engine@{even['grid']}" in seen


@pytest.mark.slow
def test_sizing_bench_tiny() -> None:
    r = sizing.bench("ping", warmup=2.0, window=2.0, precision=0.5, growth=4.0, retries=0)
    assert r["ping"]["highest"] is not None and r["ping"]["highest_figures"]["requests_per_s"] > 500
