"""Locust and k6 habits on `fixload run` and friends (issue 13): -t/--run-time with a profile, every fixload
option accepted by the wrapper and listed in its --help, what `locust --help` cannot show, closed pipes.

All real subprocesses: the command line is what is under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.surfacekit import SHORT_PROFILE

ROOT = Path(__file__).resolve().parents[1]
FIXLOAD = [sys.executable, "-m", "fixload"]
PLUGIN_OPTIONS = ("--html-report", "--junit", "--prometheus-port", "--progress-interval", "--summary", "--multiplier")
SIX = {
    "K6_COMPANY_ID": "c",
    "K6_PROVIDER_ID": "p",
    "K6_CUSTOMER_ID": "u",
    "K6_USER_TOKEN": "t1",
    "K6_PROVIDER_TOKEN": "t2",
    "K6_ADMIN_TOKEN": "t3",
}


def fixload(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FIXLOAD, *args], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, **kwargs
    )


def test_fixload_run_help_lists_every_fixload_option_and_says_where_locust_help_falls_short() -> None:
    shown = fixload("run", "--help", timeout=60)
    assert shown.returncode == 0, shown.stderr
    for option in (*PLUGIN_OPTIONS, "--run-time", "--workers", "--ui"):
        assert option in shown.stdout, option
    top = fixload("--help", timeout=60)
    for text in (shown.stdout, top.stdout):
        assert "`locust --help` cannot show fixload's options" in " ".join(text.split())


def test_fixload_run_passes_the_plugin_options_to_locust_as_given() -> None:
    """The wrapper's parser has the plugin's own options (read from Locust's parser): they reach Locust's
    command line as typed, and a bad value is refused by the wrapper before anything starts."""
    code = (
        "import sys; from fixload.cli import main as cli, run as runner; "
        "args = cli.build_parser('run').parse_args(sys.argv[1:]); "
        "print('\\n'.join(runner.locust_command(args, 'p.json', 's.json', 'http://127.0.0.1:1')))"
    )
    given = ["--html-report", "r.html", "--junit", "j.xml", "--prometheus-port", "9646", "--progress-interval", "2.5"]
    shown = subprocess.run(
        [sys.executable, "-c", code, "run", "-t", "20s", *given], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    command = shown.stdout.split("\n")
    for flag, value in zip(given[::2], given[1::2], strict=True):
        assert command[command.index(flag) + 1] == value, (flag, command)
    assert command[command.index("--run-time") + 1] == "20s"
    bad = fixload("run", "--prometheus-port", "many", timeout=60)
    assert bad.returncode == 2 and "--prometheus-port" in bad.stderr and "invalid int value" in bad.stderr


def test_a_bad_run_time_is_bad_input_and_sends_nothing() -> None:
    shown = fixload("run", "--profile", str(SHORT_PROFILE), "-t", "soon", env=SIX, timeout=60)
    assert shown.returncode == 104, shown.stderr
    assert "--run-time" in shown.stderr and "soon" in shown.stderr
    assert "simulator" not in shown.stderr  # refused before anything started


def test_a_closed_pipe_ends_quietly() -> None:
    """`fixload validate ... | head`: the reader leaves; no BrokenPipeError traceback, exit 0."""
    proc = subprocess.Popen(
        [*FIXLOAD, "validate", "--profile", str(SHORT_PROFILE), "--json"],
        cwd=ROOT,
        env={**os.environ, **SIX},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write
    stderr = proc.stderr.read().decode()
    assert proc.wait(60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


@pytest.mark.slow  # 20 s of load, the brief's own case
@pytest.mark.timeout(120)
def test_run_time_stops_baseline_short_at_20s_with_a_complete_summary(tmp_path: Path, make_simulator: Any) -> None:
    target = make_simulator()
    summary = tmp_path / "summary.json"
    shown = fixload(
        "run", "--profile", str(SHORT_PROFILE), "-t", "20s", "--summary", str(summary), env=target.env, timeout=100
    )
    data = orjson.loads(summary.read_bytes())
    fx = data["fixload"]
    assert shown.returncode == fx["exitCode"] and fx["exitCode"] in (0, 99), shown.stderr[-3000:]
    assert fx["stopped"] == "run-time" and "stopped: run-time" in fx["reason"]
    assert fx["status"] in ("passed", "thresholds_failed")  # the verdict is by thresholds, not "interrupted"
    assert 20 <= fx["durationSeconds"] < 23, fx["durationSeconds"]
    assert set(fx["scenarios"]) == {"booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}
    for name, rollup in fx["scenarios"].items():
        assert rollup["started"] > 0, (name, rollup)
    assert data["metrics"]["http_reqs"]["count"] > 0
    assert "stopped: run-time" in shown.stderr
    assert "will be ignored: --run-time" not in shown.stderr  # Locust's warning: fixload honours it
