"""Issue 25 point 5: a secret is masked in every encoding a target may echo it in, at any length, and a
secret in the base URL's query string is masked wherever the URL is shown."""

from __future__ import annotations

import base64
import html
import itertools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import orjson
import pytest
from hostilekit import Hostile, Received, answer
from test_hostile_targets import ProbeUser, failures, iterate, user_of

from fixload.common import secrets

ROOT = Path(__file__).resolve().parents[1]
SLASHY = "tok/en+with=ünï/slashes9"
SHORT = "k3y"


@pytest.fixture(autouse=True)
def _own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a test registers stays in it (a short secret would otherwise be masked in later tests' output)."""
    monkeypatch.setattr(secrets, "_known", set(secrets._known))


def _json_slash(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1].replace("/", "\\/")


ENCODINGS = {
    "raw": lambda v: v,
    "json \\/ (PHP json_encode)": _json_slash,
    "json \\u002f": lambda v: v.replace("/", "\\u002f"),
    "json \\u002F": lambda v: v.replace("/", "\\u002F"),
    "json ensure_ascii": lambda v: json.dumps(v)[1:-1],
    "json every char \\u": lambda v: "".join(f"\\u{ord(c):04x}" for c in v),
    "json in json": lambda v: json.dumps(_json_slash(v))[1:-1],
    "url %2F": lambda v: quote(v, safe=""),
    "url %2f": lambda v: quote(v, safe="").lower(),
    "url + form": quote_plus,
    "url twice": lambda v: quote(quote(v, safe=""), safe=""),
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64 unpadded": lambda v: base64.b64encode(v.encode()).decode().rstrip("="),
    "base64 urlsafe": lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
    "base64 urlsafe unpadded": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "html entities": lambda v: html.escape(v).replace("/", "&#x2F;").replace("+", "&#43;"),
}


def _inner_base64(value: str, prefix: bytes) -> tuple[str, str]:
    """base64 of `prefix + value`, and the part of it that is value's alone (what must not survive)."""
    encoded = base64.b64encode(prefix + value.encode()).decode()
    start = {0: 0, 1: 2, 2: 3}[len(prefix) % 3] + len(prefix) // 3 * 4
    return encoded, encoded[start : (len(prefix) + len(value.encode())) * 4 // 3]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_long_secret_is_masked_in_every_encoding(encoding: str) -> None:
    secrets.register_secrets([SLASHY])
    form = ENCODINGS[encoding](SLASHY)
    assert form != SLASHY or encoding == "raw"
    assert secrets.redact(f'{{"echo": "{form}", "n": 1}}') == '{"echo": "***", "n": 1}', form


@pytest.mark.parametrize("prefix", [b"Bearer ", b"u:", b"x"])
def test_a_secret_inside_a_longer_base64_text_is_masked(prefix: bytes) -> None:
    secrets.register_secrets([SLASHY])
    encoded, own = _inner_base64(SLASHY, prefix)
    assert own not in secrets.redact(f"auth {encoded} end")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('{"apiKey": "k3y"}', '{"apiKey": "***"}'),
        ("GET /x?key=k3y&page=2", "GET /x?key=***&page=2"),
        ("X-Api-Key: k3y\r\nAccept: */*", "X-Api-Key: ***\r\nAccept: */*"),
        ("Authorization: Bearer k3y", "Authorization: Bearer ***"),
        ('{"apiKey": "k3y\\u0021"}', '{"apiKey": "k3y\\u0021"}'),  # not the value: another one
        ("the k3y is k3yboard and k3y3", "the k3y is k3yboard and k3y3"),  # ordinary text stays
        ('{"n": 1, "k3y": 2}', '{"n": 1, "***": 2}'),
    ],
)
def test_a_short_secret_is_masked_where_it_stands_alone_as_a_value(text: str, masked: str) -> None:
    secrets.register_secrets([SHORT])
    assert secrets.redact(text) == masked


def test_a_short_secret_is_masked_in_its_encodings_too() -> None:
    secrets.register_secrets(["a/b"])
    for form in ("a\\/b", "a\\u002fb", "a%2Fb", "a%2fb", "YS9i"):
        assert secrets.redact(f'{{"v": "{form}"}}') == '{"v": "***"}', form


def test_base_url_query_values_are_secrets_and_are_masked_in_the_url() -> None:
    url = "https://lt:pw@h:8443/api?access_token=qs-tok-31337&sig=ab1&v=1"
    assert secrets.mask_url(url) == "https://***@h:8443/api?access_token=***&sig=***&v=***"
    secrets.register_url_userinfo(url)
    assert secrets.redact("GET https://h:8443/api?access_token=qs-tok-31337/x failed") == (
        "GET https://h:8443/api?access_token=***/x failed"
    )
    assert secrets.redact('{"sig": "ab1"}') == '{"sig": "***"}'  # short, but its name says credential
    assert secrets.redact("rate==1, v=1") == "rate==1, v=1"  # `v=1` is no credential: `1` stays a number


def test_a_short_secret_is_not_taken_for_an_operand() -> None:
    secrets.register_secrets(["1"])
    assert secrets.redact("checks: rate==1, p(95)<=1") == "checks: rate==1, p(95)<=1"
    assert secrets.redact("GET /x?debug=1") == "GET /x?debug=***"


def echo_everything(request: Received) -> bytes:
    """A 500 whose body echoes what the request carried, JSON-escaped with `\\/` (as PHP does), plus the token
    URL-encoded and base64 (each form as a JSON string value)."""
    token = (request.header("authorization") or "").removeprefix("Bearer ")
    key = request.header("x-api-key") or ""
    body = {
        "headers": {k: _json_slash(v) for k, v in request.headers.items()},
        "path": request.path,
        "forms": [_json_slash(token), quote(token, safe=""), base64.b64encode(token.encode()).decode(), key],
    }
    return orjson.dumps(body).replace(b"\\\\/", b"\\/")


def test_a_flow_failure_against_an_echoing_target_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """The token with `/` echoed JSON-escaped reached the console and failures[].body raw before."""
    caplog.set_level(logging.DEBUG)
    with Hostile(answer(500, echo_everything)) as server:
        user = user_of(ProbeUser, server.url, K6_USER_TOKEN=SLASHY, FIXLOAD_HEADERS=f"X-Api-Key: {SHORT}")
        iterate(user)
    shown = caplog.text + json.dumps(failures(user)) + "".join(str(e) for e in user.environment.stats.errors.values())
    assert "headers" in shown  # the echo reached the log
    for encoding, encode in ENCODINGS.items():
        assert encode(SLASHY) not in shown, encoding
    assert f'"{SHORT}"' not in shown and f": {SHORT}" not in shown


@pytest.mark.slow
def test_a_run_against_an_echoing_target_with_a_query_token_leaks_nothing(tmp_path: Path) -> None:
    """A real headless run: the base URL carries `?access_token=`, the target echoes every secret JSON-escaped;
    console, summary, HTML report and JUnit hold none of them, and the summary shows the URL masked."""
    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps({"scenarios": {"analytics_flow": {"executor": "constant-vus", "vus": 1, "duration": "1s"}}})
    )
    query_token = "qs/tok-2718281828"
    with Hostile(answer(500, echo_everything)) as server:
        base_url = f"{server.url}/?access_token={quote(query_token, safe='')}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
        env |= {"K6_COMPANY_ID": "c-1", "K6_PROVIDER_ID": "p-1", "K6_CUSTOMER_ID": "cu-1", "K6_BASE_URL": base_url}
        env |= {"K6_ADMIN_TOKEN": SLASHY, "K6_USER_TOKEN": "user/tok-1234567", "K6_PROVIDER_TOKEN": "prov/tok-7654321"}
        env |= {
            "FIXLOAD_HEADERS": f"X-Api-Key: {SHORT}",
            "K6_ZONE_ID": "z",
            "K6_SERVICE_ID": "s",
            "K6_CAMPAIGN_ID": "c",
        }
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        summary, report, junit = tmp_path / "s.json", tmp_path / "r.html", tmp_path / "j.xml"
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles"), "--headless", "--profile", str(profile),
             "--summary", str(summary), "--html-report", str(report), "--junit", str(junit)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert server.received, done.stderr[-2000:]
    texts = {"console": done.stdout + done.stderr, **{p.name: p.read_text() for p in (summary, report, junit)}}
    for name, text in texts.items():
        for secret in (SLASHY, query_token, "user/tok-1234567"):
            for encoding, encode in ENCODINGS.items():
                assert encode(secret) not in text, (name, encoding, secret)
        assert f'"{SHORT}"' not in text and f"X-Api-Key: {SHORT}" not in text, name
    assert json.loads(summary.read_text())["fixload"]["target"] == f"{server.url}/?access_token=***"


def test_validate_shows_the_base_url_with_its_query_token_masked(tmp_path: Path) -> None:
    """`fixload validate` printed `?access_token=<the token>` in its target line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env |= {"K6_COMPANY_ID": "c-1", "K6_PROVIDER_ID": "p-1", "K6_CUSTOMER_ID": "cu-1"}
    env |= {"K6_USER_TOKEN": "user-tok-3141592", "K6_PROVIDER_TOKEN": "prov-tok-27182", "K6_ADMIN_TOKEN": "admn-tok-16"}
    env["K6_BASE_URL"] = "http://127.0.0.1:9/api?access_token=qs-tok-8675309&sig=abc"
    done = subprocess.run(
        [sys.executable, "-m", "fixload", "validate", "--profile", str(ROOT / "profiles" / "baseline.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "http://127.0.0.1:9/api?access_token=***&sig=***" in done.stdout
    assert "qs-tok-8675309" not in done.stdout + done.stderr and "=abc" not in done.stdout + done.stderr


def test_prepared_patterns_are_not_compiled_again_by_an_escaped_text() -> None:
    """A text with an escape (the web UI's JSON, a URL-encoded failure) runs every secret's pattern: the web UI
    compiles them before it serves (`prepare`), so its first answers do not stall the event loop doing it."""
    secrets.register_secrets([SLASHY, "an0ther-s3cret-value"])
    secrets.prepare()
    compiled = secrets._secret_pattern.cache_info().misses
    text = f'{{"echo": "{_json_slash(SLASHY)}", "url": "{quote("an0ther-s3cret-value", safe="")}%20"}}'
    assert SLASHY not in (masked := secrets.redact(text)) and "an0ther" not in masked
    assert secrets._secret_pattern.cache_info().misses == compiled


def test_a_worker_prepares_one_pattern_per_pause() -> None:
    """A worker compiles the patterns between hub turns (`prepare(pause)`): every one compiled, one at a time."""
    secrets.register_secrets([SLASHY, "an0ther-s3cret-value", "a-third-s3cret-value"])
    forms = {form for _, form, _ in secrets._patterns}
    compiled: list[int] = []
    secrets.prepare(lambda: compiled.append(secrets._secret_pattern.cache_info().currsize))
    assert len(compiled) == len(secrets._patterns) >= 3
    assert all(0 <= b - a <= 1 for a, b in itertools.pairwise(compiled))  # one per pause at most
    misses = secrets._secret_pattern.cache_info().misses
    for form in forms:
        secrets._secret_pattern(form)
    assert secrets._secret_pattern.cache_info().misses == misses
