"""No false drops when a run is stopped early (issue 26 point 3): `-t`, STOP or a signal count as dropped only
the starts that fell due with no free VU before the stop. In-process: a real `Engine` on gevent, stopped as
Locust stops a test (`test_stopping`, then each user stopped: an idle one killed, a busy one finishing its
iteration first, then `test_stop` ends the engine); a slow variant runs `locust --headless -t`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import orjson
import pytest

from fixload.engine.base import Share
from fixload.engine.engine import Engine
from fixload.profile.plan import build_plan
from fixload.profile.schema import Profile
from fixload.report.console import insufficient_vus_warning
from fixload.simulator.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[1]

STEADY = {"executor": "constant-arrival-rate", "rate": 200, "duration": "10s", "preAllocatedVUs": 40, "maxVUs": 40}
"""200/s with 40 ms iterations: ~8 VUs busy of 40, so a VU is always free while the test runs."""
LEAD_S = 0.5


def _stopped_mid_run(stop_at: float, work: float = 0.04, stop_starting: bool = True) -> dict[str, int]:
    profile = Profile.model_validate({"profile": "stop", "scenarios": {"s": {"exec": "booking_flow", **STEADY}}})
    # the lead: 40 users to spawn and the engine's heap freeze (a gc.collect of the test process) before plan
    # time 0; 0.1 s was not enough on a CI shard sharing two cores (ready at +42 ms)
    engine = Engine(build_plan(profile), Share(0, 1, time.time() + LEAD_S, 0.0), None)
    stopping = False
    vus: dict[gevent.Greenlet, Any] = {}

    def loop() -> None:
        vu = engine.join("s")
        vus[gevent.getcurrent()] = vu
        while not stopping and vu.next_iteration():
            gevent.sleep(work)  # the iteration: a Locust user asked to stop finishes it, then ends

    users = [gevent.spawn(loop) for _ in range(STEADY["maxVUs"])]
    engine.start()
    joined = time.monotonic() + 5
    while len(vus) < len(users) and time.monotonic() < joined:  # every VU in its pool before plan time 0
        gevent.sleep(0.005)
    assert engine.clock.now() < 0, "the VUs were not ready before the start: raise the share's lead"
    deadline = time.monotonic() + 5
    while engine.clock.now() < stop_at and time.monotonic() < deadline:
        gevent.sleep(0.005)
    assert engine.clock.now() >= stop_at, "the engine never reached the stop"
    # Locust's Runner.stop: test_stopping, then stop_users (idle users killed at once, busy ones finish their
    # iteration: Locust waits for them), then test_stop (the plugin's finalize ends the engine)
    before_stop = engine.counts()["s"]["dropped"]
    if stop_starting:
        engine.stop_starting()
    stopping = True
    for user in users:
        vu = vus.get(user)
        if vu is None or vu.busy_since is None:
            user.kill(block=False)
    gevent.joinall(users, timeout=5)
    assert all(user.dead for user in users)
    engine.stop()
    return {**engine.counts()["s"], "dropped_before_stop": before_stop}


def test_a_stop_mid_run_with_ample_vus_drops_nothing_20_times_in_a_row() -> None:
    for attempt in range(20):
        counts = _stopped_mid_run(stop_at=0.08 + 0.005 * attempt)
        assert counts["started"] > 10, counts  # it did run
        assert counts["dropped"] == counts["dropped_before_stop"], (attempt, counts)  # the stop dropped nothing
        assert (counts["dropped"], counts["scheduled"]) == (0, counts["started"]), (attempt, counts)


def test_without_stop_starting_the_starts_due_while_users_stop_were_dropped() -> None:
    # the cause, pinned: while Locust waits for busy users to finish their iteration, no VU is left to take
    # what falls due (idle ones were killed, their claims given back), and all of it was counted dropped
    counts = _stopped_mid_run(stop_at=0.08, stop_starting=False)
    assert counts["dropped"] > counts["dropped_before_stop"], counts


def test_the_warning_names_a_max_vus_that_would_have_helped_or_none() -> None:
    # 45 VUs at ~5/s with iterations of at most 1.4 s: 9 cover it, so no maxVUs is named (it was 46 before)
    rollup: dict[str, Any] = {"insufficientVUs": {"dropped": 3, "maxVUs": 45, "neededMaxVUs": None, "vusSufficed": 9}}
    warning = insufficient_vus_warning("booking_flow", rollup)
    assert warning is not None and "would have started them" not in warning
    assert "more VUs would not have helped (9 cover the peak rate)" in warning
    del rollup["insufficientVUs"]["vusSufficed"]
    rollup["insufficientVUs"]["neededMaxVUs"] = 60
    assert "maxVUs 60 would have started them" in (insufficient_vus_warning("booking_flow", rollup) or "")


@pytest.mark.slow
def test_a_stop_mid_run_drops_nothing_200_times() -> None:
    for attempt in range(200):
        counts = _stopped_mid_run(stop_at=0.1 + 0.005 * attempt)
        assert counts["dropped"] == counts["dropped_before_stop"] == 0, (attempt, counts)


@pytest.mark.slow  # three real runs of the baseline's five flows, each stopped by -t mid-run (~40 s in all)
def test_runs_stopped_by_run_time_drop_nothing(tmp_path: Path, simulator: SimulatorProcess) -> None:
    """The issue's case end to end: `fixload run -t` in the middle of the short baseline (ample VUs). Before
    the fix, such runs counted iterations dropped (ads 1, chat 2, payments 1 in a 30 s run) with a warning
    naming maxVUs + 1."""
    env = {**os.environ, **simulator.env}
    for attempt, seconds in enumerate(("7s", "9s", "11s")):
        summary = tmp_path / f"summary-{attempt}.json"
        command = [sys.executable, "-m", "fixload", "run", "--profile", "profiles/baseline-short.json"]
        done = subprocess.run(
            [*command, "-t", seconds, "--summary", str(summary)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert "Insufficient VUs" not in done.stderr, done.stderr[-3000:]
        data = orjson.loads(summary.read_bytes())["fixload"]
        assert data["stopped"] == "run-time"
        for name, rollup in data["scenarios"].items():
            assert rollup["dropped"] == 0, (attempt, name, rollup)
            assert rollup["started"] > 0, (attempt, name)


def test_the_html_report_gives_the_warning_the_console_gives() -> None:
    from html import unescape

    from fixload.report.html import html_report

    info = {"dropped": 3, "maxVUs": 45, "neededMaxVUs": 60}
    summary = {"fixload": {"status": "passed", "scenarios": {"booking_flow": {"insufficientVUs": info}}}}
    warning = insufficient_vus_warning("booking_flow", summary["fixload"]["scenarios"]["booking_flow"])
    assert warning is not None and warning in unescape(html_report(summary))
    assert 'class="meta vus-warning"' not in html_report({"fixload": {"status": "passed", "scenarios": {}}})
