"""The web UI's pure parts: reading the start form, the Host rule, units on observed values, the "now"
columns after a stop, the chart CSS kept to the panel, and the browser policy: CI fails without a browser
(the tests and .ci/run), a developer's machine skips. (The page itself: tests/test_webui.py.)"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from werkzeug.datastructures import ImmutableMultiDict

from fixload.surfaces.webui import (
    CHART_CSS,
    NOT_NOW,
    FormError,
    StartForm,
    check_host,
    observed_text,
    same_target,
    scenario_rows,
)
from tests.surfacekit import REPO


def test_blank_fields_are_not_set():
    form = ImmutableMultiDict({"profile": " ", "multiplier": "", "env_file": "", "summary": "", "host": ""})
    assert StartForm.parse(form) == StartForm(profile=None, multiplier=None, env_file=None, summary="", host=None)
    filled = ImmutableMultiDict({"profile": "p.json", "multiplier": " 2 ", "env_file": "a.env", "host": "http://x"})
    assert StartForm.parse(filled) == StartForm("p.json", "2", "a.env", "", "http://x")


def test_fields_not_sent_keep_their_value():
    """A script's POST /swarm without fixload's fields keeps what the command line gave; blank still clears."""
    from types import SimpleNamespace

    current = SimpleNamespace(profile="p.json", multiplier="1.5", env_file="staging.env", summary="s.json")
    assert StartForm.parse(ImmutableMultiDict({}), current) == StartForm("p.json", "1.5", "staging.env", "s.json", None)
    blank = ImmutableMultiDict({"env_file": "", "multiplier": ""})
    assert StartForm.parse(blank, current) == StartForm("p.json", None, None, "s.json", None)


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("http://127.0.0.1:4000", "http://127.0.0.1:4000"),
        ("http://127.0.0.1:4000/", "http://127.0.0.1:4000"),
        ("HTTP://LocalHost:4000", "http://localhost:4000"),
        ("https://staging.example", "https://staging.example:443/"),
    ],
)
def test_the_same_target_written_differently(host, target):
    assert same_target(host, target)
    assert check_host(host, target, allow_override=False) == host


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:4001", "https://127.0.0.1:4000", "http://evil.example", "http://127.0.0.1:x"]
)
def test_another_host_is_refused_unless_allowed(host):
    target = "http://127.0.0.1:4000"
    with pytest.raises(FormError, match=r"Host: .* is not the configured target http://127.0.0.1:4000.*allow-host"):
        check_host(host, target, allow_override=False)
    assert check_host(host, target, allow_override=True) == host
    assert check_host(None, target, allow_override=False) == target  # blank: the target


@pytest.mark.parametrize(
    ("threshold", "shown"),
    [
        ({"observed": 812.3, "aggregation": "p(95)", "metricType": "trend", "contains": "time"}, "812.30ms"),
        ({"observed": 0.0123, "aggregation": "rate", "metricType": "rate", "contains": "default"}, "1.23%"),
        ({"observed": 4.5, "aggregation": "rate", "metricType": "counter", "contains": "default"}, "4.5/s"),
        ({"observed": 2048.0, "aggregation": "avg", "metricType": "trend", "contains": "data"}, "2048B"),
        ({"observed": None, "aggregation": "p(95)", "metricType": "trend", "contains": "time"}, NOT_NOW),
    ],
)
def test_observed_values_carry_their_unit(threshold, shown):
    assert observed_text(threshold) == shown


def _scenario(**extra):
    base = {
        "name": "payments_flow",
        "executor": "constant-arrival-rate",
        "targetRate": 6.0,
        "targetRateWindow": 6.0,
        "achievedRate": 5.9,
        "vusBusy": 3,
        "vusAllocated": 18,
        "vusMax": 30,
        "scheduled": 70,
        "started": 70,
        "dropped": 0,
        "completed": 68,
        "p95Ms": 12.5,
    }
    return {**base, **extra}


def test_now_columns_are_blank_once_stopped():
    running = scenario_rows({"state": "running", "scenarios": [_scenario()]})[0]
    assert (running["target_rate"], running["achieved_rate"], running["vus"]) == ("6.00", "5.90", "3 / 18 / 30")
    stopped = scenario_rows({"state": "stopped", "scenarios": [_scenario()]})[0]
    assert [stopped[k] for k in ("target_rate", "target_window", "achieved_rate", "p95")] == [NOT_NOW] * 4
    assert stopped["vus"] == "— / — / 30" and (stopped["started"], stopped["completed"]) == (70, 68)


def test_the_report_css_is_kept_to_the_chart_panel():
    rules = [line for line in CHART_CSS.splitlines() if line]
    assert rules and all(line.startswith("#fixload-charts ") for line in rules)
    assert not any(line.split("{")[0].strip().endswith((" body", " h1", " h2")) for line in rules)


def test_no_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    from tests import surfacekit

    monkeypatch.setattr(surfacekit.shutil, "which", lambda _name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so this fails instead of skipping"):
        surfacekit.require_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        surfacekit.require_browser()


def test_ci_stops_when_chromium_cannot_be_installed(tmp_path):
    """`.ci/run` on a machine with no browser and no apt-get: it fails there, before any test runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "dirname", "id"):  # just enough to run the scripts; no chromium, no apt-get
        (bin_dir / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(
        [str(REPO / ".ci" / "run")], env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1, done.stderr
    assert "install-browser: no apt-get here" in done.stderr and "ci: could not install Chromium" in done.stderr


def test_the_banner_follows_the_lifecycle():
    from datetime import UTC, datetime

    from locust.env import Environment

    from fixload.runtime.lifecycle import HaltReason, State
    from fixload.runtime.state import Runtime
    from fixload.surfaces.webui import run_phase

    environment = Environment()
    run = Runtime(environment)
    lifecycle = run.lifecycle
    lifecycle.to(State.CONFIGURED)
    assert run_phase(run) == {"phase": "ready"}
    run.refused = "--multiplier: expected a positive number, got 0.0"
    assert run_phase(run) == {"phase": "refused", "message": run.refused}
    run.refused = ""
    lifecycle.started_at = datetime.now(UTC)
    lifecycle.to(State.PROVISIONING)
    assert run_phase(run) == {"phase": "provisioning"}
    lifecycle.stop_sending(HaltReason.SETUP_FAILED, "[setup] create zone (POST /api/zones) — status 500")
    assert run_phase(run)["phase"] == "halting" and run_phase(run)["reason"] == "setup-failed"
    lifecycle.to(State.FINALIZING)
    assert run_phase(run) == {"phase": "finalizing"}
    lifecycle.summary = {"fixload": {"status": "setup_failed", "exitCode": 107, "reason": "setup failed: ..."}}
    lifecycle.to(State.DONE)
    assert run_phase(run) == {
        "phase": "stopped",
        "status": "setup_failed",
        "verdict": "setup failed",
        "exitCode": 107,
        "reason": "setup failed: ...",
        "warning": "",
        "vusWarnings": [],
        "summary": "/fixload/summary.json",
    }
    short = {"insufficientVUs": {"maxVUs": 2, "dropped": 17, "neededMaxVUs": 5}}
    lifecycle.summary["fixload"]["scenarios"] = {"ads_flow": {}, "booking_flow": short}
    assert run_phase(run)["vusWarnings"] == [
        "WARN Insufficient VUs, reached 2 active VUs and cannot initialize more  scenario=booking_flow: 17 "
        "iterations dropped; maxVUs 5 would have started them"
    ]


def test_refusals_name_the_form_field_not_the_flag():
    from fixload.surfaces.webui import form_wording

    assert form_wording("--multiplier: expected a positive number, got 0.0") == (
        "Multiplier: expected a positive number, got 0.0"
    )
    assert form_wording("--env-file /x.env: no such file") == "Env file /x.env: no such file"
    assert (
        form_wording("K6_LOAD_MULTIPLIER: expected a positive number")
        == "K6_LOAD_MULTIPLIER: expected a positive number"
    )
    assert form_wording("--summary-export and --profile") == "--summary-export and Profile"


@pytest.mark.parametrize(
    ("locust_state", "shown"),
    [("cleanup", "running"), ("stopping", "running"), ("running", "running"), ("stopped", "stopped")],
)
def test_the_page_keeps_polling_until_the_runner_has_stopped(locust_state, shown):
    """Locust's page polls /stats/requests only while it reads spawning/running and shows NEW only on stopped:
    a test ending (cleanup, stopping) is answered as running, so its next poll reads stopped."""
    from locust.env import Environment

    from fixload.runtime.live import Live
    from fixload.runtime.state import Runtime
    from fixload.surfaces.webui import page_stats

    environment = Environment()
    environment.create_local_runner()
    data = {"state": locust_state, "user_count": 3}
    page_stats(Live(Runtime.standalone(environment)), data, {"state": "ready", "scenarios": []})
    assert data["state"] == shown and data["locust_state"] == locust_state


def test_a_starting_test_is_not_ready():
    """START puts Locust's runner back to `ready` until the shape's first spawn: the page must not read `ready`."""
    from locust.env import Environment

    from fixload.runtime.lifecycle import State
    from fixload.runtime.live import Live
    from fixload.runtime.state import Runtime
    from fixload.surfaces.webui import page_stats

    environment = Environment()
    environment.create_local_runner()
    live = Live(Runtime.standalone(environment))
    lifecycle = live.runtime.lifecycle
    lifecycle.to(State.CONFIGURED)
    idle = {"state": "ready"}
    page_stats(live, idle, {"state": "ready", "scenarios": []})
    assert idle["state"] == "ready"
    lifecycle.to(State.PROVISIONING)
    starting = {"state": "ready"}
    page_stats(live, starting, {"state": "ready", "scenarios": []})
    assert starting["state"] == "spawning"
