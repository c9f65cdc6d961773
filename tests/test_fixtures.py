"""Fixtures once per run: env override → list → create (FLOWS.md "Setup"), SetupError, exit 107, two workers."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from flowkit import BASELINE, REPO, make_config, routes

from fixload.common.exitcodes import ExitCode
from fixload.flows.fixtures import SetupError, provision
from fixload.simulator.process import SimulatorProcess
from tests.support import free_port

SETUP_ROUTES = (
    "GET /api/zones",
    "POST /api/zones",
    "GET /api/services",
    "POST /api/services",
    "GET /api/campaigns",
    "POST /api/campaigns",
)


def role(record: dict[str, Any]) -> str | None:
    return record["auth"]["role"] if record["auth"]["present"] else None


def tokens_of(sim: SimulatorProcess) -> list[str]:
    return [value for key, value in sim.env.items() if key.endswith("_TOKEN")]


def campaign(sim: SimulatorProcess, status: str) -> dict[str, Any]:
    now = datetime.now().astimezone()
    body = {
        "companyId": sim.env["K6_COMPANY_ID"],
        "name": f"{status} campaign",
        "objective": "awareness",
        "campaignType": "ppc",
        "status": status,
        "currency": "GBP",
        "totalBudget": 1000,
        "startAt": now.isoformat(),
        "endAt": (now + timedelta(days=1)).isoformat(),
    }
    code, created = sim.request("POST", "/api/campaigns", body, token="admin")
    assert code == 201, created
    return created


def test_env_overrides_skip_discovery(make_simulator: Any) -> None:
    sim = make_simulator()
    ids = {"K6_ZONE_ID": "zone-from-env", "K6_SERVICE_ID": "service-from-env", "K6_CAMPAIGN_ID": "campaign-from-env"}
    assert provision(make_config(sim, env=ids)) == {
        "zoneId": "zone-from-env",
        "serviceId": "service-from-env",
        "campaignId": "campaign-from-env",
    }
    assert sim.requests() == []


def test_existing_fixtures_are_listed_not_created(make_simulator: Any) -> None:
    sim = make_simulator()
    env = sim.env
    zone = sim.request(
        "POST",
        "/api/zones",
        {
            "companyId": env["K6_COMPANY_ID"],
            "name": "existing",
            "demandLevel": "low",
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [0, 0]]]},
        },
    )[1]
    own = sim.request(
        "POST", "/api/services", {"title": "own", "category": "c", "price": 10, "currency": "GBP"}, token="provider"
    )[1]
    other = {"title": "someone else's", "category": "c", "price": 10, "currency": "GBP"}
    # the product sets providerId to the token's user (serviceController.js:20): another company user's service
    assert sim.request("POST", "/api/services", other, token="company")[1]["providerId"] != env["K6_PROVIDER_ID"]
    live = campaign(sim, "active")
    campaign(sim, "completed")  # listed first (newest first); ended campaigns are skipped
    sim.reset_stats()
    assert provision(make_config(sim)) == {"zoneId": zone["id"], "serviceId": own["id"], "campaignId": live["id"]}
    records = sim.requests()
    assert routes(records) == [("GET", "/api/zones"), ("GET", "/api/services"), ("GET", "/api/campaigns")]
    assert [role(r) for r in records] == [None, None, "admin"]
    assert records[0]["query"] == f"companyId={env['K6_COMPANY_ID']}"
    assert records[2]["query"] == f"companyId={env['K6_COMPANY_ID']}"


def test_missing_fixtures_are_created_with_the_originals_payloads(make_simulator: Any) -> None:
    sim = make_simulator()
    env = sim.env
    fixtures = provision(make_config(sim))
    records = sim.requests()
    assert [f"{m} {r}" for m, r in routes(records)] == list(SETUP_ROUTES)
    assert [r["status"] for r in records] == [200, 201, 200, 201, 200, 201]
    assert [role(r) for r in records] == [None, None, None, "provider", "admin", "admin"]
    zone, service, created = records[1]["body"], records[3]["body"], records[5]["body"]
    assert zone["companyId"] == env["K6_COMPANY_ID"] and zone["demandLevel"] == "medium"
    ring = zone["geometry"]["coordinates"][0]
    assert zone["geometry"]["type"] == "Polygon" and len(ring) == 5 and ring[0] == ring[-1]
    assert all(51.4 < lat < 51.6 and -0.2 < lon < 0.0 for lon, lat in ring)  # a small square near London
    assert service["category"] == "load-test" and service["currency"] == "GBP" and 75 <= service["price"] <= 240
    assert {k: created[k] for k in ("objective", "campaignType", "status", "pacingStrategy", "bidStrategy")} == {
        "objective": "awareness",
        "campaignType": "ppc",  # the product's default (settings.ads.campaignType); the original sends "search"
        "status": "active",
        "pacingStrategy": "even",
        "bidStrategy": "cpc",
    }
    assert created["companyId"] == env["K6_COMPANY_ID"] and created["currency"] == "GBP"
    assert 3000 <= created["totalBudget"] <= 8000 and 250 <= created["dailySpendCap"] <= 650
    start, end = (datetime.fromisoformat(created[k].replace("Z", "+00:00")) for k in ("startAt", "endAt"))
    assert end - start == timedelta(days=7)
    created_ids = [r for r in records if r["method"] == "POST"]
    assert len(created_ids) == 3 and all(fixtures.values())


def test_campaign_type_is_the_profiles_choice(make_simulator: Any) -> None:
    sim = make_simulator()
    provision(make_config(sim, {"ads": {"campaignType": "ppc_conversion"}}))
    [created] = [r["body"] for r in sim.requests() if (r["method"], r["route"]) == ("POST", "/api/campaigns")]
    assert created["campaignType"] == "ppc_conversion"


def test_setup_failure_names_step_status_and_body_without_tokens(make_simulator: Any) -> None:
    sim = make_simulator(faults=[{"route": "/api/zones", "method": "POST", "error_rate": 1.0, "status": 503}])
    with pytest.raises(SetupError) as caught:
        provision(make_config(sim))
    error = caught.value
    assert (error.step, error.status) == ("create zone", 503)
    assert str(error).startswith("[setup] create zone (POST /api/zones) — status 503: ")
    assert "injected_fault" in str(error)
    assert routes(sim.requests()) == [("GET", "/api/zones"), ("POST", "/api/zones")]  # stopped at the failed step


def test_setup_failure_on_a_rejected_token(make_simulator: Any) -> None:
    sim = make_simulator()
    # the only setup route that checks a token is POST /api/services (serviceRoutes.js:10-16)
    config = make_config(sim, env={"K6_PROVIDER_TOKEN": "not-a-valid-provider-token"})
    with pytest.raises(SetupError) as caught:
        provision(config)
    assert (caught.value.step, caught.value.status) == ("create service", 401)
    assert "not-a-valid-provider-token" not in str(caught.value) and "Invalid token" in str(caught.value)


def test_setup_failure_when_the_target_is_down(simulator: SimulatorProcess) -> None:
    config = make_config(simulator, env={"K6_BASE_URL": "http://127.0.0.1:9"})
    with pytest.raises(SetupError) as caught:
        provision(config)
    assert (caught.value.step, caught.value.status) == ("list zones", 0)


# ---------------------------------------------------------------------- through Locust and fixload.plugin
def locust(
    sim: SimulatorProcess, tmp_path: Path, *args: str, profile: Path = BASELINE, timeout: float = 60
) -> tuple[int, str, dict[str, Any]]:
    """`locust --headless` from the repository root with the simulator's .env: (exit code, output, summary).

    Its own session (so a timeout kills its forked workers too) and, with --processes, its own master port
    (so it never meets another test run's workers on Locust's default 5557).
    """
    summary = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "locust", "--headless", "--env-file", str(sim.env_path)]
    command += ["--summary", str(summary), "--profile", str(profile), *args]
    if "--processes" in args:
        port = str(free_port())
        command += ["--master-bind-port", port, "--master-port", port]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"locust did not finish within {timeout}s:\n{output[-3000:]}")
    return proc.returncode, output, orjson.loads(summary.read_bytes()) if summary.exists() else {}


def test_locust_exits_107_when_setup_fails(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(faults=[{"route": "/api/zones", "method": "POST", "error_rate": 1.0, "status": 503}])
    code, output, _summary = locust(sim, tmp_path, "-f", "locustfiles/payments.py", "-u", "2", "-t", "5s")
    assert code == ExitCode.SETUP_FAILED, output[-2000:]
    assert "create zone" in output and "503" in output
    assert not any(token in output for token in tokens_of(sim))
    stats = sim.stats()["routes"]
    assert "POST /api/services/{serviceId}/purchase" not in stats  # no load after a failed setup


def test_a_failed_setup_is_accounted_as_k6_does_and_named(make_simulator: Any, tmp_path: Path) -> None:
    """Campaign creation answers 500: the console and the summary name the request, the thresholds are not
    evaluated, exit 107; setup's six requests count in http_reqs under group ::setup, in no scenario."""
    sim = make_simulator(faults=[{"route": "/api/campaigns", "method": "POST", "error_rate": 1.0, "status": 500}])
    data = orjson.loads(BASELINE.read_bytes())
    data["thresholds"]["http_reqs{group:::setup}"] = ["count>0"]
    profile = tmp_path / "baseline-setup.json"
    profile.write_bytes(orjson.dumps(data))
    code, output, summary = locust(sim, tmp_path, "-f", "locustfiles/", profile=profile)
    assert code == ExitCode.SETUP_FAILED, output[-3000:]
    assert "[setup] create campaign (POST /api/campaigns) — status 500: {" in output
    assert "SETUP FAILED  create campaign: POST /api/campaigns → status 500" in output
    assert "THRESHOLDS not evaluated (setup failed)" in output and "thresholds failed)" not in output
    assert "Ramping to" not in output and "All users spawned" not in output
    block = summary["fixload"]
    failure = block["setup"]["failure"]
    assert (failure["method"], failure["route"], failure["status"]) == ("POST", "/api/campaigns", 500)
    assert "injected_fault" in failure["body"] and len(failure["body"]) <= 301
    assert block["thresholdsEvaluated"] is False and block["thresholdsFailed"] is None
    assert block["status"] == "setup_failed" and block["exitCode"] == ExitCode.SETUP_FAILED
    metrics = summary["metrics"]
    assert metrics["http_reqs"]["count"] == len(SETUP_ROUTES) == sim.stats()["total"]["count"]
    assert metrics["http_reqs{group:::setup}"]["count"] == len(SETUP_ROUTES)  # every one in group ::setup
    assert metrics["http_req_failed"]["passes"] == 1  # k6's Rate: the one 500 is the one "failed" sample
    assert metrics["http_req_duration"]["max"] > 0
    assert "count" not in metrics.get("http_req_duration{scenario:booking_flow}", {})  # no scenario tag
    setup_group = summary["root_group"]["groups"]["setup"]
    assert setup_group["path"] == "::setup"
    checks = {name: (c["passes"], c["fails"]) for name, c in setup_group["checks"].items()}
    assert checks == {"create zone 201": (1, 0), "create service 201": (1, 0), "create campaign 201": (0, 1)}
    assert not any(token in output for token in tokens_of(sim))


def test_one_flow_alone_closed_model(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator()
    code, output, summary = locust(sim, tmp_path, "-f", "locustfiles/payments.py", "-u", "5", "-r", "5", "-t", "3s")
    assert code == 0, output[-2000:]
    rate = summary["metrics"]["payments_flow_success_rate"]
    assert rate["value"] == 1.0 and rate["passes"] > 10, rate
    purchases = sim.stats()["routes"]["POST /api/services/{serviceId}/purchase"]
    assert purchases["statuses"] == {"201": purchases["count"]}
    assert not any(token in output for token in tokens_of(sim))


PAYMENTS_ONLY = {
    "profile": "payments for three seconds",
    "requiredEnv": ["K6_COMPANY_ID", "K6_PROVIDER_ID", "K6_CUSTOMER_ID", "K6_USER_TOKEN"],
    "settings": {"payments": {"sleepSeconds": 0}},
    "scenarios": {
        "payments_flow": {
            "executor": "constant-arrival-rate",
            "rate": 10,
            "timeUnit": "1s",
            "duration": "3s",
            "preAllocatedVUs": 4,
            "maxVUs": 8,
        }
    },
    "thresholds": {"payments_flow_success_rate": ["rate>0.99"]},
}


def assert_setup_once_and_purchases_ok(sim: SimulatorProcess, summary: dict[str, Any], least: int) -> None:
    stats = sim.stats()["routes"]
    assert {route: stats[route]["count"] for route in SETUP_ROUTES} == dict.fromkeys(SETUP_ROUTES, 1)
    purchases = stats["POST /api/services/{serviceId}/purchase"]
    assert purchases["count"] >= least and purchases["statuses"] == {"201": purchases["count"]}
    bought = {r["path"].split("/")[3] for r in sim.requests() if r["route"] == "/api/services/{serviceId}/purchase"}
    assert bought == {summary["fixload"]["fixtures"]["serviceId"]}
    assert summary["metrics"]["payments_flow_success_rate"]["value"] == 1.0


@pytest.mark.slow  # fast twin: test_fixtures_reach_workers_in_a_closed_model_run
def test_fixtures_are_provisioned_once_with_two_workers(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator()
    profile = tmp_path / "payments.json"
    profile.write_bytes(orjson.dumps(PAYMENTS_ONLY))
    code, output, summary = locust(sim, tmp_path, "-f", "locustfiles/", "--processes", "2", profile=profile)
    assert code == 0, output[-3000:]
    assert_setup_once_and_purchases_ok(sim, summary, least=25)  # 10/s for 3 s, split over two workers


def test_fixtures_reach_workers_in_a_closed_model_run(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator()
    code, output, summary = locust(
        sim, tmp_path, "-f", "locustfiles/payments.py", "--processes", "2", "-u", "4", "-r", "4", "-t", "3s"
    )
    assert code == 0, output[-3000:]
    assert_setup_once_and_purchases_ok(sim, summary, least=10)


@pytest.mark.parametrize(
    "processes",
    [pytest.param((), id="local"), pytest.param(("--processes", "2"), id="two-workers", marks=pytest.mark.slow)],
)
def test_repeated_failures_are_logged_once_and_counted_in_the_summary(
    make_simulator: Any, tmp_path: Path, processes: tuple[str, ...]
) -> None:
    """Half the purchases get 503: each process logs the first with its body, the summary counts all of
    them (`fixload.scenarios.payments_flow.failures[]`, workers' counts merged on the master), as many as
    the simulator answered."""
    fault = {"route": "/api/services/*/purchase", "method": "POST", "error_rate": 0.5, "status": 503}
    sim = make_simulator(faults=[fault], seed=5)
    profile = tmp_path / "payments.json"
    data = copy.deepcopy(PAYMENTS_ONLY)
    data["scenarios"]["payments_flow"] |= {"rate": 20, "duration": "1s"}
    profile.write_bytes(orjson.dumps(data))
    code, output, summary = locust(sim, tmp_path, "-f", "locustfiles/", *processes, profile=profile)
    assert code == ExitCode.THRESHOLDS_FAILED, output[-3000:]
    served = sim.stats()["routes"]["POST /api/services/{serviceId}/purchase"]["statuses"]
    [failure] = summary["fixload"]["scenarios"]["payments_flow"]["failures"]
    assert (failure["step"], failure["status"]) == ("Service purchase failed", 503)
    assert failure["count"] == served["503"] == summary["metrics"]["payments_flow_failures"]["count"] > 2
    assert "injected_fault" in failure["body"] and len(failure["body"]) <= 301
    logged = [line for line in output.splitlines() if "[payments_flow] Service purchase failed — status 503" in line]
    assert 1 <= len(logged) <= max(1, len(processes)) and all("injected_fault" in line for line in logged), logged
