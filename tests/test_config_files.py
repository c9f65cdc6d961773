"""`fixload run` reads Locust's configuration files as `locust` does (issue 26 point 6): one `locust.conf`
through plain `locust` and through `fixload run` gives the same profile, summary path and target, and the
command line wins. `--show-config` says which file set what. Before, `fixload run` ran its default profile
against its embedded simulator and wrote its default summary path, honouring only the keys Locust reads itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.surfacekit import REPO, child_env

TINY = REPO / "tests" / "profiles" / "exitcodes-tiny.json"


def _conf(directory: Path, host: str | None = None) -> Path:
    lines = [
        f"locustfile = {REPO / 'locustfiles'}",
        f"profile = {TINY}",
        f"summary = {directory / 'from-conf.json'}",
        f"env-file = {directory / 'conf.env'}",
        *([f"host = {host}"] if host else []),
        "run-time = 2s",
        "headless = true",
        "only-summary = true",
    ]
    (directory / "conf.env").write_text("FIXLOAD_CONF_TEST=1\n")
    path = directory / "locust.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _env(simulator, base_url: bool = True) -> dict[str, str]:
    """The simulator's identities and tokens; without `base_url`, no K6_BASE_URL (the conf's host is the target)."""
    env = child_env({k: v for k, v in simulator.env.items() if base_url or k != "K6_BASE_URL"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run(argv: list[str], directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=directory, env=env, capture_output=True, text=True, timeout=120)


def _summary(directory: Path) -> dict:
    path = directory / "from-conf.json"
    assert path.exists(), "no summary at the conf's path"
    data = orjson.loads(path.read_bytes())["fixload"]
    path.unlink()
    return data


def test_the_same_conf_through_locust_and_fixload_run(simulator, tmp_path):
    _conf(tmp_path)
    env = _env(simulator)
    seen = {}
    for tool, argv in (
        ("locust", [sys.executable, "-m", "locust"]),
        ("fixload run", [sys.executable, "-m", "fixload", "run"]),
    ):
        done = _run(argv, tmp_path, env)
        assert done.returncode in (0, 99), f"{tool}: {done.returncode}\n{done.stderr[-3000:]}"
        assert "embedded simulator" not in done.stderr, tool
        seen[tool] = _summary(tmp_path)
    for key in ("profile", "target"):
        assert seen["locust"][key] == seen["fixload run"][key], key
    assert seen["fixload run"]["profile"] == orjson.loads(TINY.read_bytes())["profile"]
    assert seen["fixload run"]["target"] == simulator.base_url


@pytest.mark.slow
def test_a_conf_host_is_fixload_runs_target(simulator, tmp_path):
    """Without K6_BASE_URL, the conf's host is the target (before: the embedded simulator, the host ignored)."""
    _conf(tmp_path, simulator.base_url)
    simulator.reset_stats()
    done = _run([sys.executable, "-m", "fixload", "run"], tmp_path, _env(simulator, base_url=False))
    assert done.returncode in (0, 99), done.stderr[-3000:]
    assert "embedded simulator" not in done.stderr
    assert _summary(tmp_path)["target"] == simulator.base_url
    assert int(simulator.stats()["total"]["count"]) > 0


def test_show_config_says_which_file_set_what_and_the_command_line_wins(simulator, tmp_path):
    _conf(tmp_path, simulator.base_url)
    other = str(REPO / "profiles" / "baseline-short.json")
    done = _run(
        [sys.executable, "-m", "fixload", "run", "--show-config", "--profile", other],
        tmp_path,
        _env(simulator, base_url=False),
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split(" = ")[0].strip(): line for line in done.stdout.splitlines() if " = " in line}
    assert "locust.conf: command line wins" in lines["profile"]
    assert "locust.conf: used" in lines["summary"] and "locust.conf: used" in lines["env-file"]
    assert "locust.conf: target" in lines["host"] and "locust.conf: used" in lines["run-time"]
    assert "read by Locust itself" in lines["headless"]
