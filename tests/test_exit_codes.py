"""Issue 7, end to end: real `locust --headless` processes (local, and a master with workers) against the
embedded simulator; exit codes, the summary file, the console summary, secrets.

Profiles: tests/profiles/exitcodes-*.json (the five flows at low rates; 12 s, 30 s for abortOnFail, 4 s
for target-down runs). Every wait is bounded and on something observable (process exit, a request
counter on the simulator).
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixload.simulator.process import SimulatorProcess
from tests.locust_harness import REPO, LocustRun, dead_url, start_locust
from tests.support import wait_for

PASS = "exitcodes-pass.json"  # 12 s, thresholds loose enough for a loaded CI box
ABORT = "exitcodes-abort.json"  # 30 s, payments_flow_success_rate with abortOnFail (object form)
TINY = "exitcodes-tiny.json"  # 4 s
K6_EXPORT = REPO / "tests" / "data" / "k6_summary_export.json"
SETUP_ROUTES = {"/api/zones", "/api/services", "/api/campaigns"}
PURCHASE_503 = {"route": "/api/services/*/purchase", "method": "POST", "error_rate": 1.0, "status": 503}

pytestmark = pytest.mark.timeout(120)


# ----------------------------------------------------------------------------------------------- helpers


def secret_values(sim: SimulatorProcess) -> list[str]:
    values = [v for k, v in sim.env.items() if "TOKEN" in k and v]
    assert len(values) >= 3, "the simulator's env should carry the three tokens"
    return values


def assert_no_secrets(run: LocustRun, sim: SimulatorProcess) -> None:
    texts = {"output": run.output()}
    if run.summary_path.exists():
        texts["summary"] = run.summary_path.read_text()
    for where, text in texts.items():
        for value in secret_values(sim):
            assert value not in text, f"a token value leaked into the {where}"


def flow_requests(sim: SimulatorProcess) -> int:
    """Requests the flows sent (everything but the setup's list/create calls)."""
    routes = sim.stats()["routes"]
    return sum(r["count"] for r in routes.values() if r["route"] not in SETUP_ROUTES)


def all_requests(sim: SimulatorProcess) -> int:
    """Every request the simulator answered: the flows' and the setup's (k6 counts setup's in http_reqs)."""
    return int(sim.stats()["total"]["count"])


def block(run: LocustRun) -> dict[str, Any]:
    return run.summary()["fixload"]


def assert_complete_summary(run: LocustRun) -> dict[str, Any]:
    """The file parses, has k6's two parts and fixload's block with every scenario and its counts."""
    data = run.summary()
    assert set(data) == {"metrics", "root_group", "fixload"}
    fx = data["fixload"]
    assert set(fx["scenarios"]) == {"booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}
    for name, s in fx["scenarios"].items():
        assert s["started"] >= 1, name
        assert s["completed"] + s["interrupted"] == s["started"], (name, s)
    for metric in ("http_reqs", "http_req_duration", "iterations", "checks", "vus", "vus_max"):
        assert metric in data["metrics"], metric
    assert not list(run.summary_path.parent.glob(".summary.json.*.tmp")), "a temp file was left behind"
    return data


def threshold(fx: dict[str, Any], metric: str, expression: str) -> dict[str, Any]:
    return next(t for t in fx["thresholds"] if t["metric"] == metric and t["expression"] == expression)


def wait_for_traffic(sim: SimulatorProcess, requests: int, timeout: float = 30.0) -> None:
    wait_for(lambda: flow_requests(sim) >= requests, timeout, f"{requests} flow requests on the simulator")


# ------------------------------------------------------------------------------------ 0 and 99 by results


@pytest.mark.slow  # fast twin: test_readme.py::test_fixload_run_without_a_target_runs_the_embedded_simulator
def test_passing_run_exits_0_with_a_k6_readable_summary(tmp_path: Path, make_simulator: Any) -> None:
    sim = make_simulator()
    run = start_locust(tmp_path, PASS, sim.base_url, sim.env)
    assert run.wait(60) == 0, run.output()[-3000:]
    data = assert_complete_summary(run)
    fx = data["fixload"]
    assert fx["status"] == "passed" and fx["exitCode"] == 0 and fx["reason"] == ""
    assert fx["thresholdsFailed"] == 0 and all(t["ok"] for t in fx["thresholds"])
    assert set(fx["fixtures"]) == {"zoneId", "serviceId", "campaignId"}
    for s in fx["scenarios"].values():
        assert s["interrupted"] == 0 and s["dropped"] == 0
        if s["scheduled"] is not None:
            assert s["completed"] == s["scheduled"]
    # every request the simulator saw, setup's included, is in http_reqs, and the iterations add up
    assert data["metrics"]["http_reqs"]["count"] == all_requests(sim)
    assert data["metrics"]["iterations"]["count"] == sum(s["completed"] for s in fx["scenarios"].values())
    assert data["metrics"]["vus_max"]["max"] >= data["metrics"]["vus"]["max"] > 0
    # the console summary: thresholds with ✓, scenarios, the status line
    out = run.output()
    assert "✓ 'rate>0.98'" in out and "SCENARIOS" in out and "STATUS passed" in out
    assert_no_secrets(run, sim)
    check_k6_consumer(data)


@pytest.mark.slow  # a master with workers ending normally is also run by test_engine_distributed and test_compose
def test_normal_end_on_a_master_with_workers_exits_0_with_every_sample(tmp_path: Path, make_simulator: Any) -> None:
    """The shape ends the test on the master: the exit code holds and the workers' last deltas are counted."""
    sim = make_simulator()
    run = start_locust(tmp_path, PASS, sim.base_url, sim.env, workers=2)
    assert run.wait(60) == 0, run.output()[-3000:]
    data = assert_complete_summary(run)
    fx = data["fixload"]
    assert fx["status"] == "passed" and fx["workers"] == {"count": 2, "lost": 0}
    for s in fx["scenarios"].values():
        if s["scheduled"] is not None:
            assert s["completed"] == s["scheduled"]
    assert data["metrics"]["http_reqs"]["count"] == all_requests(sim)
    assert data["metrics"]["iterations"]["count"] == sum(s["completed"] for s in fx["scenarios"].values())
    assert data["metrics"]["vus_max"]["max"] > 0
    assert_no_secrets(run, sim)


def check_k6_consumer(ours: dict[str, Any]) -> None:
    """What a reader of k6's --summary-export relies on, checked against a file real k6 v1.1.0 wrote."""
    k6 = orjson.loads(K6_EXPORT.read_bytes())
    metrics = ours["metrics"]
    # the metrics k6 writes for every HTTP test are all there
    always = {"http_reqs", "http_req_duration", "http_req_failed", "iterations", "iteration_duration"}
    always |= {"vus", "vus_max", "checks", "data_received", "data_sent", "http_req_duration{expected_response:true}"}
    assert always <= set(metrics) and always <= set(k6["metrics"])
    for name, values in metrics.items():
        reference = k6["metrics"].get(name)
        if reference is None:  # a metric k6's file lacks: same field set as a k6 metric of the same kind
            reference = next(v for v in k6["metrics"].values() if _kind(v) == _kind(values))
        want = {k for k in reference if k != "thresholds" and not k.startswith("p(")}
        got = {k for k in values if k != "thresholds" and not k.startswith("p(")}
        assert got == want, (name, got, want)
        for key, value in values.items():
            if key == "thresholds":
                assert all(isinstance(e, str) and isinstance(v, bool) for e, v in value.items()), name
            else:
                assert isinstance(value, int | float) and not isinstance(value, bool), (name, key, value)
                assert math.isfinite(value), (name, key)
        if _kind(values) == "trend":
            assert {"p(90)", "p(95)"} <= set(values), name
    # thresholds: k6's booleans, true = FAILED
    assert metrics["payments_flow_success_rate"]["thresholds"] == {"rate>0.98": False}
    # root_group: k6's keys, checks with name/path/id/passes/fails (ints)
    root, k6root = ours["root_group"], k6["root_group"]
    assert set(root) == set(k6root) and root["id"] == k6root["id"] and root["path"] == ""
    checks = [c for g in [root, *root["groups"].values()] for c in g["checks"].values()]
    assert checks, "the flows' checks should appear in root_group"
    k6check = next(iter(k6root["checks"].values()))
    for check in checks:
        assert set(check) == set(k6check)
        assert isinstance(check["passes"], int) and isinstance(check["fails"], int)
        assert check["path"].endswith("::" + check["name"]) and len(check["id"]) == 32


def _kind(values: dict[str, Any]) -> str:
    keys = set(values) - {"thresholds"}
    if "passes" in keys:
        return "rate"
    if "count" in keys:
        return "counter"
    if "med" in keys:
        return "trend"
    return "gauge"


@pytest.mark.slow  # fast twin: test_tracing_run.py (a 500 fault fails the run)
def test_fault_injected_5xx_fails_the_threshold_and_exits_99(tmp_path: Path, make_simulator: Any) -> None:
    sim = make_simulator(faults=[PURCHASE_503])
    run = start_locust(tmp_path, PASS, sim.base_url, sim.env)
    assert run.wait(60) == 99, run.output()[-3000:]
    data = assert_complete_summary(run)
    fx = data["fixload"]
    assert fx["status"] == "thresholds_failed" and fx["exitCode"] == 99
    assert "payments_flow_success_rate" in fx["reason"]
    entry = threshold(fx, "payments_flow_success_rate", "rate>0.98")
    assert entry["ok"] is False and entry["observed"] == 0
    assert threshold(fx, "booking_flow_success_rate", "rate>0.98")["ok"] is True
    # k6's export marks it: true means FAILED
    assert data["metrics"]["payments_flow_success_rate"]["thresholds"] == {"rate>0.98": True}
    assert data["metrics"]["booking_flow_success_rate"]["thresholds"] == {"rate>0.98": False}
    assert fx["scenarios"]["payments_flow"]["successRate"] == 0
    assert fx["scenarios"]["payments_flow"]["errorBudgetConsumed"] == 50  # 100% failed / 2% allowed
    assert "✗ 'rate>0.98' rate=0.00%" in run.output()
    assert_no_secrets(run, sim)


# --------------------------------------------------------------------------------------------- abortOnFail


@pytest.mark.parametrize(
    "workers",
    [0, pytest.param(2, marks=pytest.mark.slow)],  # the distributed case is slow; the local one is its fast twin
    ids=["local", "master-2-workers"],
)
def test_abort_on_fail_stops_the_run_early_and_exits_99(tmp_path: Path, make_simulator: Any, workers: int) -> None:
    sim = make_simulator(faults=[PURCHASE_503])
    run = start_locust(tmp_path, ABORT, sim.base_url, sim.env, workers=workers)
    assert run.wait(60) == 99, run.output()[-3000:]
    assert run.wall < 18, f"abortOnFail should stop a 30 s profile early; took {run.wall:.1f}s"
    fx = assert_complete_summary(run)["fixload"]
    assert fx["status"] == "aborted" and fx["exitCode"] == 99
    assert "payments_flow_success_rate" in fx["reason"] and "abortOnFail" in fx["reason"]
    assert fx["durationSeconds"] < 15
    assert threshold(fx, "payments_flow_success_rate", "rate>0.98")["ok"] is False
    scheduled_full = 30 * 4  # payments_flow: 4/s for 30 s
    assert fx["scenarios"]["payments_flow"]["started"] < scheduled_full / 2
    if workers:
        assert fx["workers"]["count"] == workers
        # the master quit its workers: their processes ended (LocustRun.wait checks it, bounded)
        assert all(w.popen.returncode is not None for w in run.workers)
    assert_no_secrets(run, sim)


# ----------------------------------------------------------------------------------------- SIGINT/SIGTERM


@pytest.mark.parametrize(
    ("sig", "workers"),
    [
        (signal.SIGINT, 0),
        (signal.SIGTERM, 0),
        # SIGINT on a master: also covered by test_wrapper_signals (SIGINT to fixload run --workers 2)
        pytest.param(signal.SIGINT, 1, marks=pytest.mark.slow),
        (signal.SIGTERM, 2),
    ],
    ids=["SIGINT-local", "SIGTERM-local", "SIGINT-master", "SIGTERM-master"],
)
def test_signal_mid_run_exits_105_with_a_complete_summary(
    tmp_path: Path, make_simulator: Any, sig: signal.Signals, workers: int
) -> None:
    sim = make_simulator()
    run = start_locust(tmp_path, PASS, sim.base_url, sim.env, workers=workers)
    wait_for_traffic(sim, 120)
    run.send(sig)
    assert run.wait(30) == 105, run.output()[-3000:]
    data = assert_complete_summary(run)
    fx = data["fixload"]
    assert fx["status"] == "interrupted" and fx["exitCode"] == 105
    assert sig.name in fx["reason"]
    assert fx["durationSeconds"] < 11, "stopped mid-run, not at the end"
    # complete: the flows' requests on the simulator are in the summary (a request cut by the stop may be
    # seen by the server and never answered)
    sent = all_requests(sim)
    recorded = data["metrics"]["http_reqs"]["count"]
    assert sent - 25 <= recorded <= sent, (recorded, sent)
    assert data["metrics"]["iterations"]["count"] == sum(s["completed"] for s in fx["scenarios"].values())
    assert data["metrics"]["payments_flow_success_rate"]["thresholds"] == {"rate>0.98": False}
    assert "STATUS interrupted" in run.output()
    assert_no_secrets(run, sim)


def test_a_second_signal_exits_at_once_with_the_summary_of_what_was_counted(
    tmp_path: Path, make_simulator: Any
) -> None:
    """`--stop-timeout 30` and 5 s iterations: the first SIGINT lets the running ones finish; a second one
    meanwhile exits 105 at once (not when they end) and still writes the summary, which says why it is short."""
    sim = make_simulator()
    profile = tmp_path / "second-signal.json"
    scenario = {"executor": "constant-vus", "vus": 2, "duration": "30s"}
    profile.write_bytes(orjson.dumps({"profile": "second signal", "scenarios": {"analytics_flow": scenario}}))
    run = start_locust(
        tmp_path,
        profile,
        sim.base_url,
        sim.env,
        extra_args=["--stop-timeout", "30"],
        env={"FIXLOAD_TEST_SLEEP": '{"analytics_flow": 5.0}'},
        locustfile="tests/locustfiles/engine_users.py",
    )
    wait_for(lambda: all_requests(sim) >= 2, 30, "both VUs in their first iteration")
    run.send(signal.SIGINT)
    wait_for(lambda: "SIGINT received: stopping the run" in run.output(), 10, "the first signal handled")
    run.send(signal.SIGINT)
    second = time.monotonic()
    assert run.wait(10) == 105, run.output()[-3000:]
    assert time.monotonic() - second < 3, "it waited for the running iterations (5 s) after the second signal"
    fx = block(run)
    assert fx["status"] == "interrupted" and fx["exitCode"] == 105
    assert "a second SIGINT: exited at once" in fx["reason"], fx["reason"]
    counts = fx["scenarios"]["analytics_flow"]
    assert counts["started"] >= 2 and counts["interrupted"] >= 1, counts
    assert counts["completed"] + counts["interrupted"] == counts["started"], counts
    assert "STATUS interrupted" in run.output()


# ------------------------------------------------------------------------------- target down, setup failed


def test_dead_target_fails_setup_with_107_and_sends_nothing(tmp_path: Path, make_simulator: Any) -> None:
    """Nothing listens on the base URL: the first setup call (list zones) cannot connect, so setup failure
    applies first (k6: an exception in setup() → 107), with the step and the connection error named."""
    sim = make_simulator()  # only for its identities and tokens; the target is a dead port
    url = dead_url()
    run = start_locust(tmp_path, TINY, url, {**sim.env, "K6_BASE_URL": url})
    assert run.wait(60) == 107, run.output()[-3000:]
    fx = block(run)
    assert fx["status"] == "setup_failed" and fx["exitCode"] == 107
    assert "list zones" in fx["reason"] and "status 0" in fx["reason"]
    assert sum(s["started"] for s in fx["scenarios"].values()) == 0
    assert "STATUS setup_failed" in run.output()
    assert sim.stats()["total"]["count"] == 0
    assert_no_secrets(run, sim)


def test_dead_target_with_fixtures_given_is_target_unreachable(tmp_path: Path, make_simulator: Any) -> None:
    """The fixture IDs come from the environment (no setup call): the flows run and never connect →
    `target_unreachable`, exit 1, the reason says so."""
    sim = make_simulator()
    url = dead_url()
    ids = {"K6_ZONE_ID": "z-1", "K6_SERVICE_ID": "s-1", "K6_CAMPAIGN_ID": "c-1", "K6_BASE_URL": url}
    run = start_locust(tmp_path, TINY, url, {**sim.env, **ids})
    assert run.wait(60) == 1, run.output()[-3000:]
    data = run.summary()
    fx = data["fixload"]
    assert fx["status"] == "target_unreachable" and fx["exitCode"] == 1
    assert "target unreachable" in fx["reason"] and "no" in fx["reason"]
    assert data["metrics"]["http_reqs"]["count"] > 0
    assert data["metrics"]["http_req_failed"]["value"] == 1
    assert_no_secrets(run, sim)


@pytest.mark.parametrize("workers", [0, 1], ids=["local", "master-1-worker"])
def test_setup_failure_exits_107_names_the_step_and_sends_no_flow_traffic(
    tmp_path: Path, make_simulator: Any, workers: int
) -> None:
    sim = make_simulator(faults=[{"route": "/api/zones", "method": "POST", "error_rate": 1.0, "status": 500}])
    run = start_locust(tmp_path, PASS, sim.base_url, sim.env, workers=workers)
    assert run.wait(60) == 107, run.output()[-3000:]
    fx = block(run)
    assert fx["status"] == "setup_failed" and fx["exitCode"] == 107
    assert "create zone" in fx["reason"] and "500" in fx["reason"]
    assert run.wall < 30
    routes = sim.stats()["routes"]
    assert set(routes) == {"GET /api/zones", "POST /api/zones"}, "no flow request may follow a failed setup"
    assert_no_secrets(run, sim)


# ---------------------------------------------------------------------------------------- 104 before traffic


def _profile_with(tmp_path: Path, change: Any) -> Path:
    data = orjson.loads((REPO / "tests" / "profiles" / TINY).read_bytes())
    change(data)
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(data))
    return path


def _set_threshold(key: str, value: Any) -> Any:
    return lambda d: d["thresholds"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "env_drop", "expected"),
    [
        (_set_threshold("http_req_duration", ["p(95)<<1"]), None, ['thresholds["http_req_duration"][0]', "p(95)<<1"]),
        (_set_threshold("http_reqs", ["p(95)<1"]), None, ["p(95)", "counter", "http_reqs"]),
        (
            _set_threshold("http_req_duratoin", ["p(95)<1"]),
            None,
            ["http_req_duratoin", "did you mean", "http_req_duration"],
        ),
        (None, "K6_ADMIN_TOKEN", ["K6_ADMIN_TOKEN"]),
    ],
    ids=["malformed", "aggregation-type-lacks", "unknown-metric", "missing-required-env"],
)
def test_invalid_config_exits_104_before_any_traffic(
    tmp_path: Path, simulator: SimulatorProcess, change: Any, env_drop: str | None, expected: list[str]
) -> None:
    profile = _profile_with(tmp_path, change) if change else REPO / "tests" / "profiles" / TINY
    env = {k: v for k, v in simulator.env.items() if k != env_drop}
    before = simulator.stats()["total"]["count"]
    run = start_locust(tmp_path, profile, simulator.base_url, env)
    assert run.wait(30) == 104, run.output()[-3000:]
    err = run.main.err.read_text()
    for text in expected:
        assert text in err, (text, err[-2000:])
    assert "Traceback" not in err
    assert not run.summary_path.exists()
    assert simulator.stats()["total"]["count"] == before, "nothing may be sent before the config is valid"
    for value in secret_values(simulator):
        assert value not in run.output()
