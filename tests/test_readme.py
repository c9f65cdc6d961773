"""The README's first two commands are the promise to a new user: they must keep working as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from fixload.profile.validation import load_run_config
from tests.surfacekit import scaled_profile

ROOT = Path(__file__).resolve().parents[1]


def _first_code_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "the README opens with a bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_opens_with_the_run_and_test_commands_and_ci_runs_the_second() -> None:
    run_command, test_command = _first_code_block()
    assert run_command == "pip install . && fixload run --profile profiles/baseline-short.json"
    assert test_command == "pip install -e '.[test]' && scripts/test"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


@pytest.mark.slow  # a minute of load; the same path at 12 s runs in the default suite (below)
def test_the_readme_run_passes_against_the_embedded_simulator(tmp_path: Path) -> None:
    """The README's first command as written: the simulator, the five flows, a clean pass, a summary."""
    check_fixload_run(ROOT / "profiles/baseline-short.json", tmp_path)


def test_fixload_run_without_a_target_runs_the_embedded_simulator(tmp_path: Path) -> None:
    """`fixload run` with no K6_* environment at all, on the short baseline scaled to 12 s at half its rates.

    The path is the README command's; its full rates are the slow test's above. Half the load keeps this
    twin's generator clear of a machine whose other core runs the other test shard's browsers: one CI run at
    full rate ended `thresholds_failed`, every flow's p95 at 1.2-1.8 s (15-22 ms alone)."""
    profile = scaled_profile(tmp_path, 5.0)
    data = orjson.loads(profile.read_bytes())
    data["settings"]["defaultMultiplier"] = 0.5
    profile.write_bytes(orjson.dumps(data))
    check_fixload_run(profile, tmp_path)


def check_fixload_run(profile: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    command = [sys.executable, "-m", "fixload", "run", "--profile", str(profile)]
    done = subprocess.run(
        [*command, "--summary", str(summary)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "embedded simulator" in output
    assert "STATUS passed" in output
    assert "eyJ" not in output, "a JWT reached the console"

    data = orjson.loads(summary.read_bytes())
    block = data["fixload"]
    assert block["status"] == "passed"
    assert data["metrics"]["http_req_failed"]["value"] == 0
    plan = load_run_config(profile, check_env=False).plan
    for name, scenario in plan.scenarios.items():
        rollup = block["scenarios"][name]
        assert rollup["successRate"] >= 0.99, (name, rollup)
        if scenario.is_arrival_rate:
            # every iteration of the k6 schedule started on time, none dropped
            assert rollup["started"] == rollup["scheduled"] == scenario.expected_iterations, (name, rollup)
            assert rollup["dropped"] == 0
        else:
            assert rollup["started"] > 0
    assert b"eyJ" not in summary.read_bytes()
    assert block["generator"]["fellBehind"] is False, block["generator"]
