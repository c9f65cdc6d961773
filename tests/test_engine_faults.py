"""The engine never hangs and never lies (issue 14): SIGTERM/SIGINT end an overloaded run with 105 and a
summary, and a crashed executor or shape ends the run aborted with exit 109 (k6 GoPanic), naming the component."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from enginekit import REPO, headless_argv, locust_env, server_counts, write_profile

from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for

CRASH_USERS = REPO / "tests" / "locustfiles" / "crash_users.py"
ENGINE_USERS = REPO / "tests" / "locustfiles" / "engine_users.py"


def _start(sim: SimulatorProcess, tmp_path: Path, scenarios: dict, locustfile: Path, **env: str):
    profile = write_profile(tmp_path / "p.json", scenarios, {"http_req_failed": ["rate<0.5"]})
    summary = tmp_path / "summary.json"
    cmd = headless_argv(sim, profile, summary, locustfile)
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=locust_env(sim, **env), stdout=subprocess.DEVNULL, stderr=err)
    return proc, summary, tmp_path / "stderr.txt"


OVERLOADED = {
    # every scenario at the bound's top rate with 5 VUs: 500000 starts/s asked of one process, so the
    # schedulers are behind from the first second and drop nearly everything
    name: {
        "executor": "constant-arrival-rate", "rate": 100000, "timeUnit": "1s", "duration": "60s",
        "preAllocatedVUs": 5, "maxVUs": 5,
    }
    for name in ("booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow")
}  # fmt: skip


@pytest.mark.parametrize(
    "signum",
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_ends_an_overloaded_run_with_105_and_a_summary(simulator, tmp_path, signum):
    simulator.reset_stats()
    proc, summary, err = _start(simulator, tmp_path, OVERLOADED, ENGINE_USERS)
    try:
        wait_for(lambda: server_counts(simulator)["payments_flow"] > 0, 30, "the first requests")
        time.sleep(2.0)  # let the scheduler fall far behind: the point of the drill, not a synchronisation
        sent = time.monotonic()
        proc.send_signal(signum)
        code = proc.wait(timeout=15)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"\n{signal.Signals(signum).name} → exit {code} in {took:.2f}s")
    assert code == 105, err.read_text()[-3000:]
    assert took < 5.0, f"{took:.1f}s from the signal to the exit"
    data = orjson.loads(summary.read_bytes())["fixload"]
    assert data["status"] == "interrupted"
    s = data["scenarios"]["payments_flow"]
    assert s["dropped"] > 0 and s["started"] + s["dropped"] == s["scheduled"], s


@pytest.mark.parametrize(
    ("crash", "component", "exception"),
    [
        ("executor", "executor payments_flow", "OverflowError: cannot convert float infinity to integer"),
        pytest.param("shape", "shape ProfileShape", "ZeroDivisionError: division by zero", marks=pytest.mark.slow),
    ],
)
def test_a_crash_aborts_the_run_with_109_naming_the_component(simulator, tmp_path, crash, component, exception):
    scenarios = {
        "payments_flow": {
            "executor": "constant-arrival-rate", "rate": 20, "timeUnit": "1s", "duration": "20s",
            "preAllocatedVUs": 2, "maxVUs": 2,
        }
    }  # fmt: skip
    proc, summary, err = _start(simulator, tmp_path, scenarios, CRASH_USERS, FIXLOAD_TEST_CRASH=crash)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 109, err.read_text()[-3000:]
    data = orjson.loads(summary.read_bytes())["fixload"]
    assert data["status"] == "aborted" and data["exitCode"] == 109
    assert data["reason"] == f"engine error in {component}: {exception}", data["reason"]
    assert f"engine error in {component}" in err.read_text()
