"""Helpers for the operator-surface tests (issue 8): short profiles, real Locust processes, headless Chromium.

Every wait is bounded and waits for something observable (a port answering, a JSON field, a process
exit); the polling interval is not synchronisation.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from fixload.common.durations import format_duration, parse_duration
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[1]
SHORT_PROFILE = REPO / "profiles" / "baseline-short.json"
SCREENSHOTS = REPO / "reports" / "screenshots"
LOCUST = [sys.executable, "-m", "locust"]


def scaled_profile(
    directory: Path, factor: float, name: str = "short.json", extra_thresholds: Mapping[str, list[str]] | None = None
) -> Path:
    """profiles/baseline-short.json with every duration divided by `factor` (rates, VUs, thresholds kept)."""
    profile = orjson.loads(SHORT_PROFILE.read_bytes())

    def scale(value: Any) -> str:
        return format_duration(parse_duration(value) / factor)

    for scenario in profile["scenarios"].values():
        for key in ("duration", "startTime", "maxDuration"):
            if key in scenario:
                scenario[key] = scale(scenario[key])
        for stage in scenario.get("stages", []):
            stage["duration"] = scale(stage["duration"])
    profile["profile"] = f"{profile['profile']} / {factor:g}"
    for key, expressions in (extra_thresholds or {}).items():
        profile["thresholds"].setdefault(key, []).extend(expressions)
    path = directory / name
    path.write_bytes(orjson.dumps(profile, option=orjson.OPT_INDENT_2))
    return path


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, b""


def http_post_form(url: str, fields: Mapping[str, str], timeout: float = 10.0) -> tuple[int, bytes]:
    data = "&".join(f"{k}={urllib.request.quote(str(v), safe='')}" for k, v in fields.items()).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def get_json(url: str) -> Any:
    status, body = http_get(url)
    return orjson.loads(body) if status == 200 and body else None


class Process:
    """A child process with its output in files (so a full pipe never blocks it)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], directory: Path, name: str) -> None:
        self.argv = list(argv)
        self.out = directory / f"{name}.out"
        self.err = directory / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(self.argv, env=dict(env), cwd=REPO, stdout=out, stderr=err)

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in (self.out, self.err) if p.exists())

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.argv[:4]} did not exit in {timeout}s:\n{self.output()[-4000:]}") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        return self.popen.returncode


@contextlib.contextmanager
def web_ui(simulator: Any, directory: Path, profile: Path) -> Iterator[tuple[str, Process]]:
    """A `locust` web UI on loopback for `profile` against `simulator`, up and answering: (its base URL, its
    process), stopped on the way out. The summary and HTML report go to `directory`."""
    from tests.support import free_port

    port = free_port()
    argv = [*LOCUST, "-f", "locustfiles/", "--profile", str(profile), "-H", simulator.base_url]
    argv += ["--web-port", str(port), "--web-host", "127.0.0.1", "--summary", str(directory / "summary.json")]
    argv += ["--html-report", str(directory / "report.html")]
    proc = Process(argv, child_env(simulator.env), directory, "locust")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_get(base + "/")[0] == 200 or proc.popen.poll() is not None, 30, "the web UI")
        assert proc.popen.poll() is None, proc.output()[-3000:]
        yield base, proc
    finally:
        proc.stop()


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "LOCUST_"))}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def assert_no_secrets(text: str, env: Mapping[str, str], where: str) -> None:
    for name in ("K6_USER_TOKEN", "K6_PROVIDER_TOKEN", "K6_ADMIN_TOKEN"):
        value = env.get(name, "")
        assert value, f"the simulator gave no {name}"
        assert value not in text, f"{name} appears in {where}"
    assert "Bearer ey" not in text and "bearer ey" not in text.lower(), f"a bearer token appears in {where}"


# ------------------------------------------------------------------------------------------ browser
def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


NO_BROWSER = (
    "no headless browser: Debian's `chromium` is not installed (run scripts/install-browser, which CI's script does)"
)


def require_browser() -> str:
    """The headless browser's binary. Without one a developer's run skips the browser checks, saying why;
    CI (CI=true) fails them instead: a browser check that silently skips in CI checks nothing."""
    import pytest

    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{NO_BROWSER}; CI=true, so this fails instead of skipping")
        pytest.skip(NO_BROWSER)
    return binary


class Browser:
    """Headless Chromium, one fresh profile per call (flags that work in this container)."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    )

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def _run(self, args: Iterable[str], timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        with tempfile.TemporaryDirectory(prefix="fixload-chromium-") as profile:
            argv = [self.binary, *self.FLAGS, f"--user-data-dir={profile}", *args]
            return subprocess.run(argv, capture_output=True, timeout=timeout, check=False)

    def screenshot(self, url: str, path: Path, size: str = "1400,900", budget_ms: int = 4000) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        done = self._run([f"--screenshot={path}", f"--window-size={size}", f"--virtual-time-budget={budget_ms}", url])
        assert path.exists() and path.stat().st_size > 5000, f"no screenshot of {url}: {done.stderr[-2000:]!r}"
        return path

    def dump_dom(self, url: str, budget_ms: int = 4000) -> str:
        done = self._run(["--window-size=1400,900", f"--virtual-time-budget={budget_ms}", "--dump-dom", url])
        return done.stdout.decode(errors="replace")


class DevToolsPage:
    """One headless Chromium page driven over the DevTools protocol (to click and wait, then screenshot).

    The websocket client is `simple_websocket` (a dependency of Locust's python-socketio). Use as a context
    manager; every wait is a bounded poll on the page's own state.
    """

    def __init__(self, binary: str, width: int = 1400, height: int = 900) -> None:
        from simple_websocket import Client

        self._profile = tempfile.mkdtemp(prefix="fixload-cdp-")
        argv = [binary, *Browser.FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0"]
        argv += ["--remote-debugging-address=127.0.0.1", f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self._profile) / "DevToolsActivePort"
        wait_for(lambda: port_file.exists() and port_file.read_text().strip(), 30, "Chromium's DevTools port")
        port = int(port_file.read_text().split()[0])
        targets = wait_for(
            lambda: [t for t in (get_json(f"http://127.0.0.1:{port}/json/list") or []) if t.get("type") == "page"],
            15,
            "a page target",
        )
        self.ws = Client.connect(targets[0]["webSocketDebuggerUrl"])
        self._id = 0
        self.events: list[dict[str, Any]] = []
        """The protocol's events received so far (a domain enabled with `call`), oldest first, until `event`
        takes them."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        wanted = self._id
        self.ws.send(orjson.dumps({"id": wanted, "method": method, "params": params}).decode())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            data = self._receive(deadline)
            if data is not None and data.get("id") == wanted:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})
        raise TimeoutError(f"no answer to {method}")

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        """The next message from the page (an event is kept in `events`), or None at `deadline`."""
        message = self.ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        if message is None:
            return None
        data = orjson.loads(message)
        if "method" in data and "id" not in data:
            self.events.append(data)
        return data

    def event(self, method: str, match: str = "", timeout: float = 20.0) -> dict[str, Any]:
        """The oldest event named `method` not taken yet whose params mention `match` (its `params`), waiting for
        it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for kept in self.events:
                if kept["method"] == method and match in orjson.dumps(kept.get("params", {})).decode():
                    self.events.remove(kept)
                    return kept["params"]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {method} event matching {match!r} in {timeout} s")
            self._receive(deadline)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def goto(self, url: str, ready: str, timeout: float = 20.0) -> None:
        """Navigate, then wait until the JS expression `ready` is truthy on the new page (not the old one)."""
        self.evaluate("window.__leaving = true")
        self.call("Page.navigate", url=url)
        wait_for(lambda: self.evaluate(f"!window.__leaving && !!({ready})"), timeout, f"{url}: {ready}")

    def wait(self, expression: str, timeout: float = 20.0) -> Any:
        return wait_for(lambda: self.evaluate(expression), timeout, expression)

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText") or "")

    def click(self, selector: str, text: str | None = None, timeout: float = 20.0) -> None:
        """A real mouse click (pressed + released at the element's centre), as a user's, on the first element
        matching the CSS `selector` (and whose text is `text`, case-insensitive), once it is visible."""
        wanted = orjson.dumps(text.lower() if text is not None else None).decode()
        find = f"""(() => {{ const e = [...document.querySelectorAll({selector!r})].find(e =>
              ({wanted} === null || e.textContent.trim().toLowerCase() === {wanted}) && e.getClientRects().length);
              if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
              return [r.x + r.width / 2, r.y + r.height / 2]; }})()"""
        last: list[Any] = [None]

        def stable() -> Any:  # the same place twice in a row: not moving (an accordion opening above it, say)
            here, before = self.evaluate(find), last[0]
            last[0] = here
            return here if here is not None and here == before else None

        x, y = wait_for(stable, timeout, f"{selector} {text or ''} in place", interval=0.1)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def type_into(self, name: str, value: str) -> None:
        """Replace what the input named `name` holds by typing `value` (empty: clear it), as a user would."""
        self.wait(f"!!document.querySelector('input[name={name}]')")
        self.evaluate(f"(() => {{ const i = document.querySelector('input[name={name}]'); i.focus(); i.select(); }})()")
        if value:
            self.call("Input.insertText", text=value)
        else:
            for kind in ("keyDown", "keyUp"):
                self.call(
                    "Input.dispatchKeyEvent", type=kind, key="Backspace", code="Backspace", windowsVirtualKeyCode=8
                )
        self.wait(f"document.querySelector('input[name={name}]').value === {value!r}", 5)

    def screenshot(self, path: Path) -> Path:
        import base64

        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> DevToolsPage:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
