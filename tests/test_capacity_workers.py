"""`fixload capacity --workers 2` in the default set: one real distributed step, a master and two worker
processes sending to a capacity-limited simulator on 127.0.0.1, judged as a search judges it.

The fast twin of tests/test_capacity.py's slow drill (a whole distributed search, compared with a local one).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fixload.simulator.process import SimulatorProcess
from tests.test_capacity import CAPACITY_RULE, SHORT, capacity_env, fixload


@pytest.mark.timeout(120)
def test_one_step_over_two_workers_judged_from_the_masters_count(tmp_path: Path) -> None:
    """One step at ×0.1 (well below the knee) over a master and two workers: both workers took part and none
    was lost, the master's summary counts every request both sent (the scenarios' requests are the window's),
    and the step is sustainable, the late rows of a master's time series (REPORT_LAG_S) no false alarm.
    Was: Locust's dispatch gave one worker none of ads_flow's 4 VUs (and of payments_flow's 3), and it
    dropped every start of its share (fixload.runtime.dispatch)."""
    out, kept = tmp_path / "cap.json", tmp_path / "steps"
    args = ["--profile", str(SHORT), "--start", "0.1", "--max", "0.1", "--warmup", "0", "--step", "2s"]
    with SimulatorProcess(extra_args=["--fault", orjson.dumps(CAPACITY_RULE).decode()]) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        result = fixload(
            *args, "--workers", "2", "--summary", str(out), "--keep-steps", str(kept), env=capacity_env(sim), timeout=90
        )
        served = sim.stats()["capacity"][0]["served"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    block = orjson.loads(out.read_bytes())["fixload"]["capacity"]
    assert block["workers"] == 2 and block["limitedBy"] is None and len(block["steps"]) == 1
    step = block["steps"][0]
    assert step["sustainable"] and step["reasons"] == [] and block["sustainable"]["multiplier"] == 0.1
    summary = orjson.loads((kept / "step-1.json").read_bytes())
    assert summary["fixload"]["workers"] == {"count": 2, "lost": 0}
    for name, scenario in step["scenarios"].items():
        assert scenario["dropped"] == 0, (name, scenario)
    booking = step["scenarios"]["booking_flow"]
    assert booking["scheduled"] and booking["completed"] == booking["scheduled"] and booking["dropped"] == 0
    assert booking["achieved"] == pytest.approx(3.6, rel=0.25)  # 36 it/s × 0.1
    assert sum(s["requests"] for s in step["scenarios"].values()) == round(step["requestsPerSecond"] * 2)
    assert summary["metrics"]["http_reqs"]["count"] == round(step["requestsPerSecond"] * 2) <= served
    assert "sustainable up to ×0.1" in result.stdout
