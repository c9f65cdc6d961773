"""One way to end a run (issue 24): the wrapper's fallback summary and Locust's own end come from one builder.

The same profile is ended twice with nothing counted: once by `fixload run`'s fallback (a run Locust never
summarised) and once by Locust itself (`-t` stops it before any scenario is due). What depends on the counts
(every scenario's rollup) and on the thresholds (which are listed, their verdicts) must be the same in both;
only what depends on the clock (how long the scenario had run) may differ.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from fixload.cli import run as runner
from fixload.profile.validation import validate_run
from tests.enginekit import LOCUSTFILE, REPO, locust_env

PROFILE = {
    "profile": "nothing due before the stop",
    "scenarios": {
        "payments_flow": {
            "executor": "constant-arrival-rate",
            "rate": 5,
            "timeUnit": "1s",
            "duration": "10s",
            "preAllocatedVUs": 2,
            "maxVUs": 4,
            "startTime": "10m",
        },
        "analytics_flow": {"executor": "per-vu-iterations", "vus": 2, "iterations": 3, "startTime": "10m"},
    },
    "thresholds": {"http_req_failed": ["rate<0.01"], "iteration_duration{scenario:payments_flow}": ["p(95)<500"]},
}
CLOCK_FIELDS = ("durationSeconds", "achievedRate", "requestRate")
"""What depends on how long the run lasted, which a wrapper that could not run Locust does not know."""


def _comparable(summary: dict) -> tuple[dict, list]:
    scenarios = {
        name: {k: v for k, v in rollup.items() if k not in CLOCK_FIELDS}
        for name, rollup in summary["fixload"]["scenarios"].items()
    }
    thresholds = [(t["metric"], t["expression"], t["ok"], t["observed"]) for t in summary["fixload"]["thresholds"]]
    return scenarios, thresholds


def test_the_wrapper_and_locust_end_a_run_with_the_same_summary(tmp_path: Path, simulator) -> None:
    profile = tmp_path / "profile.json"
    profile.write_bytes(orjson.dumps(PROFILE))

    # the wrapper's fallback, as `fixload run` writes it when Locust could not
    verdict = validate_run(profile, locustfile=str(LOCUSTFILE), simulator=False, process_env=simulator.env)
    assert verdict.ok, verdict.message()
    assert verdict.config is not None
    wrapper_path = tmp_path / "wrapper.json"
    runner.Outcome(verdict.config, str(wrapper_path), simulator.base_url).write("interrupted", "stopped")
    wrapper = orjson.loads(wrapper_path.read_bytes())

    # Locust's own end: stopped by -t before any scenario was due
    locust_path = tmp_path / "locust.json"
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-H", simulator.base_url]
    command += ["--profile", str(profile), "--summary", str(locust_path), "--only-summary", "-t", "1s"]
    done = subprocess.run(command, cwd=REPO, env=locust_env(simulator), capture_output=True, text=True, timeout=60)
    assert locust_path.exists(), done.stderr[-3000:]
    locust = orjson.loads(locust_path.read_bytes())

    assert _comparable(wrapper) == _comparable(locust)
    assert wrapper["fixload"]["scenarios"]["analytics_flow"]["scheduled"] == 6  # 2 VUs x 3 iterations, planned
    assert wrapper["fixload"]["scenarios"]["payments_flow"]["scheduled"] == 0  # none was due
