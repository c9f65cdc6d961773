"""Configured secrets never leave fixload unmasked: tokens, FIXLOAD_HEADERS values and URL userinfo, in their
raw, URL-encoded and base64 forms, against a loopback target that echoes them back in every response."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from fixload.common import secrets
from fixload.profile.config import RunConfig
from fixload.profile.environment import register_configured_secrets, resolve_target
from fixload.profile.plan import build_plan
from fixload.profile.schema import parse_profile

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "admin-tok/+=9f8e7d6c5b4a"  # URL-encoding and base64 both change it
API_KEY = "key-3c1b0a9f8e7d6c5b"
PASSWORD = "pw:s3cr3t/é"
IDS = {"K6_COMPANY_ID": "company-1", "K6_PROVIDER_ID": "provider-1", "K6_CUSTOMER_ID": "customer-1"}
TOKENS = {
    "K6_ADMIN_TOKEN": ADMIN,
    "K6_USER_TOKEN": "user-tok-a1b2c3d4e5f6",
    "K6_PROVIDER_TOKEN": "prov-tok-f6e5d4c3b2a1",
}


def _forms(value: str) -> set[str]:
    raw = value.encode()
    return {value, quote(value, safe=""), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}


def _leaked(text: str) -> list[str]:
    """Every form of every secret found in text (the password alone and user:password as Basic sends it)."""
    found = []
    for secret in [ADMIN, API_KEY, PASSWORD, f"lt:{PASSWORD}", *TOKENS.values()]:
        found += [form for form in _forms(secret) if form in text]
    return found


def test_every_form_is_masked():
    register_configured_secrets(
        {"K6_ADMIN_TOKEN": ADMIN, "FIXLOAD_HEADERS": f"X-Api-Key: {API_KEY}", "K6_BASE_URL": "http://lt:PW123456@h"}
    )
    for value in (ADMIN, API_KEY, "PW123456"):
        for form in _forms(value):
            assert secrets.redact(f"before {form} after") == "before *** after", form
    assert secrets.redact("GET http://lt:PW123456@h/x failed") == "GET http://***@h/x failed"
    assert secrets.mask_url("https://lt:other@host:8443/api") == "https://***@host:8443/api"
    assert secrets.mask_url("http://host/api") == "http://host/api"


def test_no_repr_carries_a_secret():
    profile = parse_profile(
        {
            "settings": {"headers": {"X-Api-Key": API_KEY}},
            "scenarios": {"analytics_flow": {"executor": "constant-vus", "duration": "1s"}},
        }
    )
    env = {
        **IDS,
        **TOKENS,
        "FIXLOAD_HEADERS": f"X-Other: {API_KEY}",
        "K6_BASE_URL": f"http://lt:{quote(PASSWORD, safe='')}@h",
    }
    config = RunConfig(plan=build_plan(profile), target=resolve_target(profile, env), env=env)
    for shown in (repr(config), repr(config.target), repr(profile), str(config.plan), repr(profile.settings)):
        assert _leaked(shown) == [], shown
        assert quote(PASSWORD, safe="") not in shown


class _Echo(BaseHTTPRequestHandler):
    """Answers everything with 500 and a body echoing the request's headers and the token in other forms."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        token = ADMIN
        body = json.dumps(
            {
                "headers": dict(self.headers.items()),
                "encoded": quote(token, safe=""),
                "base64": base64.b64encode(token.encode()).decode(),
                "message": f"token {token} rejected",
            }
        ).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_a_target_echoing_every_secret_leaks_none(echo, tmp_path):
    """A real headless Locust run against a loopback server that echoes the headers and the token URL-encoded
    and base64: nothing it logs or writes (console, summary, HTML, JUnit, `--samples`, the OTLP export) holds a
    secret, and the summary's target has its userinfo masked."""
    from tests.otlpkit import OtlpReceiver

    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps({"scenarios": {"analytics_flow": {"executor": "constant-vus", "vus": 1, "duration": "1s"}}}),
        encoding="utf-8",
    )
    base_url = f"http://lt:{quote(PASSWORD, safe='')}@127.0.0.1:{echo}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    env |= {**IDS, **TOKENS, "K6_BASE_URL": base_url, "FIXLOAD_HEADERS": f"X-Api-Key: {API_KEY}"}
    env |= {"K6_ZONE_ID": "zone-1", "K6_SERVICE_ID": "service-1", "K6_CAMPAIGN_ID": "campaign-1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    summary, html, junit = tmp_path / "s.json", tmp_path / "r.html", tmp_path / "j.xml"
    samples = tmp_path / "samples.jsonl"
    with OtlpReceiver() as otlp:
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles"), "--headless", "--profile", str(profile),
             "--summary", str(summary), "--html-report", str(html), "--junit", str(junit), "--samples", str(samples),
             "--otel-endpoint", otlp.url],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    exported = b"".join(otlp.raw).decode("utf-8", "replace")
    assert "http.client.request.duration" in exported
    assert _leaked(exported) == [] and quote(PASSWORD, safe="") not in exported
    assert done.returncode == 0, done.stderr[-3000:]  # no thresholds: every request failing still passes
    assert "Persona dashboard request" in done.stderr  # the flow logged its failures, with the echoed bodies
    for name, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        assert _leaked(text) == [], name
        assert quote(PASSWORD, safe="") not in text
    for path in (summary, html, junit, samples):
        text = path.read_text(encoding="utf-8")
        assert _leaked(text) == [], path.name
        assert quote(PASSWORD, safe="") not in text, path.name
    assert json.loads(summary.read_text(encoding="utf-8"))["fixload"]["target"] == f"http://***@127.0.0.1:{echo}"
