"""The issue-27 drill end to end (slow: ~5 minutes): real runs against one simulator, compared by `fixload compare`.

scripts/compare_drill.py runs, back to back, an A/A pair, an A/B pair with booking_flow's latencies +30 %, one
with +3 %, and a run at multiplier 2. The fast twins are tests/test_compare_stats.py's synthetic runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_drill_a_a_is_noise_a_b_is_a_regression_and_multipliers_differ(tmp_path):
    argv = [sys.executable, str(ROOT / "scripts" / "compare_drill.py"), str(tmp_path / "drill"), "--pairs", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    codes = ast.literal_eval(done.stdout.rsplit("exit codes: ", 1)[1].strip())
    assert codes == {
        "aa1": 0,
        "ab30-1": 99,
        "ab3-1": 0,
        "multiplier": 104,
        "multiplier-allowed": 0,
    }, done.stdout[-6000:]
    regression = (tmp_path / "drill" / "ab30-1.txt").read_text()
    assert "booking_flow p95 " in regression and " — regression (budget +10 %" in regression
    flagged = [line for line in regression.splitlines() if " — regression" in line]
    assert all(line.strip().startswith(("booking_flow ", "overall ")) for line in flagged), flagged
    assert "multiplier (1 vs 2)" in (tmp_path / "drill" / "multiplier.txt").read_text()
