"""`fixload run` as an operator uses it: a master with local workers, and Ctrl-C from the terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for
from tests.surfacekit import scaled_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # the same run as test_wrapper_signals' SIGINT test (default set), by process group
def test_ctrl_c_on_a_run_with_workers_writes_a_complete_summary(tmp_path: Path, simulator: SimulatorProcess) -> None:
    """The terminal's SIGINT reaches fixload run, the master and every worker at once. The workers quit
    first; the master must still write a summary with every scenario's counts, and exit 105."""
    summary = tmp_path / "summary.json"
    profile = scaled_profile(tmp_path, 2.0)  # 30 s: long enough to interrupt
    env = {**os.environ, **simulator.env}
    simulator.reset_stats()
    command = [sys.executable, "-m", "fixload", "run", "--workers", "2", "--profile", str(profile)]
    with open(tmp_path / "out.log", "wb") as out:
        proc = subprocess.Popen(
            [*command, "--summary", str(summary)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )
        try:
            wait_for(lambda: simulator.stats()["total"]["count"] > 600, 60, "load from both workers")
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    output = (tmp_path / "out.log").read_text()
    assert code == 105, output[-3000:]
    data = orjson.loads(summary.read_bytes())["fixload"]
    assert data["status"] == "interrupted" and "SIGINT" in data["reason"]
    assert data["workers"]["count"] == 2
    assert set(data["scenarios"]) == {"booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}
    for name, rollup in data["scenarios"].items():
        assert rollup["started"] > 0, name
        if rollup.get("scheduled") is not None and name != "analytics_flow":
            assert rollup["started"] + rollup["dropped"] == rollup["scheduled"], (name, rollup)
