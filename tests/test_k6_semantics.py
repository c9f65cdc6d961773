"""k6's tag and env semantics on real flows: a scenario's `tags` on every sample of it (HTTP, checks, the flow's
metrics, iterations), its `env` visible to the flow, a selector that matched nothing reported as NO SAMPLES
everywhere, k6's insufficient-VUs warning for dropped iterations, and a JUnit `run` case that fails whenever
the run did not pass."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest

from fixload.simulator.process import SimulatorProcess

ROOT = Path(__file__).resolve().parents[1]


def test_scenario_env_is_the_flows_environment(simulator):
    from locustfiles.analytics import AnalyticsUser
    from tests.flowkit import make_config, make_user

    config = make_config(simulator, env={"FIXLOAD_ONLY_GLOBAL": "g", "FIXLOAD_BOTH": "global"})
    options = config.plan.scenarios["analytics_flow"].scenario
    scenario = options.model_copy(update={"env": {"FIXLOAD_BOTH": "scenario", "FIXLOAD_AUTH": "strict"}})
    plans = dict(config.plan.scenarios)
    plans["analytics_flow"] = type(plans["analytics_flow"])(
        **{**plans["analytics_flow"].__dict__, "scenario": scenario}
    )
    plan = type(config.plan)(**{**config.plan.__dict__, "scenarios": plans})
    user = make_user(AnalyticsUser, type(config)(plan=plan, target=config.target, env=config.env), {})
    assert user.env["FIXLOAD_ONLY_GLOBAL"] == "g"
    assert user.env["FIXLOAD_BOTH"] == "scenario"  # the scenario's env over the run's, as k6's __ENV
    assert user.strict_auth  # the flow reads its own variables through the same mapping


pytestmark_run = pytest.mark.slow  # the tagged run: ~10 s of real Locust (scripts/test --slow)


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory, simulator: SimulatorProcess):
    """One headless run: analytics (1 VU) and payments (an arrival rate one VU cannot keep up with), both tagged
    team:x, with thresholds on the tag, on a misspelt tag value, and a failing one."""
    directory = tmp_path_factory.mktemp("tagged")
    profile = {
        "settings": {"defaultSleepSeconds": 0, "payments": {"sleepSeconds": 0}, "analytics": {"sleepSeconds": 0}},
        "scenarios": {
            "analytics_flow": {"executor": "constant-vus", "vus": 1, "duration": "2s", "tags": {"team": "x"}},
            "payments_flow": {
                "executor": "constant-arrival-rate", "rate": 400, "timeUnit": "1s", "duration": "2s",
                "preAllocatedVUs": 1, "maxVUs": 1, "tags": {"team": "x", "tier": "gold"},
            },
        },
        "thresholds": {
            "http_req_duration{team:x}": ["p(95)<60000"],
            "http_req_duration{team:typo}": ["p(95)<60000"],
            "checks{team:x}": ["rate>=0"],
            "analytics_flow_duration{team:x}": ["p(95)<60000"],
            "payments_flow_success_rate{tier:gold}": ["rate>=0"],
            "iterations{team:x}": ["count>0"],
            "http_reqs{team:x}": ["count<1"],
        },
    }  # fmt: skip
    path = directory / "tagged.json"
    path.write_bytes(orjson.dumps(profile))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    env |= simulator.env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    summary, junit = directory / "summary.json", directory / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles"), "--headless", "--profile", str(path),
         "-H", simulator.base_url, "--summary", str(summary), "--junit", str(junit)],
        cwd=directory, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done, orjson.loads(summary.read_bytes()), ET.parse(junit).getroot()


def _result(summary: dict, key: str) -> dict:
    return next(t for t in summary["fixload"]["thresholds"] if t["metric"] == key)


@pytestmark_run
def test_scenario_tags_reach_every_sample(tagged_run):
    done, summary, _ = tagged_run
    assert done.returncode == 99, done.stderr[-3000:]  # http_reqs{team:x} count<1 fails, on purpose
    for key in (
        "http_req_duration{team:x}",
        "checks{team:x}",
        "analytics_flow_duration{team:x}",
        "payments_flow_success_rate{tier:gold}",
        "iterations{team:x}",
    ):
        result = _result(summary, key)
        assert not result["noSamples"] and result["observed"] is not None, result
    assert _result(summary, "http_reqs{team:x}")["observed"] > 10


@pytestmark_run
def test_a_misspelt_selector_is_flagged_no_samples_everywhere(tagged_run):
    done, summary, junit = tagged_run
    typo = _result(summary, "http_req_duration{team:typo}")
    assert typo["noSamples"] and typo["ok"]  # k6's pass rule is kept...
    assert summary["fixload"]["thresholdsWithoutSamples"] == ["http_req_duration{team:typo}"]
    # ...and it is said loudly: the console, and the JUnit case
    assert "NO SAMPLES: no series matched http_req_duration{team:typo}" in done.stderr
    assert "WARNING: 1 threshold selector(s) matched no samples: http_req_duration{team:typo}" in done.stderr
    case = next(c for c in junit.iter("testcase") if c.get("name", "").startswith("http_req_duration{team:typo}"))
    assert "NO SAMPLES" in case.find("system-out").text


@pytestmark_run
def test_dropped_iterations_get_k6s_insufficient_vus_warning_once(tagged_run):
    done, summary, _ = tagged_run
    payments = summary["fixload"]["scenarios"]["payments_flow"]
    assert payments["dropped"] > 0
    info = payments["insufficientVUs"]
    assert info["dropped"] == payments["dropped"] and info["maxVUs"] == 1 and info["neededMaxVUs"] > 1
    lines = [line for line in done.stderr.splitlines() if "Insufficient VUs" in line]
    assert len(lines) == 1 and "scenario=payments_flow" in lines[0], lines
    assert f"{payments['dropped']} iterations dropped" in lines[0]
    # the HTML report a CI job keeps says it too, in the same words
    from html import unescape

    from fixload.report.html import html_report

    assert lines[0].split("] ")[-1].strip() in unescape(html_report(summary))
    assert summary["fixload"]["scenarios"]["analytics_flow"].get("insufficientVUs") is None


@pytestmark_run
def test_junit_run_case_fails_when_the_status_is_not_passed(tagged_run):
    _, summary, junit = tagged_run
    assert summary["fixload"]["status"] == "thresholds_failed"
    run_case = next(c for c in junit.iter("testcase") if c.get("classname") == "fixload")
    assert run_case.find("failure") is not None


@pytestmark_run
def test_web_ui_thresholds_tab_says_no_samples_after_the_run(tagged_run):
    """The web UI's Thresholds tab shows the final summary's thresholds: a selector that matched nothing says so."""
    from fixload.runtime.live import summary_thresholds
    from fixload.surfaces.webui import threshold_rows

    _, summary, _ = tagged_run

    class _Env:  # what summary_thresholds reads: the runtime of an environment whose test has ended
        pass

    from fixload.runtime.state import Runtime

    run = Runtime(_Env())  # type: ignore[arg-type]
    run.lifecycle.summary = summary
    rows = {r["metric"]: r["result"] for r in threshold_rows({"thresholds": summary_thresholds(run)})}
    assert rows["http_req_duration{team:typo}"] == "⚠ NO SAMPLES (passes by k6's rule)"
    assert rows["http_req_duration{team:x}"] == "✓ pass"
