"""Whether the limit was the generator: a run whose generator fell behind says so beside its verdict.

A CI run of the README's fast twin once ended `thresholds_failed` with every flow's p95 at 1.2-1.8 s (15-22 ms
on a quiet machine): the machine had stalled the generator and its simulator, and nothing said so. Now the
summary's `generator` block holds iteration start lag p95/max against its bound and Locust's CPU warning, and
the console warns when either shows the generator did not keep up. The verdict stays k6's.
"""

from __future__ import annotations

import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
from enginekit import REPO, headless_argv, locust_env, server_counts, write_profile

from fixload.metrics.registry import Registry
from fixload.report.console import format_console_summary
from fixload.report.generator import START_LAG_BOUND_MS, generator_block, generator_warning
from fixload.report.html import html_report, junit_xml
from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for
from tests.surfacekit import SCREENSHOTS, DevToolsPage, require_browser, web_ui
from tests.surfacekit import SHORT_PROFILE as SHORT
from tests.test_webui import BANNER, FORM_OPEN


def _lags(*values: float) -> Registry:
    registry = Registry()
    for value in values:
        registry.add("iteration_start_lag", value, {"scenario": "payments_flow"})
    return registry


def test_a_generator_that_kept_its_schedule_has_not_fallen_behind() -> None:
    block = generator_block(_lags(*[2.0] * 95, *[40.0] * 5), cpu_warning=False)
    assert block["fellBehind"] is False
    assert block["startLagP95Ms"] < START_LAG_BOUND_MS and block["startLagMaxMs"] == 40.0
    assert generator_warning(block) is None


def test_late_starts_past_the_bound_say_the_generator_fell_behind() -> None:
    block = generator_block(_lags(*[2.0] * 90, *[600.0] * 10), cpu_warning=False)
    assert block["fellBehind"] is True and block["startLagP95Ms"] > START_LAG_BOUND_MS
    warning = generator_warning(block)
    assert warning is not None
    assert "iteration start lag p95 600ms (bound 100ms)" in warning
    assert "may be the generator's, not the target's" in warning


def test_the_bound_allows_for_the_start_grid_that_delays_starts_on_purpose() -> None:
    registry = _lags(*[120.0] * 100)
    assert generator_block(registry, cpu_warning=False)["fellBehind"] is True
    wide = generator_block(registry, cpu_warning=False, start_grid_ms=40.0)
    assert wide["startLagBoundMs"] == 140.0 and wide["fellBehind"] is False


def test_locusts_cpu_warning_alone_says_it() -> None:
    block = generator_block(_lags(1.0), cpu_warning=True)
    assert block["fellBehind"] is True
    warning = generator_warning(block)
    assert warning is not None and "a Locust process above 90 % CPU" in warning and "start lag" not in warning


def test_a_run_without_start_lag_samples_has_no_lag_to_judge() -> None:
    block = generator_block(Registry(), cpu_warning=False)
    assert block["startLagP95Ms"] is None and block["fellBehind"] is False


def test_the_console_warns_above_the_status_line() -> None:
    block = generator_block(_lags(*[900.0] * 100), cpu_warning=False)
    text = format_console_summary({"fixload": {"status": "thresholds_failed", "generator": block}})
    lines = text.splitlines()
    warn = next(i for i, line in enumerate(lines) if "WARN the generator fell behind" in line)
    assert warn < next(i for i, line in enumerate(lines) if line.startswith("  STATUS"))
    quiet = format_console_summary({"fixload": {"status": "passed", "generator": generator_block(_lags(1.0), False)}})
    assert "fell behind" not in quiet


def test_a_generator_paused_mid_run_says_so_in_its_summary_and_console(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """`locust --headless`, SIGSTOPped for 1.5 s of an 6-s run at 20 starts/s (what a starved container or a
    stalled VM does to it), then SIGCONTinued: its late starts put start lag p95 past the bound, and both the
    summary and the console say the generator fell behind."""
    simulator.reset_stats()
    scenario = {
        "executor": "constant-arrival-rate", "rate": 20, "timeUnit": "1s", "duration": "6s",
        "preAllocatedVUs": 4, "maxVUs": 60, "gracefulStop": "2s",
    }  # fmt: skip
    profile = write_profile(tmp_path / "stall.json", {"payments_flow": scenario})
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen(
        headless_argv(simulator, profile, summary),
        cwd=REPO,
        env=locust_env(simulator),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: server_counts(simulator)["payments_flow"] >= 10, 60, "the run's first requests")
        proc.send_signal(signal.SIGSTOP)
        time.sleep(1.5)  # the fault itself: how long the generator is stopped
        proc.send_signal(signal.SIGCONT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    block = orjson.loads(summary.read_bytes())["fixload"]["generator"]
    assert block["fellBehind"] is True, block
    assert block["startLagP95Ms"] > START_LAG_BOUND_MS and block["startLagMaxMs"] >= 1000, block
    assert "WARN the generator fell behind its schedule: iteration start lag p95" in stderr


def _payments_only(path: Path, **changes: Any) -> Path:
    """The short baseline with payments_flow alone (its fields changed by `changes`) and its thresholds, at
    `path`: the web UI drills' profile."""
    data = orjson.loads(SHORT.read_bytes())
    data["scenarios"] = {"payments_flow": {**data["scenarios"]["payments_flow"], **changes}}
    others = ("ads_flow", "analytics_flow", "booking_flow", "chat_flow")
    data["thresholds"] = {k: v for k, v in data["thresholds"].items() if not any(o in k for o in others)}
    path.write_bytes(orjson.dumps(data))
    return path


def test_the_web_ui_verdict_banner_says_the_generator_fell_behind(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """The engineer at the web UI reads it where the verdict is: START with the form as it is, the `locust`
    process SIGSTOPped for 1.5 s once load arrives, then the banner's verdict carries the warning. Screenshot:
    reports/screenshots/webui-generator-warning.png."""
    browser = require_browser()
    profile = _payments_only(tmp_path / "stall.json", startTime="0s", duration="6s", rate=20)
    simulator.reset_stats()
    with web_ui(simulator, tmp_path, profile) as (base, proc), DevToolsPage(browser, height=900) as page:
        page.goto(base + "/", FORM_OPEN)
        page.wait("document.querySelector('input[name=userCount]').value.startsWith('set by the profile')", 10)
        page.click("button[type=submit]")
        wait_for(lambda: simulator.stats()["total"]["count"] >= 30, 30, "the run's first requests")
        proc.popen.send_signal(signal.SIGSTOP)
        time.sleep(1.5)  # the fault itself: how long the generator is stopped
        proc.popen.send_signal(signal.SIGCONT)
        page.wait(f"(() => {{ const t = {BANNER}; return /PASSED|THRESHOLDS FAILED/.test(t) && t; }})()", 60)
        warning = page.evaluate("(document.querySelector('.fixload-generator-warning') || {}).innerText || ''")
        page.screenshot(SCREENSHOTS / "webui-generator-warning.png")
    assert warning.startswith("WARN the generator fell behind its schedule: iteration start lag p95"), warning
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())["fixload"]
    assert summary["generator"]["fellBehind"] is True


def test_the_web_ui_verdict_banner_says_k6s_insufficient_vus(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """A scenario asked 200 starts/s with one VU drops most of them: the banner's verdict says so in k6's words,
    as the console does (it was console and report only). Screenshot: reports/screenshots/webui-vus-warning.png."""
    browser = require_browser()
    one_vu = {"startTime": "0s", "duration": "3s", "rate": 200, "preAllocatedVUs": 1, "maxVUs": 1}
    profile = _payments_only(tmp_path / "one-vu.json", **one_vu)
    with web_ui(simulator, tmp_path, profile) as (base, _proc), DevToolsPage(browser, height=900) as page:
        page.goto(base + "/", FORM_OPEN)
        page.wait("document.querySelector('input[name=userCount]').value.startsWith('set by the profile')", 10)
        page.click("button[type=submit]")
        page.wait(f"(() => {{ const t = {BANNER}; return /PASSED|THRESHOLDS FAILED/.test(t) && t; }})()", 60)
        shown = page.evaluate("[...document.querySelectorAll('.fixload-vus-warning')].map(n => n.innerText)")
        page.screenshot(SCREENSHOTS / "webui-vus-warning.png")
    dropped = orjson.loads((tmp_path / "summary.json").read_bytes())["fixload"]["scenarios"]["payments_flow"]["dropped"]
    assert dropped > 100
    assert len(shown) == 1, shown
    assert shown[0].startswith("WARN Insufficient VUs, reached 1 active VUs and cannot initialize more"), shown
    assert f"scenario=payments_flow: {dropped} iterations dropped" in shown[0], shown


def test_the_html_report_and_the_junit_case_carry_the_warning() -> None:
    """The reports a CI job keeps say what the console said; a generator that kept up adds nothing."""
    behind = {"fixload": {"status": "thresholds_failed", "generator": generator_block(_lags(*[900.0] * 100), False)}}
    kept = {"fixload": {"status": "passed", "generator": generator_block(_lags(1.0), False)}}
    page = html_report(behind)
    assert 'class="meta generator-warning"' in page and "iteration start lag p95 900ms (bound 100ms)" in page
    case = ET.fromstring(junit_xml(behind)).find("testsuite/testcase")
    assert case is not None and "the generator fell behind" in (case.findtext("system-out") or "")
    assert "generator-warning" not in html_report(kept)
    assert ET.fromstring(junit_xml(kept)).find("testsuite/testcase/system-out") is None


def test_the_cpu_warning_is_locusts_own_on_this_process_or_a_worker() -> None:
    """`runner.cpu_warning_emitted` (this process above 90 %), `worker_cpu_warning_emitted` (a master heard it
    from a worker's heartbeat): either is the summary's `cpuWarning`."""
    from types import SimpleNamespace

    from fixload.runtime.driver import _cpu_warning

    def env(**flags: bool) -> Any:
        return SimpleNamespace(runner=SimpleNamespace(**{"cpu_warning_emitted": False, **flags}))

    assert _cpu_warning(env()) is False
    assert _cpu_warning(env(cpu_warning_emitted=True)) is True
    assert _cpu_warning(env(worker_cpu_warning_emitted=True)) is True
    assert _cpu_warning(SimpleNamespace(runner=None)) is False
