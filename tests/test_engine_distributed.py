"""The engine on a master and 2 worker processes on loopback (issue 5): shares, no double start, a lost worker.

Each worker is a real `locust --worker` process; the target counts what it received. A worker killed
with SIGKILL mid-run must have its share taken over by the survivor within 5 s, and the summary must
say a worker was lost.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from pathlib import Path
from typing import Any

import pytest
from enginekit import (
    PROFILE_60S,
    Cluster,
    _seconds,
    arrivals,
    k6_count,
    k6_starts,
    load_profile_json,
    scaled,
    server_counts,
    write_profile,
)
from test_engine import check_open_model

from fixload.report.timeseries import decode
from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for

TAKEOVER_S = 5.0


def _profile(tmp_path: Path, seconds: int) -> tuple[dict[str, Any], Path]:
    profile = load_profile_json(PROFILE_60S)
    if seconds != 60:
        profile = scaled(profile, seconds)
    path = write_profile(tmp_path / f"open-{seconds}s.json", profile["scenarios"], profile["thresholds"])
    return profile, path


def _distributed(simulator: SimulatorProcess, tmp_path: Path, seconds: int) -> None:
    profile, path = _profile(tmp_path, seconds)
    simulator.reset_stats()
    with Cluster(simulator, path, tmp_path, workers=2, sleep={"analytics_flow": 0.25}) as cluster:
        result = cluster.wait(timeout=seconds + 90)
    check_open_model(result, profile, server_counts(simulator))
    workers = result.summary["fixload"]["workers"]
    assert workers["count"] == 2 and workers["lost"] == 0, workers
    # issue 27, on a master: per-interval counts from the workers' reports add up; the experiment names 2 workers
    fx = result.summary["fixload"]
    series = decode(fx["timeSeries"])
    for name, rollup in fx["scenarios"].items():
        assert sum(r.completed for r in series[name]) == rollup["completed"], name
        assert sum(r.failed for r in series[name]) == (rollup["failedIterations"] or 0), name
        assert sum(r.requests for r in series[name]) > 0, name
    assert fx["experiment"]["workers"] == 2


@pytest.mark.slow  # fast twin: test_fixtures.py::test_fixtures_are_provisioned_once_with_two_workers
def test_two_workers_10s(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """Same ±1% and start lag with the schedule split over two workers; server count == started (no twice).
    10 s: the counts are exact at any length; the 60 s run is the slow test below."""
    _distributed(simulator, tmp_path, 10)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_workers_60s(simulator: SimulatorProcess, tmp_path: Path) -> None:
    _distributed(simulator, tmp_path, 60)


def _expected_between(scenario: dict[str, Any], a: float, b: float) -> float:
    """k6's starts in plan time [a, b): the area under the rate curve (constant or one linear stage)."""
    if scenario["executor"] == "constant-arrival-rate":
        return (b - a) * scenario["rate"]
    (stage,) = scenario["stages"]
    d = float(_seconds(stage["duration"]))
    r0, r1 = scenario["startRate"], stage["target"]

    def area(t: float) -> float:
        return r0 * t + (r1 - r0) * t * t / (2 * d)

    return area(b) - area(a)


def fixload_t0(simulator: SimulatorProcess) -> float:
    return arrivals(simulator, "payments_flow")[0]  # payments' iteration 0 starts at plan time 0


@pytest.mark.slow  # fast twin: test_no_false_green.py::test_a_paused_master_whose_worker_left_ends_in_error
def test_killed_worker_share_is_taken_over(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """SIGKILL one of two workers 6 s into a 15 s run: from 5 s after the kill the target sees the full rate."""
    seconds = 15
    profile, path = _profile(tmp_path, seconds)
    simulator.reset_stats()
    with Cluster(simulator, path, tmp_path, workers=2, sleep={"analytics_flow": 0.25}) as cluster:
        # mid-run: 6 s of the 20/s scenario have reached the target
        wait_for(lambda: server_counts(simulator)["payments_flow"] >= 120, timeout=40, what="6 s of load")
        killed_at = arrivals(simulator, "payments_flow")[-1]
        cluster.kill_worker(1)
        result = cluster.wait(timeout=seconds + 90)

    fixload = result.summary["fixload"]
    assert fixload["workers"]["lost"] == 1, fixload["workers"]
    assert [e["event"] for e in fixload["workerEvents"]] == ["lost"], fixload["workerEvents"]
    assert fixload["workerEvents"][0]["at"] <= killed_at - fixload_t0(simulator) + TAKEOVER_S

    # the last start of the 20/s schedule that never reached the target: the end of the takeover gap
    t0 = fixload_t0(simulator)
    seen = arrivals(simulator, "payments_flow")
    missing = [
        t0 + offset
        for offset in k6_starts(profile["scenarios"]["payments_flow"])
        if not any(abs(at - (t0 + offset)) < 0.025 for at in seen[bisect_left(seen, t0 + offset - 0.025) :][:2])
    ]
    gap = [at for at in missing if at >= killed_at - 0.1]
    assert gap, "killing a worker lost nothing: was it running a share?"
    # the killed worker's share (every other start) goes missing until the survivor takes it over;
    # a start later than 25 ms elsewhere (a busy machine) is not part of that gap
    end = next((a for a, b in itertools.pairwise(gap) if b - a > 0.15), gap[-1])
    takeover = end - killed_at
    assert takeover <= TAKEOVER_S, f"the survivor took over {takeover:.2f} s after the kill: {gap}"
    assert end - gap[0] > 1.0, f"no gap after the kill: {gap}"

    for name in ("payments_flow", "booking_flow"):
        scenario = profile["scenarios"][name]
        starts = arrivals(simulator, name)
        t0 = fixload_t0(simulator)
        since = killed_at - t0 + TAKEOVER_S
        got = sum(1 for at in starts if since <= at - t0 < seconds)
        expected = _expected_between(scenario, since, seconds)
        # the survivor runs the whole schedule from `since` on: nothing missing, nothing twice
        assert abs(got - expected) <= 0.02 * expected + 2, (name, got, expected, since)
        assert len(starts) <= k6_count(scenario), (name, len(starts))  # never more than k6's schedule
        s = fixload["scenarios"][name]
        # exact through the loss: what the lost worker was due and never reported is dropped (worker_lost)
        assert s["started"] + s["dropped"] == s["scheduled"] == k6_count(scenario), s
        assert s["droppedReasons"]["worker_lost"] > 0, s


@pytest.mark.slow  # fast twin: test_compose.py::test_a_worker_joining_mid_run_gets_fixtures_and_its_share
def test_a_worker_joining_mid_run_ends_the_run_on_time_with_every_iteration_accounted(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """A third worker joins 3 s into an 8 s run. Locust rebalances by stopping users on the first two, some
    in the middle of an iteration: those iterations end with their users (counted once, as interrupted),
    so the run still ends at its duration, not gracefulStop (20 s) later waiting for iterations nobody runs,
    and per-vu-iterations does not wait until its maxDuration (30 s) for a VU that is no longer there."""
    seconds, graceful = 8, 20
    scenarios = {
        "payments_flow": {
            "executor": "constant-arrival-rate",
            "rate": 20,
            "duration": f"{seconds}s",
            "preAllocatedVUs": 10,
            "maxVUs": 20,
            "gracefulStop": f"{graceful}s",
        },
        "analytics_flow": {"executor": "constant-vus", "vus": 6, "duration": f"{seconds}s", "gracefulStop": "20s"},
        # ~6 s of iterations per VU, well inside maxDuration: a VU moved away must not be waited for until then
        "chat_flow": {"executor": "per-vu-iterations", "vus": 6, "iterations": 20, "maxDuration": "30s"},
    }
    path = write_profile(tmp_path / "join.json", scenarios)
    simulator.reset_stats()
    with Cluster(
        simulator, path, tmp_path, workers=2, sleep={"payments_flow": 0.3, "analytics_flow": 0.3, "chat_flow": 0.3}
    ) as cluster:
        wait_for(lambda: server_counts(simulator)["payments_flow"] >= 60, timeout=40, what="3 s of load")
        cluster.join_worker()
        result = cluster.wait(timeout=seconds + graceful + 60)
    assert result.returncode == 0, result.stderr[-3000:]
    fixload = result.summary["fixload"]
    assert [e["event"] for e in fixload["workerEvents"]] == ["joined"], fixload["workerEvents"]
    # an 8 s run on two workers takes ~12 s from test_start to its end (the shares' lead, the last reports)
    took = fixload["durationSeconds"]
    assert took < seconds + graceful / 2, f"the run waited for VUs that had left: {took}s"
    for name in scenarios:
        s = fixload["scenarios"][name]
        assert s["completed"] + s["interrupted"] == s["started"], s
        # one request per iteration: a user stopped mid-iteration may have been stopped before sending it
        assert s["completed"] <= server_counts(simulator)[name] <= s["started"], (s, server_counts(simulator))
    payments = fixload["scenarios"]["payments_flow"]
    assert payments["started"] + payments["dropped"] == payments["scheduled"] == k6_count(scenarios["payments_flow"])
