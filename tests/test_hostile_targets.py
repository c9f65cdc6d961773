"""Issue 25 (points 2, 5): the flows' client, setup's client and `fixload check` against loopback servers that
misbehave on purpose (tests/hostilekit.py): a whole-request deadline, a cut body is a failed request (status 0,
as k6 1.1 records it), and no redirect to another origin is followed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from flowkit import BASELINE, make_user, profile_data, runtime_of_user
from hostilekit import Hostile, answer, chunked_cut, cut, dribble, headers_late, redirect
from locust import task

from fixload.cli.check import check_config
from fixload.common.exitcodes import ExitCode
from fixload.flows.fixtures import SetupError, provision
from fixload.flows.flow import FlowUser
from fixload.profile.config import RunConfig
from fixload.profile.environment import request_timeout, resolve_target
from fixload.profile.plan import build_plan
from fixload.profile.schema import parse_profile
from fixload.profile.validation import validate_run
from fixload.runtime.recorder import install
from locustfiles.payments import PaymentsUser

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = {"zoneId": "z-1", "serviceId": "s-1", "campaignId": "c-1"}
API_KEY = "k3y-of-the-api-0042"
ENV = {
    "K6_USER_TOKEN": "user-tok-3141592",
    "K6_PROVIDER_TOKEN": "prov-tok-2718281",
    "K6_ADMIN_TOKEN": "admn-tok-1618033",
    "K6_COMPANY_ID": "company-1",
    "K6_PROVIDER_ID": "provider-1",
    "FIXLOAD_HEADERS": f"X-Api-Key: {API_KEY}",
}


def config(url: str, **env: str) -> RunConfig:
    profile = parse_profile(profile_data(), "hostile profile")
    merged = {**ENV, "K6_BASE_URL": url, **env}
    return RunConfig(plan=build_plan(profile), target=resolve_target(profile, merged), env=merged)


class ProbeUser(FlowUser):
    """One checked request whose body no step reads (`expect`, no `parse`), as the issue's drill had."""

    scenario = "probe_flow"
    needs_fixtures = False

    @task
    def probe_flow(self) -> None:
        with self.iteration():
            self.request("POST", "/probe", json={"n": 1}, token=self.token("user"), step="Probe", expect=201)


class SlowStepUser(FlowUser):
    """A flow that gives one request its own timeout (k6's `params.timeout`)."""

    scenario = "slow_step_flow"
    needs_fixtures = False

    @task
    def slow_step_flow(self) -> None:
        with self.iteration():
            self.request("GET", "/slow", step="Slow step", expect=200, timeout=0.5)


def user_of(cls: type[FlowUser], url: str, **env: str) -> Any:
    user = make_user(cls, config(url, **env), FIXTURES)
    install(runtime_of_user(user))  # k6's http_* metrics, as the plugin installs them
    return user


def iterate(user: Any) -> float:
    started = time.monotonic()
    for method in type(user).tasks:
        method(user)
    return time.monotonic() - started


def failed_requests(user: Any, status: str = "0") -> float | None:
    return runtime_of_user(user).registry.aggregate("http_req_failed", {"status": status}).compute("rate")


def failures(user: Any) -> list[dict[str, Any]]:
    return runtime_of_user(user).failures.by_scenario().get(user.scenario, [])


# ------------------------------------------------------------------ whole-request deadline
def test_a_dribbling_body_times_out_the_whole_flow_request() -> None:
    """Headers at once, then a byte every 0.2 s: FIXLOAD_HTTP_TIMEOUT=1 ends the request at 1 s (each read
    alone is quick, so a per-read timeout never fired), a failed request of status 0, as k6's `timeout`."""
    with Hostile(dribble(0.2, 40, status=201)) as server:
        user = user_of(PaymentsUser, server.url, FIXLOAD_HTTP_TIMEOUT="1")
        took = iterate(user)
    assert took < 3.0, took
    assert failed_requests(user) == 1.0
    [failure] = failures(user)
    assert failure["status"] == 0 and "request timeout after 1s" in failure["body"], failure


def test_a_flows_own_timeout_bounds_its_request() -> None:
    with Hostile(headers_late(3.0)) as server:
        user = user_of(SlowStepUser, server.url)
        took = iterate(user)
    assert took < 2.0, took
    assert failed_requests(user) == 1.0
    assert "request timeout after 0.5s" in failures(user)[0]["body"]


def test_setup_requests_are_bounded_as_a_whole() -> None:
    with Hostile(dribble(0.2, 40)) as server:
        started = time.monotonic()
        with pytest.raises(SetupError) as caught:
            provision(config(server.url, FIXLOAD_HTTP_TIMEOUT="1"))
    assert time.monotonic() - started < 3.0
    assert caught.value.status == 0 and "request timeout after 1s" in str(caught.value)


# ------------------------------------------------------------------ cut bodies
@pytest.mark.parametrize("rst", [True, False], ids=["reset", "closed"])
def test_a_cut_body_on_an_unparsed_step_is_a_failed_request(rst: bool) -> None:
    """201 declared with 1,000 bytes, 10 sent, then a reset (or a FIN): k6 1.1 records status 0 with
    "read: connection reset by peer" / "unexpected EOF"; so does fixload, and the iteration fails."""
    with Hostile(cut(10, 1000, 201, rst=rst)) as server:
        user = user_of(ProbeUser, server.url)
        iterate(user)
        iterate(user)
    assert failed_requests(user) == 1.0
    assert runtime_of_user(user).registry.aggregate("checks").compute("rate") == 0.0
    [failure] = failures(user)
    assert failure["status"] == 0 and failure["count"] == 2 and "response body cut" in failure["body"], failure


def test_a_cut_body_on_a_parsed_step_is_not_blamed_on_json() -> None:
    with Hostile(cut(10, 1000, 201)) as server:
        user = user_of(PaymentsUser, server.url)
        iterate(user)
    [failure] = failures(user)
    assert failure["status"] == 0, failure
    assert "JSON" not in failure["step"] and "response body cut" in failure["body"], failure


def test_a_chunked_body_cut_before_its_last_chunk_fails() -> None:
    with Hostile(chunked_cut(201)) as server:
        user = user_of(ProbeUser, server.url)
        iterate(user)
    assert failed_requests(user) == 1.0


def test_a_cut_body_fails_setup_with_status_0() -> None:
    with Hostile(cut(10, 1000, 200)) as server, pytest.raises(SetupError) as caught:
        provision(config(server.url))
    assert caught.value.status == 0


def test_a_complete_answer_is_still_a_success() -> None:
    with Hostile(answer(201, b'{"id": "b-1"}')) as server:
        user = user_of(ProbeUser, server.url)
        iterate(user)
    assert failed_requests(user, "201") == 0.0 and failures(user) == []


# ------------------------------------------------------------------ redirects stay on the target's origin
def sent_secrets(received: list[Any]) -> list[str]:
    """Anything secret a request carried: a token, the API key, a cookie, a body."""
    found = []
    for request in received:
        for name in ("authorization", "x-api-key", "cookie"):
            if request.header(name):
                found.append(f"{request.method} {request.path} {name}")
        if request.body:
            found.append(f"{request.method} {request.path} body")
    return found


@pytest.mark.parametrize("code", [302, 307, 308])
def test_the_flows_do_not_follow_a_redirect_to_another_origin(code: int) -> None:
    with Hostile(answer(201, b"{}"), host="127.0.0.2") as elsewhere, Hostile(redirect(code, elsewhere.url)) as server:
        user = user_of(ProbeUser, server.url)
        iterate(user)
    assert len(server.received) == 1 and server.received[0].header("x-api-key") == API_KEY
    assert elsewhere.received == [], sent_secrets(elsewhere.received)
    assert failed_requests(user) == 1.0
    [failure] = failures(user)
    assert f"redirect {code} to another origin (http://127.0.0.2:{elsewhere.port})" in failure["body"], failure


@pytest.mark.parametrize("code", [302, 307])
def test_setup_does_not_follow_a_redirect_to_another_origin(code: int) -> None:
    with (
        Hostile(answer(201, b'{"id": "x"}'), host="127.0.0.2") as elsewhere,
        Hostile(redirect(code, elsewhere.url + "/steal")) as server,
        pytest.raises(SetupError) as caught,
    ):
        provision(config(server.url))
    assert elsewhere.received == [], sent_secrets(elsewhere.received)
    assert caught.value.status == 0 and "not followed" in str(caught.value)


def test_a_redirect_within_the_origin_is_followed_with_its_headers() -> None:
    def route(request: Any) -> bytes:
        return b'{"id": "b-1"}'

    def behaviour(server: Hostile, conn: Any, request: Any) -> None:
        if request.path.endswith("/probe"):
            redirect(307, "/api/moved")(server, conn, request)
        else:
            answer(201, route)(server, conn, request)

    with Hostile(behaviour) as server:
        user = user_of(ProbeUser, server.url)
        iterate(user)
    assert [r.path for r in server.received] == ["/api/probe", "/api/moved"]
    moved = server.received[1]
    assert moved.header("x-api-key") == API_KEY and moved.body == b'{"n":1}'
    assert failures(user) == []


def test_fixload_check_neither_follows_nor_hangs() -> None:
    """`fixload check` drives setup's client then the flows' client: a cross-origin redirect in setup stops it
    at setup (exit 107), nothing reaches the other origin, and it returns within the deadline."""
    out = io.StringIO()
    with Hostile(answer(200, b"[]"), host="127.0.0.2") as elsewhere, Hostile(redirect(307, elsewhere.url)) as server:
        report = check_config(config(server.url, FIXLOAD_HTTP_TIMEOUT="2"), out, {"payments_flow": PaymentsUser})
    assert elsewhere.received == []
    assert report.code == ExitCode.SETUP_FAILED, out.getvalue()
    assert "not followed" in out.getvalue()


@pytest.mark.slow
def test_a_dribbling_target_fails_the_run_instead_of_passing_it(tmp_path: Path) -> None:
    """The issue's run: payments against a target that dribbles a byte a second, FIXLOAD_HTTP_TIMEOUT=1. Before:
    0 completed, every iteration interrupted, the threshold without samples, "passed", exit 0. Now every
    request times out at 1 s and is a failed request; the run does not pass. Fast twin:
    test_a_dribbling_body_times_out_the_whole_flow_request."""
    profile = tmp_path / "p.json"
    profile.write_bytes(
        orjson.dumps(
            {
                "scenarios": {"payments_flow": {"executor": "constant-vus", "vus": 2, "duration": "4s"}},
                "thresholds": {"payments_flow_success_rate": ["rate>0.9"]},
            }
        )
    )
    with Hostile(dribble(1.0, 1000, 201)) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
        env |= {**ENV, "K6_BASE_URL": server.url, "K6_CUSTOMER_ID": "cu-1", "FIXLOAD_HTTP_TIMEOUT": "1"}
        env |= {"K6_ZONE_ID": "z", "K6_SERVICE_ID": "s", "K6_CAMPAIGN_ID": "c"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles"), "--headless", "--profile", str(profile),
             "--summary", str(tmp_path / "s.json")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    summary = orjson.loads((tmp_path / "s.json").read_bytes())
    assert done.returncode != 0 and summary["fixload"]["status"] != "passed", done.stderr[-2000:]
    failed = summary["metrics"]["http_req_failed"]
    assert failed["passes"] >= 4 and failed["fails"] == 0  # k6's Rate: every request is a failed one
    assert summary["fixload"]["thresholdsWithoutSamples"] == []
    assert summary["fixload"]["scenarios"]["payments_flow"]["completed"] >= 4


@pytest.mark.parametrize(("raw", "seconds"), [("", 60.0), ("3", 3.0), ("1.5", 1.5), ("500ms", 0.5), ("1m", 60.0)])
def test_the_timeout_reads_seconds_or_a_k6_duration(raw: str, seconds: float) -> None:
    assert request_timeout({"FIXLOAD_HTTP_TIMEOUT": raw}) == seconds


@pytest.mark.parametrize("raw", ["abc", "0", "-1s", "nan", "inf"])
def test_a_bad_timeout_is_refused_before_any_traffic(raw: str) -> None:
    verdict = validate_run(BASELINE, process_env={**ENV, "K6_CUSTOMER_ID": "cu-1", "FIXLOAD_HTTP_TIMEOUT": raw})
    assert verdict.config is None
    assert [p for p in verdict.problems if p.startswith("FIXLOAD_HTTP_TIMEOUT: expected seconds")] != [], verdict
