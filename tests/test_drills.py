"""Resilience drills: what a load harness meets in real life, end to end through `fixload run`.

Each drill runs `python -m fixload run` (the operator's command) against loopback with a short profile on
`tests/locustfiles/drill_users.py` (one authenticated GET per iteration) and asserts:
- the process exits with the documented code (README "Exit codes") within a time bound;
- the summary is complete (k6 `metrics` + the `fixload` block with status, reason and every scenario)
  and says what happened;
- for arrival-rate scenarios, started + dropped == scheduled, and scheduled is k6's exact count;
- no token value appears in stdout, stderr or the summary.

Covered elsewhere (other engineers' files): worker SIGKILL and master SIGINT/SIGTERM
(tests/test_engine_distributed.py, tests/test_exit_codes.py / test_plugin*.py), a malformed `.env`
(tests/test_envvars.py), malformed profiles (tests/test_profile.py, tests/test_cli_validate.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixload.profile.schema import parse_profile
from fixload.simulator.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "tests" / "locustfiles" / "drill_users.py"
FAKE_TOKENS = {
    "K6_USER_TOKEN": "drill-user-token.c2VjcmV0LXVzZXI.sig",
    "K6_PROVIDER_TOKEN": "drill-provider-token.c2VjcmV0LXByb3ZpZGVy.sig",
    "K6_ADMIN_TOKEN": "drill-admin-token.c2VjcmV0LWFkbWlu.sig",
}


# ------------------------------------------------------------------------------------------- helpers
def constant(rate: int, duration: str, pre: int = 5, max_vus: int = 20, stop: str = "2s", exec_: str = "booking_flow"):
    return {
        "executor": "constant-arrival-rate",
        "exec": exec_,
        "rate": rate,
        "timeUnit": "1s",
        "duration": duration,
        "preAllocatedVUs": pre,
        "maxVUs": max_vus,
        "gracefulStop": stop,
    }


def write_profile(tmp_path: Path, name: str, scenarios: dict[str, Any], thresholds: dict[str, Any] | None = None):
    data = {"profile": f"drill: {name}", "scenarios": scenarios, "thresholds": thresholds or {}}
    path = tmp_path / f"drill_{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path, data


class Drill:
    """One `fixload run` subprocess: its exit code, wall time, combined output and summary."""

    def __init__(self, code: int, elapsed: float, output: str, summary_path: Path) -> None:
        self.code = code
        self.elapsed = elapsed
        self.output = output
        self.summary_path = summary_path
        self.summary_text = summary_path.read_text() if summary_path.exists() else ""
        self.summary: dict[str, Any] = json.loads(self.summary_text) if self.summary_text else {}

    @property
    def fixload(self) -> dict[str, Any]:
        return self.summary.get("fixload", {})

    def scenario(self, name: str) -> dict[str, Any]:
        return self.fixload["scenarios"][name]

    def metric(self, name: str) -> dict[str, Any]:
        return self.summary["metrics"].get(name, {})


def run_drill(
    tmp_path: Path,
    profile: Path,
    env: dict[str, str],
    *,
    timeout: float,
    summary: Path | None = None,
    during: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> Drill:
    summary = summary or tmp_path / "summary.json"
    fallback_tmp = tmp_path / "tmp"
    fallback_tmp.mkdir(exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    child_env.update(env)
    child_env["TMPDIR"] = str(fallback_tmp)  # the summary's fallback directory, isolated per test
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    log = tmp_path / "output.log"
    cmd = [sys.executable, "-m", "fixload", "run", "--profile", str(profile), "--summary", str(summary)]
    cmd += ["--locustfiles", str(LOCUSTFILE)]
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=child_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            if during is not None:
                during(proc)
            code = proc.wait(timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    elapsed = time.monotonic() - started
    return Drill(code, elapsed, log.read_text(errors="replace"), summary)


def assert_complete(drill: Drill, profile: dict[str, Any], status: str, code: int, bound: float) -> None:
    """Exit code, time bound, a complete summary with this status, counts that add up."""
    assert drill.code == code, f"exit {drill.code}, expected {code}\n{drill.output[-3000:]}"
    assert drill.elapsed < bound, f"took {drill.elapsed:.1f}s (bound {bound}s)"
    assert drill.summary, f"no summary at {drill.summary_path}\n{drill.output[-3000:]}"
    block = drill.fixload
    assert block["status"] == status, (block["status"], block["reason"])
    assert block["exitCode"] == code
    for key in ("startedAt", "endedAt", "durationSeconds", "reason", "thresholds", "scenarios", "target"):
        assert key in block, key
    for key in ("iterations", "http_reqs", "http_req_duration", "http_req_failed"):
        assert key in drill.summary["metrics"], key
    parsed = parse_profile(profile)
    assert set(block["scenarios"]) == set(parsed.scenarios)
    for name, scenario in parsed.scenarios.items():
        s = block["scenarios"][name]
        if scenario.executor.endswith("arrival-rate"):
            assert s["scheduled"] == scenario.expected_iterations(), (name, s)
            assert s["started"] + s["dropped"] == s["scheduled"], (name, s)
            assert s["completed"] + s["interrupted"] <= s["started"], (name, s)


def assert_no_tokens(drill: Drill, env: dict[str, str]) -> None:
    tokens = [v for k, v in env.items() if k.endswith("_TOKEN") and len(v) >= 8]
    assert tokens
    for token in tokens:
        assert token not in drill.output, "a token value appears in the output"
        assert token not in drill.summary_text, "a token value appears in the summary"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, never listened, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_requests(sim: SimulatorProcess, route: str, at_least: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        count = sim.stats().get("routes", {}).get(route, {}).get("count", 0)
        if count >= at_least:
            return
        assert proc.poll() is None, f"the run ended before {at_least} requests reached {route}"
        assert time.monotonic() < deadline, f"no traffic on {route}"
        time.sleep(0.1)


# -------------------------------------------------------------------------------------------- drills
FIXTURE_IDS = {"K6_ZONE_ID": "zone-drill", "K6_SERVICE_ID": "service-drill", "K6_CAMPAIGN_ID": "campaign-drill"}


@pytest.mark.slow  # its twin in the default set: test_exit_codes' dead target with fixtures given
def test_target_refusing_connections_from_the_start(tmp_path: Path) -> None:
    """Nothing listens on the target port and the fixtures are given (K6_ZONE_ID...), so setup sends
    nothing: every iteration's request fails to connect; status target_unreachable, exit 1."""
    port = closed_port()
    profile, data = write_profile(tmp_path, "refused", {"ping": constant(10, "5s")}, {"http_req_failed": ["rate<0.01"]})
    env = {"K6_BASE_URL": f"http://127.0.0.1:{port}", **FAKE_TOKENS, **FIXTURE_IDS}
    drill = run_drill(tmp_path, profile, env, timeout=90)
    assert_complete(drill, data, "target_unreachable", 1, bound=60)
    assert "unreachable" in drill.fixload["reason"]
    s = drill.scenario("ping")
    assert s["started"] > 0 and s["completed"] + s["interrupted"] == s["started"]
    failed = drill.metric("http_req_failed")
    assert failed.get("passes") == drill.metric("http_reqs")["count"] > 0  # every request failed
    assert_no_tokens(drill, env)


@pytest.mark.slow  # fast twin: test_exit_codes.py::test_dead_target_with_fixtures_given_is_target_unreachable
def test_target_refusing_connections_at_setup(tmp_path: Path) -> None:
    """Nothing listens and the fixtures must be looked up: setup fails on its first call, exit 107 within
    seconds, the reason names the step and the refused connection, and no iteration starts."""
    port = closed_port()
    profile, _ = write_profile(tmp_path, "refused_setup", {"ping": constant(10, "5s")})
    env = {"K6_BASE_URL": f"http://127.0.0.1:{port}", **FAKE_TOKENS}
    drill = run_drill(tmp_path, profile, env, timeout=90)
    assert drill.code == 107, drill.output[-3000:]
    assert drill.elapsed < 30
    assert drill.fixload["status"] == "setup_failed" and drill.fixload["exitCode"] == 107
    assert "Connection refused" in drill.fixload["reason"] and "setup" in drill.fixload["reason"]
    s = drill.scenario("ping")
    assert s["started"] == 0 and s["dropped"] == 0  # setup failed: nothing was scheduled to start
    # the one setup request that found no server is counted (and failed), as k6 counts setup's; no other
    assert drill.summary["metrics"]["http_reqs"]["count"] == drill.metric("http_req_failed")["passes"] == 1
    assert_no_tokens(drill, env)


@pytest.mark.slow  # fast twin: test_hostile_targets.py (resets mid-body)
def test_target_dying_mid_run(tmp_path: Path) -> None:
    """The simulator is stopped mid-run: later requests fail (connection refused); the run still ends on
    schedule, the threshold on http_req_failed fails (exit 99) and the reason names the connection failures."""
    sim = SimulatorProcess().start()
    try:
        profile, data = write_profile(
            tmp_path, "dying", {"ping": constant(20, "10s")}, {"http_req_failed": ["rate<0.01"]}
        )
        served: dict[str, int] = {}

        def kill_target(proc: subprocess.Popen[bytes]) -> None:
            wait_for_requests(sim, "GET /ping", 60, proc)
            served["count"] = sim.stats()["routes"]["GET /ping"]["count"]
            sim.stop()

        # the fixtures given: setup sends nothing, so every request counted is an iteration's
        drill = run_drill(tmp_path, profile, {**sim.env, **FIXTURE_IDS}, timeout=90, during=kill_target)
    finally:
        sim.stop()
    assert_complete(drill, data, "thresholds_failed", 99, bound=60)
    assert "no response" in drill.fixload["reason"], drill.fixload["reason"]
    s = drill.scenario("ping")
    reqs, failed = drill.metric("http_reqs")["count"], drill.metric("http_req_failed")["passes"]
    assert s["started"] == reqs  # one request per iteration, each one counted
    assert reqs - failed >= served["count"] > 0  # what the server answered before it died succeeded
    assert failed > 0
    assert_no_tokens(drill, sim.env)


@pytest.mark.parametrize(
    ("window_s", "duration"),
    # both windows slow: a 5xx answer failing its threshold (exit 99) stays in the default set (test_exit_codes)
    [
        pytest.param(5, "12s", id="5s-window", marks=pytest.mark.slow),
        pytest.param(20, "30s", id="20s-window", marks=pytest.mark.slow),
    ],
)
def test_5xx_storm(tmp_path: Path, make_simulator: Callable[..., SimulatorProcess], window_s: int, duration: str):
    """50% of /ping requests answer 503 for a window: the client's failure count equals the server's 503
    count, which is about half of what the window saw; the other scenario's route is untouched; exit 99
    with the failed threshold named."""
    sim = make_simulator()
    profile, data = write_profile(
        tmp_path,
        "storm",
        {"ping": constant(20, duration), "steady": constant(5, duration, exec_="chat_flow")},
        {"http_req_failed": ["rate<0.05"], "http_req_failed{scenario:steady}": ["rate<0.01"]},
    )
    storm = {"route": "/ping", "error_rate": 0.5, "status": 503, "window": {"start_s": 3, "duration_s": window_s}}

    def start_storm(proc: subprocess.Popen[bytes]) -> None:
        wait_for_requests(sim, "GET /ping", 1, proc)
        sim.add_fault(storm)

    drill = run_drill(tmp_path, profile, sim.env, timeout=120, during=start_storm)
    assert_complete(drill, data, "thresholds_failed", 99, bound=int(duration[:-1]) + 45)
    assert "http_req_failed" in drill.fixload["reason"]
    server = sim.stats()["routes"]
    server_503 = server["GET /ping"]["statuses"].get("503", 0)
    failed = drill.metric("http_req_failed")["passes"]
    assert failed == server_503 > 0  # every 503 the server sent was counted as a failure, nothing else
    served_in_window = 20 * window_s
    assert 0.3 * served_in_window < server_503 < 0.7 * served_in_window
    assert "503" not in json.dumps(server["GET /api/ping"]["statuses"])  # the steady scenario was untouched
    by_key = {t["key"] if "key" in t else t.get("metric"): t for t in drill.fixload["thresholds"]}
    assert any("steady" in str(k) for k in by_key), drill.fixload["thresholds"]
    assert_no_tokens(drill, sim.env)


@pytest.mark.slow  # running out of VUs and dropping, counted exactly, stays in the default set: test_engine
def test_slow_target_overruns_max_vus(tmp_path: Path, make_simulator: Callable[..., SimulatorProcess]) -> None:
    """Latency p50 1 s / p95 2 s with maxVUs 10 at 20/s: the executor runs out of VUs and drops starts;
    dropped iterations are counted (summary, dropped_iterations metric) and started + dropped == scheduled."""
    sim = make_simulator(faults=[{"route": "/ping", "latency": {"p50_ms": 1000, "p95_ms": 2000}}])
    profile, data = write_profile(
        tmp_path,
        "slow",
        {"ping": constant(20, "8s", pre=5, max_vus=10, stop="3s")},
        {"dropped_iterations": ["count<1"]},
    )
    drill = run_drill(tmp_path, profile, sim.env, timeout=90)
    assert_complete(drill, data, "thresholds_failed", 99, bound=60)
    s = drill.scenario("ping")
    assert s["dropped"] > 0.3 * s["scheduled"], s  # 10 VUs x ~1.2 s per iteration cannot keep up with 20/s
    assert drill.metric("dropped_iterations")["count"] == s["dropped"]
    assert "dropped_iterations" in drill.fixload["reason"]
    p95 = drill.metric("http_req_duration")["p(95)"]
    assert 1200 < p95 < 4000, p95
    assert_no_tokens(drill, sim.env)


@pytest.mark.slow  # gracefulStop interrupting and counting stays in the default set: test_engine
def test_hanging_endpoint_longer_than_graceful_stop(
    tmp_path: Path, make_simulator: Callable[..., SimulatorProcess]
) -> None:
    """From 2 s in, /ping never answers: iterations still running when gracefulStop (2 s) runs out are
    interrupted and counted; the run does not wait for the hung requests (network timeout 30 s)."""
    sim = make_simulator()
    profile, data = write_profile(tmp_path, "hang", {"ping": constant(5, "6s", pre=5, max_vus=40, stop="2s")})

    def start_hang(proc: subprocess.Popen[bytes]) -> None:
        wait_for_requests(sim, "GET /ping", 1, proc)
        sim.add_fault({"route": "/ping", "hang": True, "window": {"start_s": 2, "duration_s": 600}})

    drill = run_drill(tmp_path, profile, sim.env, timeout=90, during=start_hang)
    assert_complete(drill, data, "passed", 0, bound=28)  # well under the 30 s network timeout
    s = drill.scenario("ping")
    assert s["completed"] > 0 and s["interrupted"] > 0, s
    assert s["completed"] + s["interrupted"] == s["started"], s
    answered = sim.stats()["routes"]["GET /ping"]["statuses"].get("200", 0)
    assert s["completed"] == answered  # every completed iteration is one the server answered
    assert_no_tokens(drill, sim.env)


@pytest.mark.slow  # the fallback when the summary path cannot be written stays in the default set: test_summary
def test_unwritable_summary_path(tmp_path: Path, make_simulator: Callable[..., SimulatorProcess]) -> None:
    """--summary under a regular file (cannot be created, even as root): a clear error naming the path and
    the fallback, the summary written to the fallback, and the run's own exit code kept."""
    sim = make_simulator()
    profile, data = write_profile(tmp_path, "unwritable", {"ping": constant(10, "3s")})
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory is expected\n")
    wanted = blocker / "summary.json"
    drill = run_drill(tmp_path, profile, sim.env, timeout=90, summary=wanted)
    assert drill.code == 0, drill.output[-3000:]
    assert drill.elapsed < 45
    assert not wanted.exists()
    fallback = tmp_path / "tmp" / "fixload-summary.json"
    assert fallback.exists(), drill.output[-3000:]
    assert str(wanted) in drill.output and str(fallback) in drill.output, drill.output[-3000:]
    fallen = Drill(drill.code, drill.elapsed, drill.output, fallback)
    assert_complete(fallen, data, "passed", 0, bound=45)
    assert_no_tokens(fallen, sim.env)
