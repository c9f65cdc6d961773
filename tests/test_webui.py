"""fixload in Locust's web UI, driven as a person drives it: a real headless Chromium types into the start form
and clicks START / STOP (DevTools protocol mouse and keyboard events), against one real `locust` process and the
embedded simulator on loopback. What is checked is what the person sees (the page's text, the banner, the
Scenarios tab, the chart panel) and what the target received (the simulator's own request count).

One UI process serves the module, in this order: the routes before any test; bad form values refused, shown
in the page, logged, nothing sent; a Host that is not the target refused, no token reaching a second
listener; START with the form as it is (load arrives; tabs, chart panel, banner follow it; the verdict after
the normal end); NEW → START again, then STOP (interrupted, 103); a refused START in the Logs tab; (slow) a
setup failure's verdict (107); (slow) STOP and START again, twice: with Multiplier 2 the achieved rate
doubles, and blank again it is back to the profile's; (slow) `fixload run --ui --workers 2`."""

from __future__ import annotations

import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port, wait_for
from tests.surfacekit import (
    SCREENSHOTS,
    DevToolsPage,
    Process,
    assert_no_secrets,
    child_env,
    get_json,
    http_get,
    require_browser,
    scaled_profile,
    web_ui,
)

FACTOR = 5.0  # 60 s -> 12 s
SCENARIOS = {"booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}
ALERT = "[...document.querySelectorAll('.MuiAlert-message')].map(a => a.innerText).join('\\n')"
FORM_OPEN = "!!document.querySelector('input[name=multiplier]') && !!document.querySelector('input[name=profile]')"
"""fixload's script opens both accordions of the start form: the profile and fixload's fields in plain sight."""
BANNER = "(document.getElementById('fixload-banner') || {}).innerText || ''"


@pytest.fixture(scope="module")
def ui(simulator, tmp_path_factory):
    directory = tmp_path_factory.mktemp("webui")
    profile = scaled_profile(directory, FACTOR)
    with web_ui(simulator, directory, profile) as (base, proc):
        yield {
            "base": base,
            "dir": directory,
            "profile": profile,
            "proc": proc,
            "env": simulator.env,
            "sim": simulator,
            "seen": [],
        }


@pytest.fixture(scope="module")
def browser():
    return require_browser()


@pytest.fixture(scope="module")
def page(ui, browser):
    """One page for the module (Chromium starts once); each test navigates it."""
    with DevToolsPage(browser, height=1250) as devtools:
        yield devtools


def _status(ui) -> dict:
    status = get_json(ui["base"] + "/fixload/status.json")
    assert status is not None
    return status


def _sent(ui) -> int:
    return int(ui["sim"].stats()["total"]["count"])


def _open_form(page: DevToolsPage, ui) -> None:
    """The start form, as a fresh visit shows it: fixload's script has opened both accordions."""
    page.goto(ui["base"] + "/", FORM_OPEN)
    page.wait("document.querySelectorAll('.MuiCollapse-entered').length >= 2")
    page.wait("document.querySelector('input[name=userCount]').value.startsWith('set by the profile')", 10)


def _start(page: DevToolsPage, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        page.type_into(name, value)
    page.click("button[type=submit]")


def _logs(ui) -> str:
    return "\n".join(get_json(ui["base"] + "/logs")["master"])


def test_routes_before_a_test(ui):
    status = _status(ui)
    assert status["state"] == "ready" and len(status["scenarios"]) == 5
    assert {t["ok"] for t in status["thresholds"]} == {None}  # pending
    code, body = http_get(ui["base"] + "/fixload/summary.json")
    assert code == 404 and b"written when the test stops" in body
    page = http_get(ui["base"] + "/")[1].decode()
    args = orjson.loads(re.search(r"window.templateArgs = (\{.*\})", page).group(1))
    assert [t["key"] for t in args["extended_tabs"]] == ["fixload_scenarios", "fixload_thresholds"]
    assert {"multiplier", "summary", "env_file"} <= set(args["extra_options"])
    assert args["profile"] == str(ui["profile"])
    assert re.search(r'<script src="\./fixload/ui\.js" data-token="[\w-]{43}" defer></script>', page)
    assert get_json(ui["base"] + "/fixload/panel.json")["run"] == {"phase": "ready"}
    ui["seen"].append(page)


def test_start_form_shows_the_profile_fields(ui, page):
    _open_form(page, ui)
    fields = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('input[name]')].map(i => [i.name, [i.value, i.disabled]]))"
    )
    assert fields["profile"] == [str(ui["profile"]), False]
    assert fields["multiplier"] == ["", False] and fields["envFile"] == ["", False]
    # users and ramp-up are the profile's: shown as such, not as editable numbers that do nothing
    assert fields["userCount"] == ["set by the profile: up to 177 VUs across 5 scenarios", True]
    assert fields["spawnRate"][0].startswith("set by the profile") and fields["spawnRate"][1]
    assert "fixload: ready" in page.evaluate(BANNER)
    # fixload's fields under clean labels (Locust writes "Multiplier (load multiplier (scales load only))")
    labels = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('input[name]')].map(i => [i.name,"
        ' (document.querySelector(`label[for="${i.id}"]`) || {}).innerText]))'
    )
    assert {labels[k] for k in ("profile", "multiplier", "envFile", "summary")} == {
        "Profile",
        "Multiplier",
        "Env file",
        "Summary path",
    }
    # users and ramp-up are the profile's: disabled, and not marked required
    marks = page.evaluate(
        "[...document.querySelectorAll('label.Mui-disabled .MuiFormLabel-asterisk')]"
        ".filter(a => getComputedStyle(a).display !== 'none').length"
    )
    assert marks == 0 and not page.evaluate("document.querySelector('input[name=userCount]').required")
    shot = page.screenshot(SCREENSHOTS / "webui-start-form.png")
    ui["seen"].append(page.text())
    assert shot.stat().st_size > 20_000


def _bad_profiles(directory):
    bad_threshold = scaled_profile(directory, FACTOR, "bad-threshold.json", {"http_req_failed": ["rate<<0.5"]})
    needs_env = orjson.loads(bad_threshold.read_bytes())
    needs_env["thresholds"]["http_req_failed"].pop()
    needs_env["requiredEnv"] = ["FIXLOAD_TEST_NOT_SET"]
    (directory / "needs-env.json").write_bytes(orjson.dumps(needs_env))
    return bad_threshold, directory / "needs-env.json"


def test_bad_values_are_shown_in_the_page_and_nothing_starts(ui, page, tmp_path):
    bad_threshold, needs_env = _bad_profiles(tmp_path)
    cases = [
        ({"profile": str(tmp_path / "missing.json")}, "missing.json"),
        ({"multiplier": "two"}, "Multiplier: expected a positive number, got 'two'"),
        ({"multiplier": "-1"}, "Multiplier: expected a positive number, got -1.0"),
        ({"envFile": str(tmp_path / "absent.env")}, "absent.env"),
        ({"profile": str(bad_threshold)}, "rate<<0.5"),
        ({"profile": str(needs_env)}, "FIXLOAD_TEST_NOT_SET"),
    ]
    ui["sim"].reset_stats()
    _open_form(page, ui)
    defaults = {"profile": str(ui["profile"]), "multiplier": "", "envFile": ""}
    for fields, expected in cases:
        _start(page, fields)
        shown = page.wait(f"(() => {{ const t = {ALERT}; return t.includes({expected!r}) && t; }})()", 10)
        page.wait(
            f"(() => {{ const t = {BANNER}; return t.includes('START refused') && t.includes({expected!r}); }})()", 5
        )
        assert expected in _logs(ui), f"{expected!r} is not in the Logs tab's log"
        assert _status(ui)["state"] == "ready", shown
        if fields.get("profile", "").endswith("missing.json"):
            page.screenshot(SCREENSHOTS / "webui-bad-profile.png")
        ui["seen"].append(page.text())
        for name in fields:  # back to the form as it was, for the next case
            page.type_into(name, defaults[name])
    assert get_json(ui["base"] + "/stats/requests")["state"] == "ready"
    assert _sent(ui) == 0, "a refused START sent requests to the target"


class _Recorder(BaseHTTPRequestHandler):
    """A second listener on loopback: records every request (and whether it carried a token)."""

    seen: ClassVar[list[tuple[str, str, str]]] = []

    def _record(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

    def log_message(self, *_args) -> None:
        pass


def test_a_host_that_is_not_the_target_is_refused(ui, page):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    other = f"http://127.0.0.1:{server.server_address[1]}"
    ui["sim"].reset_stats()
    try:
        _open_form(page, ui)
        _start(page, {"host": other})
        page.wait(f"{ALERT}.includes('is not the configured target')", 10)
        assert other in page.evaluate(ALERT) and "--allow-host-override" in page.evaluate(ALERT)
        assert "is not the configured target" in _logs(ui)
        wait_for(lambda: _status(ui)["state"] == "ready", 5, "the UI to stay ready")
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.seen == [], "the other host received requests"
    assert _sent(ui) == 0


def test_start_with_the_form_as_it_is(ui, page):
    ui["sim"].reset_stats()
    _open_form(page, ui)
    page.click("button[type=submit]")
    phase = page.wait(f"(() => {{ const t = {BANNER}; return /waiting|running/.test(t) && t; }})()", 15)
    ui["phases"] = [phase]
    first = wait_for(lambda: (s := _status(ui))["state"] == "running" and s["elapsed"] > 3 and s, 30, "a running test")
    assert _sent(ui) > 0
    page.click("button[role=tab]", "Scenarios")
    page.wait(  # the rows refresh with Locust's 2 s poll: wait for a non-zero achieved rate on booking_flow
        "[...document.querySelectorAll('tr')].some(r => r.innerText.startsWith('booking_flow') && "
        "/\\t[1-9][0-9]*\\.[0-9]{2}\\t/.test(r.innerText))"
    )
    rows = page.evaluate("[...document.querySelectorAll('tbody tr')].map(r => r.innerText.split('\\t'))")
    page.screenshot(SCREENSHOTS / "webui-scenarios-tab.png")
    by_name = {r[0]: r for r in rows}
    assert set(by_name) == SCENARIOS
    assert by_name["payments_flow"][1] == "constant-arrival-rate" and by_name["payments_flow"][2] == "6.00"
    assert by_name["analytics_flow"][2].startswith("— (VU executor)")
    assert by_name["analytics_flow"][5] == "10 / 10 / 10"
    # the chart panel, beside Locust's charts: per scenario rate and p95 charts, from the live series
    page.click("button[role=tab]", "Charts")
    page.wait("document.querySelectorAll('#fixload-charts svg.chart').length === 10")
    titles = page.evaluate("[...document.querySelectorAll('#fixload-charts svg .title')].map(t => t.textContent)")
    assert "payments_flow — iterations/s (constant-arrival-rate)" in titles
    assert any(t.startswith("booking_flow — latency (ms)") for t in titles)
    # every threshold on a scenario's latency is a labelled line on its chart (issue 26)
    panel_text = page.evaluate("document.querySelector('#fixload-charts').innerText")
    assert "http_req_duration{scenario:booking_flow} p(95)<" in panel_text
    assert "booking_flow_duration p(95)<" in panel_text
    assert "running" in page.evaluate(BANNER)
    page.evaluate("document.getElementById('fixload-charts').scrollIntoView()")
    page.screenshot(SCREENSHOTS / "webui-chart-panel.png")
    page.evaluate("window.scrollTo(0, 0)")
    later = _status(ui)
    assert later["elapsed"] > first["elapsed"]
    payments = next(s for s in later["scenarios"] if s["name"] == "payments_flow")
    assert payments["achievedRate"] == pytest.approx(6.0, rel=0.35)
    assert payments["vusMax"] == 30 and payments["dropped"] == 0
    ui["seen"].append(page.text())


def test_the_thresholds_tab_gives_units(ui, page):
    page.goto(ui["base"] + "/?tab=fixload_thresholds", "document.body.innerText.includes('http_req_failed')")
    page.wait("document.body.innerText.includes('✓ pass')")
    rows = page.evaluate("[...document.querySelectorAll('tbody tr')].map(r => r.innerText.split('\\t'))")
    page.screenshot(SCREENSHOTS / "webui-thresholds-tab.png")
    ui["seen"].append(page.text())
    assert len(rows) == 17
    assert all(r[3] in ("✓ pass", "✗ FAIL", "pending (no samples)") for r in rows)
    observed = {r[0] + " " + r[1]: r[2] for r in rows}
    assert re.fullmatch(r"\d+\.\d\d%", observed["http_req_failed rate<0.02"])
    assert re.fullmatch(r"\d+\.\d\dms", observed["http_req_duration{scenario:booking_flow} p(95)<1200"])


def test_metrics_on_the_web_ui(ui):
    code, body = http_get(ui["base"] + "/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["fixload_http_req_duration_seconds"].type == "histogram"
    assert len(families["fixload_threshold_ok"].samples) == 17
    ui["seen"].append(body.decode())


def test_the_verdict_when_the_test_ends(ui, page):
    page.goto(ui["base"] + "/", "document.body.innerText.toUpperCase().includes('DOWNLOAD DATA')")
    banner = page.wait(f"(() => {{ const t = {BANNER}; return /PASSED|THRESHOLDS FAILED/.test(t) && t; }})()", 60)
    code, body = http_get(ui["base"] + "/fixload/summary.json")
    assert code == 200
    summary = orjson.loads(body)["fixload"]
    assert summary["status"] in ("passed", "thresholds_failed") and set(summary["scenarios"]) == SCENARIOS
    assert f"exit code {summary['exitCode']}" in banner and "summary JSON" in banner
    assert page.evaluate("document.querySelector('#fixload-banner a').getAttribute('href')").endswith(
        "/fixload/summary.json"
    )
    # Locust's header can keep the state of its last poll during the run (it stops polling): look afresh
    page.goto(ui["base"] + "/", "/STATUS\\s*STOPPED/i.test(document.querySelector('header').innerText)")
    page.wait(f"{BANNER}.includes('exit code')")
    page.screenshot(SCREENSHOTS / "webui-verdict-banner.png")
    # one source: after the run the panel's charts are the HTML report's, character for character
    charts = get_json(ui["base"] + "/fixload/panel.json")["charts"]
    report = wait_for(lambda: (ui["dir"] / "report.html").exists() and (ui["dir"] / "report.html").read_text(), 10)
    assert charts.count("<svg") == 10 and charts in report
    status = _status(ui)
    assert [(t["metric"], t["expression"], t["ok"]) for t in status["thresholds"]] == [
        (t["metric"], t["expression"], t["ok"]) for t in summary["thresholds"]
    ]
    # the "now" columns are cleared once the test has stopped; the totals stay
    page.click("button[role=tab]", "Scenarios")
    page.wait("document.body.innerText.includes('ramping-arrival-rate')")
    rows = page.evaluate("[...document.querySelectorAll('tbody tr')].map(r => r.innerText.split('\\t'))")
    payments = next(r for r in rows if r[0] == "payments_flow")
    assert payments[2:5] == ["—", "—", "—"] and payments[10] == "—" and payments[5] == "— / — / 30"
    assert int(payments[7]) == summary["scenarios"]["payments_flow"]["started"]
    page.click("button[role=tab]", "Download data")
    href = page.wait(
        "(() => { const a = [...document.querySelectorAll('a')]"
        ".find(a => a.textContent.includes('fixload summary')); return a && a.getAttribute('href'); })()"
    )
    assert href == "/fixload/summary.json"
    ui["phases"].append(banner)
    ui["seen"].append(body.decode())


_NEW_BUTTON = "[...document.querySelectorAll('button')].some(b => b.innerText.trim().toUpperCase() === 'NEW')"


def _new_test(page: DevToolsPage, ui, fields: dict[str, str]) -> None:
    """Open the start form, fill it and START. After a test, NEW opens the form over the tabs; before any
    test (a slow test run on its own, `-m slow`) the page is the form already."""
    page.goto(ui["base"] + "/", f"{_NEW_BUTTON} || {FORM_OPEN}")
    if page.evaluate(_NEW_BUTTON):
        page.click("button", "New")
    page.wait(FORM_OPEN)
    page.wait("document.querySelectorAll('.MuiCollapse-entered').length >= 2")
    _start(page, fields)


def _run_and_stop(page: DevToolsPage, ui, multiplier: str, seconds: float) -> float:
    """NEW, START with this Multiplier, let it run `seconds`, STOP: the payments flow's achieved rate then."""
    ui["sim"].reset_stats()
    _new_test(page, ui, {"multiplier": multiplier})
    running = wait_for(
        lambda: (s := _status(ui))["state"] == "running" and s["elapsed"] > seconds and s, 30, "a running test"
    )
    assert running["multiplier"] == (float(multiplier) if multiplier else 1.0)
    assert _sent(ui) > 0
    page.goto(ui["base"] + "/", "document.body.innerText.toUpperCase().includes('STOP')")
    page.click("button", "Stop")
    banner = page.wait(f"(() => {{ const t = {BANNER}; return t.includes('INTERRUPTED') && t; }})()", 30)
    assert "exit code 103" in banner  # k6 ScriptStoppedFromRESTAPI: a stop through the UI, not a signal
    return next(s for s in running["scenarios"] if s["name"] == "payments_flow")["achievedRate"]


def test_start_again_after_a_test_then_stop(ui, page):
    _run_and_stop(page, ui, "", 0.5)
    page.goto(ui["base"] + "/", "/STATUS\\s*STOPPED/i.test(document.querySelector('header').innerText)")
    page.wait(f"{BANNER}.includes('INTERRUPTED')")
    page.screenshot(SCREENSHOTS / "webui-stopped-banner.png")
    logs = _logs(ui)  # who ended the test, and when: in the log
    assert re.search(r"fixload: STOP from the web UI \(127\.0\.0\.1\) at \d+\.\d s of the plan", logs), logs[-2000:]


@pytest.mark.slow
def test_a_setup_failure_is_the_verdict(ui, page):
    # setup lists zones first (and reuses one): fail both
    ui["sim"].add_fault({"route": "/api/zones", "method": "*", "error_rate": 1.0, "status": 500})
    try:
        _new_test(page, ui, {})
        banner = page.wait(f"(() => {{ const t = {BANNER}; return t.includes('SETUP FAILED') && t; }})()", 30)
        page.screenshot(SCREENSHOTS / "webui-setup-failed.png")
    finally:
        ui["sim"].clear_faults()
    assert "exit code 107" in banner and "summary JSON" in banner
    assert get_json(ui["base"] + "/fixload/panel.json")["charts"] == ""  # nothing ran: no empty chart frames
    page.wait("document.getElementById('fixload-charts').hidden")
    assert orjson.loads(http_get(ui["base"] + "/fixload/summary.json")[1])["fixload"]["status"] == "setup_failed"


def test_a_refused_start_is_in_the_logs_tab(ui, page):
    if _status(ui)["state"] == "ready":  # Locust's page has no tabs before its first test (run first, in any order)
        _run_and_stop(page, ui, "", 0.5)
    _new_test(page, ui, {"multiplier": "0"})  # after a test: the form is a dialog over the tabs
    page.wait(f"{ALERT}.includes('Multiplier: expected a positive number, got 0.0')", 10)
    page.wait(f"{BANNER}.includes('START refused')", 5)  # the latest START, over the last verdict
    # Locust's Logs tab fetches the log when the page loads and refreshes it only while a test runs
    page.goto(ui["base"] + "/", "document.body.innerText.toUpperCase().includes('LOGS')")
    page.click("button[role=tab]", "Logs")
    # the log line itself: the banner also says "got 0.0", and a click on a tab still mounting may not take
    selected = "[...document.querySelectorAll('button[role=tab][aria-selected=true]')].map(t => t.innerText)"
    page.wait(f"{selected}.join().toUpperCase().includes('LOGS')", 10)
    page.wait("document.body.innerText.includes('START refused: invalid run configuration')", 10)
    text = page.text()
    assert "START refused: invalid run configuration" in text and "expected a positive number, got 0.0" in text
    page.screenshot(SCREENSHOTS / "webui-logs-tab.png")


@pytest.mark.slow
def test_stop_then_start_again_with_the_new_values(ui, page):
    # Multiplier 2 doubles the payments flow's constant arrival rate (6/s -> 12/s); blank brings it back
    rates = [_run_and_stop(page, ui, multiplier, 5.5) for multiplier in ("2", "")]
    print(f"payments_flow achieved it/s (scheduled 6/s x multiplier): x2 {rates[0]:.2f}, blank (x1) {rates[1]:.2f}")
    assert rates[0] == pytest.approx(12.0, rel=0.25) and rates[1] == pytest.approx(6.0, rel=0.25)
    assert rates[0] / rates[1] == pytest.approx(2.0, rel=0.25)


def test_no_token_in_any_surface(ui):
    for path in ("/", "/fixload/status.json", "/fixload/panel.json", "/stats/requests", "/metrics", "/logs"):
        ui["seen"].append(http_get(ui["base"] + path)[1].decode(errors="replace"))
    ui["seen"].append(http_get(ui["base"] + "/fixload/summary.json")[1].decode(errors="replace"))
    assert_no_secrets("\n".join(ui["seen"]), ui["env"], "the web UI")


@pytest.mark.slow
def test_fixload_run_ui_with_two_workers(tmp_path, browser):
    """`fixload run --ui --workers 2` (the wrapper's own simulator): START with the form as it is, the banner
    waits for the common start instant, then runs; the target gets load; the verdict comes with its exit code."""
    profile = scaled_profile(tmp_path, FACTOR)
    port = free_port()
    argv = [sys.executable, "-m", "fixload", "run", "--ui", "--workers", "2", "--profile", str(profile)]
    argv += ["--summary", str(tmp_path / "summary.json"), "--", "--web-port", str(port)]
    proc = Process(argv, child_env({}), tmp_path, "fixload-run")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: "2 workers connected" in proc.output() or proc.popen.poll() is not None, 60, "2 workers")
        target = re.search(r"embedded simulator at (http://127\.0\.0\.1:\d+)", proc.output()).group(1)
        with DevToolsPage(browser, height=1250) as page:
            page.goto(base + "/", FORM_OPEN)
            page.wait("document.querySelector('input[name=userCount]').value.startsWith('set by the profile')", 10)
            page.click("button[type=submit]")
            page.wait(f"{BANNER}.includes('waiting for the common start instant')", 10)
            page.wait(f"{BANNER}.includes('running')", 15)
            wait_for(lambda: get_json(target + "/__fixload/stats")["total"]["count"] > 0, 15, "load on the target")
            banner = page.wait(
                f"(() => {{ const t = {BANNER}; return /PASSED|THRESHOLDS FAILED/.test(t) && t; }})()", 60
            )
            page.screenshot(SCREENSHOTS / "webui-master-verdict.png")
        summary = orjson.loads((tmp_path / "summary.json").read_bytes())["fixload"]
        assert f"exit code {summary['exitCode']}" in banner and summary["workers"]["count"] == 2
    finally:
        proc.stop(signal.SIGINT)
