"""The VU loop is fixload's (issue 15): on_start/on_stop once per VU, gracefulStop without re-entering
User.run, and Locust's --stop-timeout: a VU waiting for its go ends at once, one mid-iteration finishes it.

Real `locust` processes on loopback against the embedded simulator, with tests/locustfiles/vu_users.py,
whose VUs write every on_start, on_stop and iteration end to a file.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson
from enginekit import REPO, headless_argv, locust_env, run_local, write_profile

from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for

LOCUSTFILE = REPO / "tests" / "locustfiles" / "vu_users.py"


def _events(path: Path) -> list[tuple[str, str, int, float]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        scenario, what, vu, at = line.split()
        out.append((scenario, what, int(vu), float(at)))
    return out


def _per_vu(events: list[tuple[str, str, int, float]]) -> dict[int, list[str]]:
    lives: dict[int, list[str]] = defaultdict(list)
    for _, what, vu, _ in events:
        lives[vu].append(what)
    return lives


def test_on_start_and_on_stop_run_once_per_vu(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """Arrival-rate VUs, per-vu-iterations VUs and VUs whose iteration gracefulStop interrupts: every VU
    runs on_start exactly once before its first iteration and on_stop exactly once after its last."""
    scenarios = {
        "booking_flow": {
            "executor": "constant-arrival-rate",
            "rate": 10,
            "duration": "2s",
            "preAllocatedVUs": 2,
            "maxVUs": 4,
        },
        # 3 s iterations outlive duration + gracefulStop: each VU is interrupted once, then its executor ends
        "analytics_flow": {"executor": "constant-vus", "vus": 2, "duration": "1s", "gracefulStop": "500ms"},
        "chat_flow": {"executor": "per-vu-iterations", "vus": 2, "iterations": 3, "maxDuration": "5s"},
    }
    profile = write_profile(tmp_path / "vu-life.json", scenarios)
    log = tmp_path / "vu-events.log"
    simulator.reset_stats()
    result = run_local(
        simulator,
        profile,
        tmp_path,
        timeout=60,
        sleep={"analytics_flow": 3.0, "booking_flow": 0.2},
        extra_env={"FIXLOAD_TEST_VU_EVENTS": str(log)},
        locustfile=LOCUSTFILE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = _events(log)
    starts = Counter(s for s, what, _, _ in events if what == "on_start")
    assert starts == {"booking_flow": 4, "analytics_flow": 2, "chat_flow": 2}, starts  # one per Locust user
    for vu, life in _per_vu(events).items():
        assert life[0] == "on_start" and life[-1] == "on_stop", (vu, life)
        assert life.count("on_start") == 1 and life.count("on_stop") == 1, (vu, life)
    analytics = [what for s, what, _, _ in events if s == "analytics_flow" and what in ("completed", "interrupted")]
    assert analytics == ["interrupted", "interrupted"], analytics
    assert Counter(s for s, what, _, _ in events if what == "completed")["chat_flow"] == 6
    setup = [route for route in simulator.stats()["routes"] if "/zones" in route or "/services" in route]
    assert setup == [], f"users that declare no fixtures need no setup: {setup}"
    counts = result.scenarios
    assert counts["analytics_flow"]["interrupted"] == 2 and counts["chat_flow"]["completed"] == 6, counts


def test_stop_timeout_ends_waiting_vus_at_once_and_lets_running_iterations_finish(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """SIGTERM with --stop-timeout 20: VUs waiting for their go (some after an interrupted iteration) end at
    once, iterations in flight finish, and the process exits long before the 20 s."""
    scenarios = {
        "booking_flow": {
            "executor": "constant-arrival-rate",
            "rate": 4,
            "duration": "30s",
            "preAllocatedVUs": 3,
            "maxVUs": 6,
        },
        "analytics_flow": {"executor": "constant-vus", "vus": 1, "duration": "1s", "gracefulStop": "500ms"},
    }
    profile = write_profile(tmp_path / "stop-timeout.json", scenarios)
    log = tmp_path / "vu-events.log"
    summary = tmp_path / "summary.json"
    cmd = [*headless_argv(simulator, profile, summary, LOCUSTFILE), "--stop-timeout", "20"]
    env = locust_env(simulator, {"booking_flow": 1.0, "analytics_flow": 5.0}, FIXLOAD_TEST_VU_EVENTS=str(log))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # the analytics VU has been interrupted (at 1.5 s) and booking iterations are in flight
        wait_for(lambda: log.exists() and "analytics_flow interrupted" in log.read_text(), timeout=30)
        wait_for(lambda: sum(1 for e in _events(log) if e[0] == "booking_flow" and e[1] == "completed") >= 4, 30)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 105, output[-3000:]
    assert took < 8, f"the run took {took:.1f}s to end after SIGTERM (--stop-timeout 20 waited for idle VUs?)"
    events = _events(log)
    at_signal = time.time() - (time.monotonic() - signalled)
    late = [e for e in events if e[0] == "booking_flow" and e[1] == "interrupted"]
    assert not late, f"iterations in flight at SIGTERM were cut instead of finishing: {late}"
    assert any(e[1] == "completed" and e[3] > at_signal for e in events), "no iteration was in flight at SIGTERM"
    for vu, life in _per_vu(events).items():
        assert life.count("on_start") == 1 and life.count("on_stop") == 1, (vu, life)
    fx = orjson.loads(summary.read_bytes())["fixload"]
    assert fx["status"] == "interrupted", fx["reason"]
