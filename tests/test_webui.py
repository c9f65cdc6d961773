"""fixload in Locust's web UI (issue 8), in a real headless Chromium: the start form shows the profile fields,
a test started through the UI's own `/swarm` shows the Scenarios and Thresholds tabs with live numbers, the
summary JSON is downloadable once it stops, `/metrics` is served, and no token shows anywhere."""

from __future__ import annotations

import re

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port, wait_for
from tests.surfacekit import (
    LOCUST,
    NO_BROWSER,
    SCREENSHOTS,
    DevToolsPage,
    Process,
    assert_no_secrets,
    child_env,
    chromium_binary,
    get_json,
    http_get,
    http_post_form,
    scaled_profile,
)

FACTOR = 5.0  # 60 s -> 12 s


@pytest.fixture(scope="module")
def ui(simulator, tmp_path_factory):
    directory = tmp_path_factory.mktemp("webui")
    profile = scaled_profile(directory, FACTOR)
    port = free_port()
    argv = [*LOCUST, "-f", "locustfiles/", "--profile", str(profile), "-H", simulator.base_url]
    argv += ["--web-port", str(port), "--web-host", "127.0.0.1", "--summary", str(directory / "summary.json")]
    proc = Process(argv, child_env(simulator.env), directory, "locust")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_get(base + "/")[0] == 200 or proc.popen.poll() is not None, 30, "the web UI")
        assert proc.popen.poll() is None, proc.output()[-3000:]
        yield {"base": base, "profile": profile, "proc": proc, "env": simulator.env, "sim": simulator, "seen": []}
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser():
    binary = chromium_binary()
    if binary is None:
        pytest.skip(NO_BROWSER)
    return binary


def _status(ui) -> dict:
    status = get_json(ui["base"] + "/fixload/status.json")
    assert status is not None
    return status


def _click_text(page: DevToolsPage, selector: str, pattern: str) -> int:
    return page.evaluate(
        f"""(() => {{ const hits = [...document.querySelectorAll({selector!r})]
              .filter(e => new RegExp({pattern!r}, 'i').test(e.textContent.trim()));
              hits.forEach(e => e.click()); return hits.length; }})()"""
    )


def test_routes_before_a_test(ui):
    status = _status(ui)
    assert status["state"] == "ready" and len(status["scenarios"]) == 5
    assert {t["ok"] for t in status["thresholds"]} == {None}  # pending
    code, body = http_get(ui["base"] + "/fixload/summary.json")
    assert code == 404 and b"written when the test stops" in body
    page = http_get(ui["base"] + "/")[1].decode()
    args = orjson.loads(re.search(r"window.templateArgs = (\{.*\})", page).group(1))
    assert [t["key"] for t in args["extended_tabs"]] == ["fixload_scenarios", "fixload_thresholds"]
    assert {"multiplier", "summary"} <= set(args["extra_options"])
    assert args["profile"] == str(ui["profile"])
    ui["seen"].append(page)


def test_start_form_shows_the_profile_fields(ui, browser):
    with DevToolsPage(browser, height=1250) as page:
        page.goto(ui["base"] + "/", "document.body.innerText.includes('Custom parameters')")
        assert _click_text(page, "div[role=button], button", "^(Custom parameters|Advanced options)$") == 2
        page.wait(
            "!!document.querySelector('input[name=multiplier]') && !!document.querySelector('input[name=profile]')"
        )
        page.wait("document.querySelectorAll('.MuiCollapse-entered').length >= 2")  # both accordions fully open
        fields = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('input[name]')].map(i => [i.name, i.value]))"
        )
        assert fields["profile"] == str(ui["profile"])
        # (Locust camel-cases option names in the form: `env_file` is posted as `envFile`)
        assert "multiplier" in fields and "summary" in fields and "envFile" in fields
        shot = page.screenshot(SCREENSHOTS / "webui-start-form.png")
        ui["seen"].append(page.text())
    assert shot.stat().st_size > 20_000


def test_a_started_test_shows_live_scenarios(ui, browser):
    code, body = http_post_form(ui["base"] + "/swarm", {"host": ui["sim"].base_url, "profile": str(ui["profile"])})
    assert code == 200 and orjson.loads(body)["success"], body
    first = wait_for(lambda: (s := _status(ui))["state"] == "running" and s["elapsed"] > 3 and s, 30, "a running test")
    with DevToolsPage(browser) as page:
        page.goto(ui["base"] + "/", "document.body.innerText.toUpperCase().includes('SCENARIOS')")
        assert _click_text(page, "button[role=tab]", "^scenarios$") == 1
        page.wait("document.body.innerText.includes('ramping-arrival-rate')")
        page.wait(  # the rows refresh with Locust's 2 s poll: wait for a non-zero achieved rate on booking_flow
            "[...document.querySelectorAll('tr')].some(r => r.innerText.startsWith('booking_flow') && "
            "/\\t[1-9][0-9]*\\.[0-9]{2}\\t/.test(r.innerText))"
        )
        rows = page.evaluate("[...document.querySelectorAll('tbody tr')].map(r => r.innerText.split('\\t'))")
        page.screenshot(SCREENSHOTS / "webui-scenarios-tab.png")
        ui["seen"].append(page.text())
    by_name = {r[0]: r for r in rows}
    assert set(by_name) == {"booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}
    assert by_name["payments_flow"][1] == "constant-arrival-rate" and by_name["payments_flow"][2] == "6.00"
    assert by_name["analytics_flow"][2].startswith("— (VU executor)")
    assert by_name["analytics_flow"][5] == "10 / 10 / 10"
    later = _status(ui)
    assert later["elapsed"] > first["elapsed"]
    started = {s["name"]: s["started"] for s in later["scenarios"]}
    assert all(started[s["name"]] >= s["started"] for s in first["scenarios"]) and sum(started.values()) > 0
    payments = next(s for s in later["scenarios"] if s["name"] == "payments_flow")
    assert payments["achievedRate"] == pytest.approx(6.0, rel=0.35)
    assert payments["vusMax"] == 30 and payments["dropped"] == 0


def test_the_thresholds_tab(ui, browser):
    with DevToolsPage(browser) as page:
        page.goto(ui["base"] + "/", "document.body.innerText.toUpperCase().includes('THRESHOLDS')")
        assert _click_text(page, "button[role=tab]", "^thresholds$") == 1
        page.wait("document.body.innerText.includes('http_req_duration{scenario:booking_flow}')")
        page.wait("document.body.innerText.includes('✓ pass')")
        rows = page.evaluate("[...document.querySelectorAll('tbody tr')].map(r => r.innerText.split('\\t'))")
        page.screenshot(SCREENSHOTS / "webui-thresholds-tab.png")
        ui["seen"].append(page.text())
    assert len(rows) == 17
    failed = [r for r in rows if r[3].endswith("FAIL")]
    assert all(r[3] in ("✓ pass", "✗ FAIL", "pending (no samples)") for r in rows)
    observed = {r[0] + " " + r[1]: r[2] for r in rows}
    assert re.fullmatch(r"[\d.,e+-]+", observed["http_req_failed rate<0.02"])
    assert len(failed) == _status(ui)["failing"] or _status(ui)["state"] == "stopped"


def test_metrics_on_the_web_ui(ui):
    code, body = http_get(ui["base"] + "/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["fixload_http_req_duration_seconds"].type == "histogram"
    assert len(families["fixload_threshold_ok"].samples) == 17
    ui["seen"].append(body.decode())


def test_summary_downloadable_when_the_test_stops(ui, browser):
    wait_for(lambda: _status(ui)["state"] == "stopped", 60, "the test to stop")
    code, body = http_get(ui["base"] + "/fixload/summary.json")
    assert code == 200
    summary = orjson.loads(body)
    assert summary["fixload"]["status"] in ("passed", "thresholds_failed")
    assert set(summary["fixload"]["scenarios"]) == {
        "booking_flow",
        "chat_flow",
        "payments_flow",
        "analytics_flow",
        "ads_flow",
    }
    status = _status(ui)
    assert [(t["metric"], t["expression"], t["ok"]) for t in status["thresholds"]] == [
        (t["metric"], t["expression"], t["ok"]) for t in summary["fixload"]["thresholds"]
    ]
    with DevToolsPage(browser) as page:
        page.goto(ui["base"] + "/", "document.body.innerText.toUpperCase().includes('DOWNLOAD DATA')")
        assert _click_text(page, "button[role=tab]", "^download data$") == 1
        href = page.wait(
            "(() => { const a = [...document.querySelectorAll('a')]"
            ".find(a => a.textContent.includes('fixload summary')); return a && a.getAttribute('href'); })()"
        )
        page.screenshot(SCREENSHOTS / "webui-download-tab.png")
    assert href == "/fixload/summary.json"
    ui["seen"].append(body.decode())


def test_no_token_in_any_surface(ui):
    for path in ("/", "/fixload/status.json", "/stats/requests", "/metrics", "/fixload/summary.json"):
        ui["seen"].append(http_get(ui["base"] + path)[1].decode(errors="replace"))
    assert_no_secrets("\n".join(ui["seen"]), ui["env"], "the web UI")
