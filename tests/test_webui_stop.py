"""STOP in the web UI always comes back to NEW (issue 26 point 4), as a person sees it in headless Chromium.

Locust's page polls `/stats/requests` every 2 s only while the state it last read is `spawning` or `running`,
and shows NEW only on `stopped`: a poll that lands while the runner is ending the test (`cleanup` on a local
runner, `stopping` on a master: fixload's test_stop writes the summary and the reports then) used to stop its
polling for good, leaving "CLEANUP" and a disabled LOADING button until the page was reloaded. fixload answers
those states as `running` (fixload/surfaces/webui.py `page_stats`), so the page polls again and sees `stopped`.

One `locust` process with a 5-second profile (profiles/baseline-short.json / 12) and `--html-report` (a longer
end, a wider window for a poll to land in); one page, never reloaded: NEW, START, STOP during the ramp, in the
middle or in the last second, then NEW within `BACK_TO_NEW` seconds of the click. The slow drill does each
moment 10 times (30 STOPs); the fast twin once each.
"""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from tests.support import wait_for
from tests.surfacekit import (
    SCREENSHOTS,
    DevToolsPage,
    get_json,
    http_post_form,
    require_browser,
    scaled_profile,
    web_ui,
)

FACTOR = 12.0  # 60 s -> 5 s
BACK_TO_NEW = 6.0
"""Seconds from the STOP click to NEW on the page: the end of the test (≈1-2 s here) plus one 2 s poll."""
BUTTONS = "[...document.querySelectorAll('button')].map(b => b.innerText.trim().toUpperCase())"
HEADER = "document.querySelector('header').innerText"
BANNER = "(document.getElementById('fixload-banner') || {}).innerText || ''"
REQUESTS = """performance.getEntriesByType('resource').map(e =>
    `${e.name.replace(location.origin, '')} ${Math.round(e.startTime)}-${Math.round(e.responseEnd)}`).join(', ')"""
"""The page's requests that completed (a request still pending is not listed: START's /swarm, say)."""
ALERTS = "[...document.querySelectorAll('.MuiAlert-message')].map(a => a.innerText).join(' | ')"


@pytest.fixture(scope="module")
def ui(simulator, tmp_path_factory):
    directory = tmp_path_factory.mktemp("webui-stop")
    with web_ui(simulator, directory, scaled_profile(directory, FACTOR)) as (base, proc):
        yield {"base": base, "proc": proc}


@pytest.fixture(scope="module")
def page(ui):
    with DevToolsPage(require_browser(), height=1100) as devtools:
        devtools.goto(ui["base"] + "/", "document.querySelector('button[type=submit]')")
        yield devtools


def _press(page: DevToolsPage, label: str) -> bool:
    """A real mouse click on the button reading `label`, now (no waiting for it: in the last second the test
    may end first, and STOP becomes NEW). False when no such button is on the page."""
    where = page.evaluate(
        f"""(() => {{ const b = [...document.querySelectorAll('button')].find(b =>
            b.innerText.trim().toUpperCase() === {label.upper()!r} && !b.disabled && b.getClientRects().length);
            if (!b) return null; const r = b.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; }})()"""
    )
    if where is None:
        return False
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", type=kind, x=where[0], y=where[1], button="left", clickCount=1)
    return True


def _status(ui) -> dict:
    status = get_json(ui["base"] + "/fixload/status.json")
    assert status is not None
    return status


def _start(page: DevToolsPage, ui) -> dict:
    """NEW (after a test) then START; back when the scenarios' clock runs. The page is not reloaded."""
    wait_for(lambda: page.evaluate(f"{BUTTONS}.includes('NEW') || !!document.querySelector('button[type=submit]')"), 10)
    if page.evaluate(f"{BUTTONS}.includes('NEW')"):
        assert _press(page, "NEW")
    page.wait("!!document.querySelector('button[type=submit]')", 10)
    page.evaluate("performance.clearResourceTimings()")  # a failure lists the page's requests since the click
    page.click("button[type=submit]")
    clicked, seen = time.monotonic(), []  # (seconds after the click, state) at each change the polls saw

    def running() -> dict | bool:
        status = _status(ui)
        if not seen or seen[-1][1] != status["state"]:
            seen.append((round(time.monotonic() - clicked, 2), status["state"]))
        return status["state"] == "running" and status

    try:
        return wait_for(running, 30, "the test running")
    except TimeoutError as exc:
        logs = "\n".join((get_json(ui["base"] + "/logs") or {}).get("master", [])[-30:])
        raise AssertionError(
            f"START did not start: status.json states {seen}, banner {page.evaluate(BANNER)!r}, "
            f"alerts {page.evaluate(ALERTS)!r}, buttons {page.evaluate(BUTTONS)}, "
            f"header {page.evaluate(HEADER)!r}\npage's requests since the click (ms: start, end): "
            f"{page.evaluate(REQUESTS)}\nlogs:\n{logs}"
        ) from exc


def _stop_at(page: DevToolsPage, ui, moment: str) -> float:
    """START, STOP at `moment` (ramp / middle / last second), and the seconds until NEW is on the page."""
    status = _start(page, ui)
    duration = float(status["duration"])
    at = {"ramp": 0.3, "middle": duration / 2, "last": duration - 0.6}[moment]
    wait_for(lambda: _status(ui)["elapsed"] >= at or _status(ui)["state"] != "running", duration + 10, moment)
    clicked = time.monotonic()
    pressed = _press(page, "STOP")
    assert pressed or moment == "last", (
        f"{moment}: no STOP button while the test runs: buttons {page.evaluate(BUTTONS)}, "
        f"header {page.evaluate(HEADER)!r}, banner {page.evaluate(BANNER)!r}, status {_status(ui)['state']}"
    )
    try:
        wait_for(lambda: page.evaluate(f"{BUTTONS}.includes('NEW')"), BACK_TO_NEW, "NEW after STOP", interval=0.05)
    except Exception as exc:
        stats = get_json(ui["base"] + "/stats/requests") or {}
        raise AssertionError(
            f"{moment}: no NEW {BACK_TO_NEW} s after STOP; header {page.evaluate(HEADER)!r}, "
            f"buttons {page.evaluate(BUTTONS)}, /stats/requests state {stats.get('state')!r}"
        ) from exc
    back = time.monotonic() - clicked
    print(f"STOP {moment}: NEW after {back:.2f} s", flush=True)
    assert "STOPPED" in page.evaluate(HEADER).upper()
    banner = page.wait(f"(() => {{ const t = {BANNER}; return /exit code/.test(t) && t; }})()", 5)
    if pressed and "PASSED" not in banner and "THRESHOLDS FAILED" not in banner:
        assert "INTERRUPTED" in banner and "exit code 103" in banner, banner
    return back


def _drill(page: DevToolsPage, ui, times: int) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {"ramp": [], "middle": [], "last": []}
    for _ in range(times):
        for moment in seen:
            seen[moment].append(_stop_at(page, ui, moment))
    for moment, backs in seen.items():
        print(f"STOP {moment}: NEW after {', '.join(f'{b:.2f}' for b in backs)} s (max {max(backs):.2f})")
    return seen


def test_the_first_stats_after_start_are_not_the_last_tests_end(ui):
    """Locust memoizes `/stats/requests` (2 s, doubled for good after a slow answer): a `stopped` read just before
    START used to be the answer just after it too, until the setup's fixtures were done, and Locust's page, told
    `stopped`, goes back to NEW while the test runs. A script's START and STOP, as the page's, with the token."""
    base = ui["base"]
    token = {"fixload_token": get_json(base + "/fixload/token.json")["token"]}  # a script's START needs the token
    for _ in range(2):  # the first START may follow no test (`ready`); the second follows one just stopped
        wait_for(lambda: get_json(base + "/stats/requests")["state"] in ("ready", "stopped"), 30, "no test running")
        before = get_json(base + "/stats/requests")["state"]  # what Locust now keeps for 2 s or more
        assert http_post_form(base + "/swarm", token)[0] == 200
        after = get_json(base + "/stats/requests")
        assert after["state"] in ("spawning", "running"), (before, after["state"], after.get("locust_state"))
        wait_for(lambda: _status(ui)["state"] == "running", 30, "the test running")
        assert http_post_form(base + "/stop", token)[0] == 200
    assert before == "stopped"


@pytest.mark.slow  # failed once in a clean-clone CI run (the page stayed on READY after START), passed in 5
# others; its default-set twin is test_webui.py::test_start_again_after_a_test_then_stop (STOP back to NEW)
def test_stop_comes_back_to_new(ui, page):
    """The fast twin: one STOP during the ramp, one in the middle, one in the last second."""
    seen = _drill(page, ui, 1)
    assert all(b <= BACK_TO_NEW for backs in seen.values() for b in backs)
    page.screenshot(SCREENSHOTS / "webui-after-stop.png")


@pytest.mark.slow
def test_thirty_stops_all_come_back_to_new(ui, page):
    seen = _drill(page, ui, 10)
    assert sum(len(b) for b in seen.values()) == 30
    assert all(b <= BACK_TO_NEW for backs in seen.values() for b in backs)


@pytest.mark.slow  # failed once in a clean-clone CI run (the page stayed on READY after START), passed in 5
# others; its default-set twin is test_webui.py::test_start_again_after_a_test_then_stop (STOP back to NEW)
def test_the_page_reads_vus_busy_and_keeps_polling(ui, page):
    """What /stats/requests tells the page: never `cleanup`/`stopping` (the runner's own state is beside it), and
    the header's count is fixload's VUs busy, labelled so: not the VUs allocated before the start instant."""
    _start(page, ui)
    page.wait(f"{HEADER}.includes('VUs busy')", 5)
    # Locust memoizes /stats/requests for 2 s: the first answer may still be the last test's
    stats = wait_for(lambda: (s := get_json(ui["base"] + "/stats/requests"))["state"] != "stopped" and s, 5, "fresh")
    assert stats["state"] in ("running", "spawning") and "locust_state" in stats
    most = sum(s["vusMax"] for s in _status(ui)["scenarios"])
    assert 0 <= stats["user_count"] == stats["vus_busy"] <= most
    assert "Users" not in page.evaluate(HEADER).split("\n")
    assert _press(page, "STOP")
    wait_for(lambda: page.evaluate(f"{BUTTONS}.includes('NEW')"), BACK_TO_NEW, "NEW after STOP")
    assert get_json(ui["base"] + "/stats/requests")["state"] == "stopped"


def _stats_state(page: DevToolsPage, paused: dict) -> str:
    """The swarm state in a `/stats/requests` answer held by the page's Fetch domain."""
    body = page.call("Fetch.getResponseBody", requestId=paused["requestId"])
    text = base64.b64decode(body["body"]) if body.get("base64Encoded") else body["body"]
    return str(orjson.loads(text)["state"])


@pytest.mark.parametrize("late", ["after START's answer", "just before START's answer"])
def test_a_stats_read_from_before_start_does_not_undo_it(ui, late):
    """Locust's page sets its state from every `/stats/requests` answer, and polls only while that state is
    `spawning` or `running`: a read sent before START (`ready` or `stopped`) whose answer reaches the page after
    START's success sent the page back to the form, or to NEW, for good, while the test ran (the slow drill's
    "START did not start", twice in full slow runs). Chromium's Fetch domain holds the page's first read and
    START's answer and lets them go in the bad order; the page must stay on the test and keep polling. Without
    fixload's re-read (webui.js) the first case fails every time, the second (React applies the stale read after
    START's success) about half the time."""
    base = ui["base"]
    wait_for(lambda: _status(ui)["state"] not in ("waiting", "running", "finalizing"), 60, "no test running")
    with DevToolsPage(require_browser(), height=1100) as page:
        page.call("Network.enable")
        page.call(
            "Fetch.enable",
            patterns=[
                {"urlPattern": f"{base}/{path}", "requestStage": "Response"} for path in ("stats/requests", "swarm")
            ],
        )
        page.call("Page.navigate", url=base + "/")
        first = page.event("Fetch.requestPaused", "/stats/requests")
        before = _stats_state(page, first)
        assert before in ("ready", "stopped")
        wait_for(
            lambda: page.evaluate(f"{BUTTONS}.includes('NEW') || !!document.querySelector('button[type=submit]')"), 20
        )
        if page.evaluate(f"{BUTTONS}.includes('NEW')"):
            assert _press(page, "NEW")
        page.click("button[type=submit]")
        start = page.event("Fetch.requestPaused", "/swarm")
        if late == "after START's answer":
            page.call("Fetch.continueRequest", requestId=start["requestId"])
            page.wait(f"{BUTTONS}.includes('STOP')", 10)  # the page took START's success
            page.call("Fetch.continueRequest", requestId=first["requestId"])
        else:
            page.call("Fetch.continueRequest", requestId=first["requestId"])
            page.event("Network.loadingFinished", first["networkId"], 10)
            page.call("Fetch.continueRequest", requestId=start["requestId"])
        try:
            again = page.event("Fetch.requestPaused", "/stats/requests", 6)
        except TimeoutError:
            raise AssertionError(
                f"the page read no stats within 6 s after a {before!r} read answered {late}: buttons "
                f"{page.evaluate(BUTTONS)}, header {page.evaluate(HEADER)!r}, server {_status(ui)['state']!r}"
            ) from None
        assert _stats_state(page, again) in ("spawning", "running")
        page.call("Fetch.continueRequest", requestId=again["requestId"])
        page.wait(f"{BUTTONS}.includes('STOP') && /RUNNING|SPAWNING/i.test({HEADER})", 5)
        poll = page.event("Fetch.requestPaused", "/stats/requests", 6)  # and Locust's own 2 s poll goes on
        page.call("Fetch.continueRequest", requestId=poll["requestId"])
        page.call("Fetch.disable")
        assert _press(page, "STOP")
        wait_for(lambda: page.evaluate(f"{BUTTONS}.includes('NEW')"), BACK_TO_NEW, "NEW after STOP")
