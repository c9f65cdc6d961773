"""Only the web UI's own page can drive it (issue 25; the rules: docs/web-ui-security.md).

One real `locust` process with fixload's web UI and the embedded simulator on loopback serves the module. First
HTTP-level checks of every rule (no CORS grant on any route; cross-site requests refused; every state-changing
route needs the page's Origin and the process's token; START applies only the fields its form shows; a typed
summary path never replaces a file that is not a fixload summary), then headless Chromium: a page served from
127.0.0.2 on another port tries to read the summary, status, metrics and logs and to START by a form post and by
fetch, and fails, the simulator receiving nothing; the legitimate page on 127.0.0.1 still starts and stops a run.
The header and field names are written out here (not imported): they are the contract scripts rely on."""

from __future__ import annotations

import base64
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from fixload.surfaces.login import PASSWORD_ENV, USERNAME_ENV
from tests.support import free_port, wait_for
from tests.surfacekit import (
    LOCUST,
    DevToolsPage,
    Process,
    child_env,
    get_json,
    http_get,
    require_browser,
    scaled_profile,
)

TOKEN_HEADER = "X-Fixload-Token"
TOKEN_FIELD = "fixload_token"
EVIL = "http://evil.example"
READ_ROUTES = ["/", "/fixload/summary.json", "/fixload/status.json", "/fixload/panel.json", "/fixload/token.json"]
READ_ROUTES += ["/metrics", "/logs", "/stats/requests", "/exceptions", "/tasks", "/worker-count"]
POST_ROUTES = ["/swarm", "/stop", "/stats/reset", "/user"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None


def call(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request exactly as given (no redirect followed): status, headers (lower-cased names), body."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def form(fields: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(fields).encode()


FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def ui(simulator, tmp_path_factory):
    directory = tmp_path_factory.mktemp("webui-security")
    profile = scaled_profile(directory, 5.0)
    port = free_port()
    argv = [*LOCUST, "-f", "locustfiles/", "--profile", str(profile), "-H", simulator.base_url]
    argv += ["--web-port", str(port), "--web-host", "127.0.0.1", "--summary", str(directory / "summary.json")]
    proc = Process(argv, child_env(simulator.env), directory, "locust")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_get(base + "/")[0] == 200 or proc.popen.poll() is not None, 30, "the web UI")
        assert proc.popen.poll() is None, proc.output()[-3000:]
        token = (get_json(base + "/fixload/token.json") or {}).get("token", "")
        yield {"base": base, "dir": directory, "profile": profile, "proc": proc, "sim": simulator, "token": token}
    finally:
        proc.stop()


def _sent(ui) -> int:
    return int(ui["sim"].stats()["total"]["count"])


def _state(ui) -> str:
    return get_json(ui["base"] + "/stats/requests")["state"]


def _idle(ui) -> bool:
    """No test running or starting (ready, or stopped: a STOP with the token stops nothing but says so)."""
    return _state(ui) in ("ready", "stopped")


def _refusals(ui) -> int:
    return sum("web UI refused" in line for line in get_json(ui["base"] + "/logs")["master"])


def _own(ui, token: str | None = None) -> dict[str, str]:
    """The headers the page's own fetch sends (Chromium): its origin, same-origin, the token."""
    headers = {"Origin": ui["base"], "Sec-Fetch-Site": "same-origin", **FORM_TYPE}
    if token is not None:
        headers[TOKEN_HEADER] = token
    return headers


def _start_fields(ui, **extra: str) -> dict[str, str]:
    return {"user_count": "1", "spawn_rate": "1", "host": ui["sim"].base_url, "profile": str(ui["profile"]), **extra}


# ------------------------------------------------------------------------------------------ no CORS
@pytest.mark.parametrize("route", READ_ROUTES)
def test_no_route_grants_another_origin(ui, route):
    code, headers, _ = call(ui["base"] + route, headers={"Origin": EVIL})
    assert code in (200, 404), code  # a script without Sec-Fetch-* (curl) still reads; a browser page cannot
    granted = {k: v for k, v in headers.items() if k.startswith("access-control-")}
    assert granted == {}, f"{route} grants {granted}"


@pytest.mark.parametrize("route", [*POST_ROUTES, "/fixload/summary.json"])
def test_no_preflight_is_granted(ui, route):
    ask = {"Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": TOKEN_HEADER}
    _, headers, _ = call(ui["base"] + route, "OPTIONS", ask)
    assert not [k for k in headers if k.startswith("access-control-")], headers


# ------------------------------------------------------------------------------------ cross-site reads
@pytest.mark.parametrize("site", ["cross-site", "same-site"])
@pytest.mark.parametrize("route", ["/fixload/summary.json", "/fixload/status.json", "/metrics", "/logs"])
def test_a_cross_site_read_is_refused(ui, route, site):
    code, headers, body = call(ui["base"] + route, headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "no-cors"})
    assert code == 403 and headers.get("x-fixload-refused") == "1", (code, body[:200])
    assert f"Sec-Fetch-Site: {site}" in orjson.loads(body)["message"]


def test_a_link_from_another_site_still_opens_the_page(ui):
    headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    code, _, body = call(ui["base"] + "/", headers=headers)
    assert code == 200 and b"fixload/ui.js" in body


@pytest.mark.parametrize("route", ["/", "/fixload/status.json", "/nothing-here"])
def test_no_other_site_may_frame_the_page(ui, route):
    """In another site's frame the engineer could be made to click START (clickjacking)."""
    headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}
    code, _, _ = call(ui["base"] + route, headers=headers)
    assert code == 403
    code, answer, _ = call(ui["base"] + route)
    assert answer.get("x-frame-options") == "SAMEORIGIN", (code, answer)
    assert answer.get("content-security-policy") == "frame-ancestors 'self'"


# ------------------------------------------------------------------------------------- DNS rebinding
@pytest.mark.parametrize("route", ["/", "/fixload/token.json", "/fixload/summary.json", "/swarm"])
def test_a_name_pointed_at_this_machine_is_refused(ui, route):
    """A page at rebind.example:PORT whose DNS now says 127.0.0.1 is same-origin to the browser: its Host says so."""
    port = ui["base"].rsplit(":", 1)[1]
    headers = {"Host": f"rebind.example:{port}", "Origin": f"http://rebind.example:{port}", **FORM_TYPE}
    method, data = ("POST", form({TOKEN_FIELD: ui["token"]})) if route == "/swarm" else ("GET", None)
    code, _, body = call(ui["base"] + route, method, headers, data)
    assert code == 403 and "Host: rebind.example" in orjson.loads(body)["message"], (code, body[:200])
    assert "FIXLOAD_WEB_HOSTS" in orjson.loads(body)["message"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "ui.localhost"])
def test_addresses_and_localhost_are_answered(ui, host):
    port = ui["base"].rsplit(":", 1)[1]
    code, _, _ = call(ui["base"] + "/fixload/status.json", headers={"Host": f"{host}:{port}"})
    assert code == 200


def test_which_host_names_are_known():
    from fixload.surfaces.guard import known_host

    names = frozenset({"loadbox"})
    assert known_host("loadbox:8089", names) and known_host("10.1.2.3:8089", names) and known_host("[::1]", names)
    assert not known_host("rebind.example:8089", names) and not known_host("loadbox.evil.example", names)


# ------------------------------------------------------------------------------ state-changing routes
def _body(route: str, ui) -> bytes:
    if route == "/swarm":
        return form(_start_fields(ui))
    if route == "/user":
        return orjson.dumps({"user_class_name": "BookingFlow", "fixed_count": 5})
    return b""


CASES = {
    "evil Origin": lambda ui: {**_own(ui, ui["token"]), "Origin": EVIL},
    "Origin of another port": lambda ui: {**_own(ui, ui["token"]), "Origin": "http://127.0.0.1:1"},
    "Origin null": lambda ui: {**_own(ui, ui["token"]), "Origin": "null"},
    "Sec-Fetch-Site cross-site": lambda ui: {**_own(ui, ui["token"]), "Sec-Fetch-Site": "cross-site"},
    "Sec-Fetch-Site same-site": lambda ui: {**_own(ui, ui["token"]), "Sec-Fetch-Site": "same-site"},
    "no token": lambda ui: _own(ui),
    "wrong token": lambda ui: _own(ui, "x" * 43),
    "no token, no browser headers": lambda ui: dict(FORM_TYPE),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("route", POST_ROUTES)
def test_a_state_changing_request_from_elsewhere_is_refused(ui, route, case):
    assert ui["token"], "no token from /fixload/token.json"
    sent, refusals = _sent(ui), _refusals(ui)
    code, headers, body = call(ui["base"] + route, "POST", CASES[case](ui), _body(route, ui))
    assert code == 403 and headers.get("x-fixload-refused") == "1", (code, body[:300])
    assert orjson.loads(body)["success"] is False
    assert _refusals(ui) == refusals + 1
    assert _idle(ui) and _sent(ui) == sent


def test_the_token_in_a_form_field_is_accepted_too(ui):
    code, _, body = call(ui["base"] + "/stop", "POST", FORM_TYPE, form({TOKEN_FIELD: ui["token"]}))
    assert code == 200 and orjson.loads(body)["success"], body
    code, _, body = call(ui["base"] + "/stats/reset", "POST", _own(ui, ui["token"]))
    assert (code, body) == (200, b"ok")


def test_the_page_carries_the_token(ui):
    page = http_get(ui["base"] + "/")[1].decode()
    assert re.search(r'<script src="\./fixload/ui\.js" data-token="([\w-]{43})" defer></script>', page)
    assert re.search(r'data-token="([\w-]+)"', page).group(1) == ui["token"]


# ------------------------------------------------------------------------------ what START may set
@pytest.mark.parametrize(
    "hidden",
    [
        {"allow_host_override": "true"},
        {"html_report": "/tmp/fixload-evil-report.html"},
        {"junit": "/tmp/fixload-evil-junit.xml"},
        {"web_login": "false"},
        {"exit_code_on_error": "0"},
    ],
    ids=lambda f: next(iter(f)),
)
def test_start_refuses_fields_the_form_does_not_show(ui, hidden):
    sent = _sent(ui)
    code, _, body = call(ui["base"] + "/swarm", "POST", _own(ui, ui["token"]), form(_start_fields(ui, **hidden)))
    answer = orjson.loads(body)
    name = next(iter(hidden))
    assert code == 200 and answer["success"] is False, answer
    assert f"{name}: not a field of the start form" in answer["message"]
    assert _idle(ui) and _sent(ui) == sent
    assert not Path(next(iter(hidden.values()))).exists()


def test_the_host_check_cannot_be_switched_off_from_a_request(ui):
    """The reproduction: allow_host_override=true, then a START to 127.0.0.2 (which would get the tokens)."""
    headers = _own(ui, ui["token"])
    call(ui["base"] + "/swarm", "POST", headers, form(_start_fields(ui, allow_host_override="true")))
    other = f"http://127.0.0.2:{free_port()}"
    code, _, body = call(ui["base"] + "/swarm", "POST", headers, form(_start_fields(ui, host=other)))
    answer = orjson.loads(body)
    assert code == 200
    assert answer["success"] is False and f"Host: {other} is not the configured target" in answer["message"]
    assert _idle(ui)


def test_a_typed_summary_path_does_not_replace_a_file_that_is_not_a_summary(ui):
    precious = ui["dir"] / "notes.txt"
    precious.write_text("the user's own notes\n")
    sent = _sent(ui)
    fields = _start_fields(ui, summary=str(precious))
    code, _, body = call(ui["base"] + "/swarm", "POST", _own(ui, ui["token"]), form(fields))
    answer = orjson.loads(body)
    assert code == 200 and answer["success"] is False
    assert answer["message"] == (
        f"Summary: {precious} exists and is not a fixload summary; START would replace it: type another path, "
        "or move that file away first"
    )
    assert precious.read_text() == "the user's own notes\n"
    assert _idle(ui) and _sent(ui) == sent


def test_which_summary_paths_start_may_write(tmp_path):
    from fixload.surfaces.guard import summary_refusal

    assert summary_refusal(str(tmp_path / "new.json")) is None
    earlier = tmp_path / "earlier.json"
    earlier.write_bytes(orjson.dumps({"metrics": {}, "root_group": {}, "fixload": {"version": "1"}}))
    assert summary_refusal(str(earlier)) is None  # a fixload summary: replaced, as the command line does
    k6 = tmp_path / "k6.json"
    k6.write_bytes(orjson.dumps({"metrics": {}, "root_group": {}}))  # k6's export, not fixload's
    assert "is not a fixload summary" in (summary_refusal(str(k6)) or "")
    assert "is not a regular file" in (summary_refusal(str(tmp_path)) or "")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "is not a regular file" in (summary_refusal(str(fifo)) or "")  # and nothing blocks on it


def test_locust_posts_through_the_global_fetch():
    """The shim's premise (fixload/surfaces/webui.js): Locust's React UI sends START, STOP and RESET through RTK
    Query's fetchBaseQuery, whose default fetchFn calls the global `fetch`. Fails when Locust changes that."""
    import locust

    bundle = "".join(p.read_text() for p in (Path(locust.__file__).parent / "webui" / "dist" / "assets").glob("*.js"))
    default = re.search(r"fetchFn:\w+=(\w+)", bundle)
    assert default, "fetchBaseQuery's fetchFn default is gone"
    assert re.search(re.escape(default.group(1)) + r"=\(\.\.\.(\w+)\)=>fetch\(\.\.\.\1\)", bundle)
    for name, url in (("startSwarm", "swarm"), ("stopSwarm", "stop"), ("resetStats", "stats/reset")):
        assert re.search(name + r":\w+\.mutation\(\{query:[^}]*url:`" + re.escape(url) + "`,method:`POST`", bundle)
    assert "fetchFn:" not in bundle.split("startSwarm", 1)[0][-3000:]  # no fetchFn of its own for this API


# ------------------------------------------------------------------------------------------ login
@pytest.fixture(scope="module")
def locked(simulator, tmp_path_factory):
    directory = tmp_path_factory.mktemp("webui-security-login")
    port = free_port()
    env = child_env({**simulator.env, USERNAME_ENV: "ops", PASSWORD_ENV: "correct-horse-battery"})
    proc = Process([*LOCUST, "--web-port", str(port), "--web-login"], env, directory, "locust")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_get(base + "/login")[0] == 200 or proc.popen.poll() is not None, 30, "the web UI")
        assert proc.popen.poll() is None, proc.output()[-3000:]
        basic = "Basic " + base64.b64encode(b"ops:correct-horse-battery").decode()
        code, _, body = call(base + "/fixload/token.json", headers={"Authorization": basic})
        token = orjson.loads(body)["token"] if code == 200 else ""
        yield {"base": base, "token": token}
    finally:
        proc.stop()


def test_login_needs_the_page_and_its_token(locked):
    account = {"username": "ops", "password": "correct-horse-battery"}
    own = {"Origin": locked["base"], "Sec-Fetch-Site": "same-origin", **FORM_TYPE}
    for headers, fields in (
        ({**own, "Origin": EVIL}, {**account, TOKEN_FIELD: locked["token"]}),
        ({**own, "Sec-Fetch-Site": "cross-site"}, {**account, TOKEN_FIELD: locked["token"]}),
        (own, account),
        (own, {**account, TOKEN_FIELD: "wrong"}),
    ):
        code, response, _ = call(locked["base"] + "/fixload/login", "POST", headers, form(fields))
        assert code == 403 and "set-cookie" not in response, (headers, fields)
    code, response, _ = call(
        locked["base"] + "/fixload/login", "POST", own, form({**account, TOKEN_FIELD: locked["token"]})
    )
    assert code == 302 and "session=" in response.get("set-cookie", "")
    assert "samesite=strict" in response["set-cookie"].lower()
    port = locked["base"].rsplit(":", 1)[1]  # with --web-login any name may be used (loadbox:8089): a login is needed
    code, response, _ = call(locked["base"] + "/fixload/status.json", headers={"Host": f"loadbox:{port}"})
    assert code == 302 and "/login" in response["location"]
    page = http_get(locked["base"] + "/login")[1].decode()
    assert f"i.value = '{locked['token']}'" in page  # the login page adds the token to its form


# ------------------------------------------------------------------------------------------ the browser
class _EvilPage(BaseHTTPRequestHandler):
    """Another origin on loopback (127.0.0.2): serves one page, with an iframe for a form post to land in."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>elsewhere</title><iframe name=sink></iframe>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture(scope="module")
def evil():
    server = ThreadingHTTPServer(("127.0.0.2", free_port()), _EvilPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def page(ui):
    with DevToolsPage(require_browser(), height=1250) as devtools:
        yield devtools


READ = """(async () => { try { const r = await fetch(%r);
  return "read " + r.status + ": " + (await r.text()).slice(0, 80); } catch (e) { return "blocked"; } })()"""


def test_a_page_from_another_origin_cannot_read(ui, page, evil):
    page.goto(evil + "/", "document.title === 'elsewhere'")
    for route in ("/fixload/summary.json", "/fixload/status.json", "/metrics", "/logs", "/fixload/token.json"):
        assert page.evaluate(READ % (ui["base"] + route)) == "blocked", route


def test_a_page_from_another_origin_cannot_start(ui, page, evil):
    ui["sim"].reset_stats()
    refusals = _refusals(ui)
    page.goto(evil + "/", "document.title === 'elsewhere'")
    fields = _start_fields(ui, summary=str(ui["dir"] / "planted.json"))
    # 1. a plain form post (no JavaScript needed), into the page's iframe
    page.evaluate(
        f"""(() => {{ const f = Object.assign(document.createElement("form"),
            {{method: "POST", action: {ui["base"] + "/swarm"!r}, target: "sink"}});
          for (const [k, v] of Object.entries({orjson.dumps(fields).decode()})) {{
            f.append(Object.assign(document.createElement("input"), {{name: k, value: v}})); }}
          document.body.append(f); f.submit(); }})()"""
    )
    wait_for(lambda: _refusals(ui) >= refusals + 1, 10, "the form post to arrive and be refused")
    # 2. fetch, as a "simple" request (no preflight), and with a guessed token header (a preflight first)
    body = orjson.dumps(fields).decode()
    simple = f"""fetch({ui["base"] + "/swarm"!r}, {{method: "POST", mode: "no-cors", credentials: "include",
        body: new URLSearchParams({body})}}).then(() => "sent", () => "blocked")"""
    assert page.evaluate(simple) == "sent"  # opaque: the page learns nothing, and the UI refused it
    wait_for(lambda: _refusals(ui) >= refusals + 2, 10, "the simple fetch to arrive and be refused")
    guessed = f"""fetch({ui["base"] + "/swarm"!r}, {{method: "POST", credentials: "include",
        headers: {{"X-Fixload-Token": "guess"}}, body: new URLSearchParams({body})}})
        .then((r) => "answered " + r.status, () => "blocked")"""
    assert page.evaluate(guessed) == "blocked"  # its preflight gets no grant: the POST is never sent
    assert _idle(ui)
    assert _sent(ui) == 0, "the target received requests"
    assert not (ui["dir"] / "planted.json").exists()


NEW_BUTTON = "[...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'New')"


def _open_form(page: DevToolsPage, ui) -> None:
    page.goto(ui["base"] + "/", f"{NEW_BUTTON} || document.body.innerText.includes('Start new load test')")
    if page.evaluate(NEW_BUTTON):  # stopped (an earlier test's STOP): NEW opens the form
        page.click("button", "New")
    page.wait("document.querySelector('input[name=userCount]').value.startsWith('set by the profile')", 15)


def test_a_page_from_an_earlier_process_is_told_to_reload(ui, page):
    """A tab left open across a restart of the UI holds the old token: its START is refused, the banner says why."""
    refusals, sent = _refusals(ui), _sent(ui)
    _open_form(page, ui)
    page.evaluate("document.querySelector('script[src$=\"fixload/ui.js\"]').dataset.token = 'from-before'")
    page.click("button[type=submit]")
    banner = "(document.getElementById('fixload-banner') || {}).innerText || ''"
    shown = page.wait(f"(() => {{ const t = {banner}; return t.includes('reload the page') && t; }})()", 10)
    assert "wrong X-Fixload-Token" in shown
    assert _refusals(ui) == refusals + 1 and _idle(ui) and _sent(ui) == sent


def test_the_page_itself_still_starts_and_stops(ui, page):
    ui["sim"].reset_stats()
    refusals = _refusals(ui)

    def counted() -> int:  # the flows' requests, as Locust counts them
        return sum(s["num_requests"] for s in get_json(ui["base"] + "/stats/requests")["stats"])

    _open_form(page, ui)
    page.click("button[type=submit]")
    wait_for(lambda: _state(ui) == "running" and counted() > 0, 30, "the page's START to send load")
    assert _sent(ui) > 0
    page.click("button", "Stop")
    page.wait("(document.getElementById('fixload-banner') || {}).innerText?.includes('INTERRUPTED')", 40)
    assert get_json(ui["base"] + "/fixload/summary.json")["fixload"]["status"] == "interrupted"
    page.click("button", "Reset")  # Locust's RESET, through the same fetch
    wait_for(lambda: counted() == 0, 10, "the page's RESET")
    assert _refusals(ui) == refusals, "the page's own requests were refused"
