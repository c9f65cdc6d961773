"""The web UI as the repository ships it: plain `locust` from the repository root listens on 127.0.0.1 only
(`[tool.locust]` in pyproject.toml), and `--web-login` with FIXLOAD_WEB_USERNAME / FIXLOAD_WEB_PASSWORD asks
for that account: in the browser through Locust's login page, for scripts through HTTP basic auth; nothing
(page, fixload's routes, /metrics) is served without it, and the password shows nowhere."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fixload.surfaces.login import PASSWORD_ENV, USERNAME_ENV
from tests.support import free_port, wait_for
from tests.surfacekit import LOCUST, SCREENSHOTS, DevToolsPage, Process, child_env, require_browser

USERNAME = "ops"
PASSWORD = "correct-horse-battery"  # a test account's password, not a secret of any system


def _listening(port: int) -> list[str]:
    """The local addresses listening on `port` (from /proc/net/tcp{,6}: state 0A is LISTEN)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=5) as response:
            return response.status, response.headers.get("Location", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read()
    except (urllib.error.URLError, OSError):  # not listening (yet)
        return 0, "", b""


@pytest.fixture(scope="module")
def locked(simulator, tmp_path_factory):
    directory = tmp_path_factory.mktemp("webui-login")
    port = free_port()
    env = child_env({**simulator.env, USERNAME_ENV: USERNAME, PASSWORD_ENV: PASSWORD})
    # plain `locust` as a person types it in the repository root: locustfile and web host from pyproject
    proc = Process([*LOCUST, "--web-port", str(port), "--web-login"], env, directory, "locust")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/login")[0] == 200 or proc.popen.poll() is not None, 30, "the web UI")
        assert proc.popen.poll() is None, proc.output()[-3000:]
        yield {"base": base, "port": port, "proc": proc}
    finally:
        proc.stop()


def test_plain_locust_listens_on_loopback_only(locked):
    assert _listening(locked["port"]) == ["0100007F"]  # 127.0.0.1, and no other address
    assert f"Starting web interface at http://127.0.0.1:{locked['port']}" in locked["proc"].output()


@pytest.mark.parametrize("path", ["/", "/fixload/status.json", "/fixload/panel.json", "/metrics", "/stats/requests"])
def test_nothing_is_served_without_the_account(locked, path):
    code, location, body = _get(locked["base"] + path)
    assert code == 302 and location.startswith("/login"), (code, body[:200])
    code, location, _ = _get(locked["base"] + path, ("ops", "wrong"))
    assert code == 302 and location.startswith("/login")
    code, _, body = _get(locked["base"] + path, (USERNAME, PASSWORD))  # HTTP basic auth: scripts, scrapers
    assert code == 200 and body


def test_the_login_page_lets_the_account_in(locked):
    with DevToolsPage(require_browser()) as page:
        page.goto(locked["base"] + "/", "!!document.querySelector('input[name=password]')")
        page.type_into("username", USERNAME)
        page.type_into("password", "not-it")
        page.click("button[type=submit]")
        page.wait("document.body.innerText.includes('Invalid username or password')")
        page.type_into("username", USERNAME)  # the login page came back empty
        page.type_into("password", PASSWORD)
        page.click("button[type=submit]")
        page.wait("document.body.innerText.includes('Start new load test')")
        page.wait("(document.getElementById('fixload-banner') || {}).innerText?.includes('fixload: ready')")
        page.screenshot(SCREENSHOTS / "webui-after-login.png")
        text = page.text()
    assert PASSWORD not in text and PASSWORD not in locked["proc"].output()


@pytest.mark.slow
def test_web_login_without_the_account_is_bad_input(simulator, tmp_path):
    proc = Process([*LOCUST, "--web-port", str(free_port()), "--web-login"], child_env(simulator.env), tmp_path, "x")
    assert proc.wait(30) == 104
    assert f"--web-login: set {USERNAME_ENV} and {PASSWORD_ENV}" in proc.output()
