"""`fixload check` as a user runs it: a real process against `fixload serve`, its tables and exit codes;
`fixload run --check-first`; and what the hints make of the product's own answers (FIXNADO-API.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from flowkit import BASELINE, REPO

from fixload.cli import main as cli
from fixload.cli.check import NO_CAUSE, hints
from fixload.common.exitcodes import ExitCode
from fixload.flows.flow import StepResult
from fixload.simulator.process import SimulatorProcess

FLOWS = ("booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow")
SETUP = ("GET /api/zones", "POST /api/zones", "GET /api/services", "POST /api/services")
SETUP += ("GET /api/campaigns", "POST /api/campaigns")


def fixload(sim: SimulatorProcess, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m fixload <args>` from the repository root with the simulator's identities (and `env`)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "fixload", *args],
        cwd=REPO,
        env={**base, **sim.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def sections(output: str) -> dict[str, list[str]]:
    """The report's sections by title (`setup`, `booking_flow`, ...): their lines, marks kept."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line[:2] in ("✓ ", "✗ "):
            current = found.setdefault(line[2:].strip(), [line[0]])
        elif line.startswith("check: "):
            current = None
        elif current is not None and line.strip():
            current.append(line.strip())
    return found


def rows(lines: list[str]) -> list[list[str]]:
    """The table rows (not the header, not the body/request/hint lines), split on runs of two spaces."""
    table = [line for line in lines[1:] if not line.startswith(("body:", "hint:", "request:", "step ", "✗ "))]
    return [[cell.strip() for cell in row.split("  ") if cell.strip()] for row in table]


def test_one_iteration_of_every_flow_passes_against_the_simulator(make_simulator: Any) -> None:
    sim = make_simulator()
    done = fixload(sim, "check", "--profile", str(BASELINE))
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    report = sections(done.stdout)
    assert list(report) == ["setup", *FLOWS] and all(lines[0] == "✓" for lines in report.values())
    assert [f"{r[1]} {r[2]}" for r in rows(report["setup"])] == list(SETUP)
    booking = rows(report["booking_flow"])
    assert [r[0] for r in booking][:3] == ["Booking creation", "Assignment creation", "Assignment response"]
    assert booking[-1][:3] == ["Booking list", "GET", "/api/bookings"] and booking[-1][-1] == "sent (not checked)"
    first = rows(report["ads_flow"])[0]
    assert first[:4] == ["Campaign metric ingestion", "POST", "/api/campaigns/{id}/metrics", "201"]
    assert first[4].endswith("ms") and first[5] == "✓ campaign metric ingested"
    assert done.stdout.rstrip().endswith("check: every step of 5 flow(s) passed")
    # exactly one iteration of each flow: one purchase, one dashboard, one metric day, one booking
    counted = sim.stats()["routes"]
    for route in ("POST /api/services/{serviceId}/purchase", "GET /api/analytics/dashboards/{persona}"):
        assert counted[route]["count"] == 1, route
    assert counted["POST /api/bookings"]["count"] == counted["POST /api/campaigns/{campaignId}/metrics"]["count"] == 1
    for token in (v for k, v in sim.env.items() if k.endswith("_TOKEN")):
        assert token not in done.stdout + done.stderr


def test_the_products_ads_bug_preset_fails_exactly_the_metric_ingestion(
    make_simulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fixload serve --preset fixnado-d191423`: what a check against the real backend at d191423 shows."""
    sim = make_simulator(preset="fixnado-d191423")
    code, out, err = check_in_process(sim, monkeypatch, capsys, BASELINE)
    assert code == ExitCode.THRESHOLDS_FAILED, out + err
    report = sections(out)
    assert list(report) == ["setup", *FLOWS]
    assert {name for name, lines in report.items() if lines[0] == "✗"} == {"ads_flow"}
    for name, lines in report.items():
        if name != "ads_flow":
            assert all(row[-1].startswith("✓ ") or row[-1] == "sent (not checked)" for row in rows(lines)), lines
    ads = report["ads_flow"]
    [row] = rows(ads)  # the failed step ended the iteration
    assert row[:4] == ["Campaign metric ingestion", "POST", "/api/campaigns/{id}/metrics", "500"]
    assert row[-1] == "✗ campaign metric ingested"
    assert 'body: {"message":"Internal server error"}' in ads  # the product's own body
    assert f"hint: {NO_CAUSE}" in ads
    assert out.rstrip().endswith("check: 1 of 5 flow(s) failed: ads_flow (Campaign metric ingestion: 500)")


def test_check_prints_the_failed_requests_id_and_the_simulator_logged_it(
    make_simulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 29: the failed step names its X-Request-Id and trace id; the simulator's log has that id as an error."""
    sim = make_simulator(preset="fixnado-d191423")
    code, out, err = check_in_process(sim, monkeypatch, capsys, BASELINE)
    assert code == ExitCode.THRESHOLDS_FAILED, out + err
    [(request_id, trace_id)] = re.findall(
        r"request: grep the backend's log for X-Request-Id (\S+) \(trace ([0-9a-f]{32})\)", out
    )
    [line] = [line for line in sim.log().splitlines() if f'"traceId":"{request_id}"' in line]
    assert " ERROR request failed " in line and '"status":500' in line and f"-{trace_id}-" in line


def check_in_process(
    sim: SimulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    profile: Path,
    *args: str,
    command: str = "check",
) -> tuple[int, str, str]:
    """`fixload check` (or `run`) through the CLI's own entry point in this process, as the subprocess
    test above runs it, without the seconds a new interpreter costs."""
    for name in [k for k in os.environ if k.startswith(("K6_", "FIXLOAD_"))]:
        monkeypatch.delenv(name)
    for name, value in sim.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)
    code = cli.main([command, "--profile", str(profile), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_setup_failure_exits_107_and_runs_no_flow(
    make_simulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = make_simulator(faults=[{"route": "/api/campaigns", "method": "POST", "error_rate": 1.0, "status": 500}])
    code, out, err = check_in_process(sim, monkeypatch, capsys, BASELINE)
    assert code == ExitCode.SETUP_FAILED, out + err
    report = sections(out)
    assert list(report) == ["setup"] and report["setup"][0] == "✗"
    assert rows(report["setup"])[-1][:4] == ["create campaign", "POST", "/api/campaigns", "500"]
    assert "check: setup failed at create campaign (POST /api/campaigns) → 500; no flow was run" in out
    assert set(sim.stats()["routes"]) == set(SETUP)


def test_a_user_id_given_as_the_company_is_named(
    make_simulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """K6_COMPANY_ID holding the company *user's* id (the register response's, not Company.id): the zone's
    foreign key refuses it, and the check says which variable and where the right value is."""
    sim = make_simulator()
    sim.env["K6_COMPANY_ID"] = sim.env["K6_CUSTOMER_ID"]  # a User.id, as a new user would paste it
    code, out, err = check_in_process(sim, monkeypatch, capsys, BASELINE)
    assert code == ExitCode.SETUP_FAILED, out + err
    setup = sections(out)["setup"]
    assert rows(setup)[-1][:4] == ["create zone", "POST", "/api/zones", "500"]
    assert any(line.startswith("hint: K6_COMPANY_ID is not a Company.id") and "/api/auth/me" in line for line in setup)


def test_bad_input_exits_104_and_sends_nothing(
    make_simulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = make_simulator()
    data = orjson.loads(BASELINE.read_bytes())
    data["settings"]["ads"]["campaignType"] = "search"
    profile = tmp_path / "p.json"
    profile.write_bytes(orjson.dumps(data))
    code, _, err = check_in_process(sim, monkeypatch, capsys, profile)
    assert code == ExitCode.INVALID_CONFIG, err
    [line] = [line for line in err.splitlines() if "campaignType" in line]
    assert "settings.ads.campaignType" in line and "'search'" in line
    assert all(f"'{value}'" in line for value in ("ppc", "ppc_conversion", "ppi", "awareness")), line
    assert sim.requests() == []


def test_run_check_first_starts_no_load_when_a_flow_fails(
    make_simulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user token of another server: the purchase gets 401, the hint names K6_USER_TOKEN (never its
    value), and `fixload run --check-first` says which flow failed and starts no load."""
    sim = make_simulator()
    sim.env["K6_USER_TOKEN"] = "not-this-servers-token"
    summary = tmp_path / "s.json"
    code, out, err = check_in_process(
        sim, monkeypatch, capsys, BASELINE, "--check-first", "--summary", str(summary), command="run"
    )
    assert code == ExitCode.THRESHOLDS_FAILED, out + err
    payments = sections(out)["payments_flow"]
    assert payments[0] == "✗" and rows(payments)[0][3] == "401"
    assert any(line.startswith("hint: K6_USER_TOKEN is not a token of this server") for line in payments), payments
    assert "payments_flow (Service purchase: 401)" in err and "the load was not started" in err
    assert "not-this-servers-token" not in out + err
    assert "Ramping to" not in out + err and not summary.exists()
    assert sim.stats()["routes"]["POST /api/services/{serviceId}/purchase"]["count"] == 1  # the check's one


# ---------------------------------------------------------------------- hints from the product's answers
def failed(method: str, route: str, status: int, body: Any, token: str = "") -> StepResult:
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    return StepResult("step", method, route, status, 1.0, "check", False, text, token)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        # errorHandler's 500 (FIXNADO-API.md §1): nothing but "Internal server error"
        (failed("POST", "/api/campaigns/{id}/metrics", 500, {"message": "Internal server error"}), NO_CAUSE),
        (failed("POST", "/api/bookings", 500, ""), NO_CAUSE),
        # campaign creation looks the company up (campaignService.js): a user id is no Company.id
        (failed("POST", "/api/campaigns", 404, {"message": "Company not found"}), "K6_COMPANY_ID is not a Company.id"),
        # authorize(['user','company']) on the purchase: a servicemen token gets 403
        (
            failed("POST", "/api/services/{id}/purchase", 403, {"message": "Forbidden"}, "K6_USER_TOKEN"),
            "K6_USER_TOKEN must belong to a user of type user or company",
        ),
        (
            failed("POST", "/api/services", 403, {"message": "Forbidden"}, "K6_PROVIDER_TOKEN"),
            "K6_PROVIDER_TOKEN must belong to a user of type servicemen or company",
        ),
        (
            failed("POST", "/api/services", 401, {"message": "Invalid token"}, "K6_PROVIDER_TOKEN"),
            "K6_PROVIDER_TOKEN is not a token of this server",
        ),
        (
            failed("POST", "/api/services/{id}/purchase", 401, {"message": "Missing authorization header"}),
            "the request carried no token: set K6_USER_TOKEN",
        ),
        (
            failed(
                "POST",
                "/api/communications/{id}/video-session",
                503,
                {"message": "Agora credentials are not configured"},
            ),
            "AGORA_APP_ID and AGORA_APP_CERTIFICATE",
        ),
        (
            failed("POST", "/api/zones", 500, {"message": "insert or update on table violates foreign key constraint"}),
            "K6_COMPANY_ID must be a Company.id",
        ),
        (
            failed(
                "POST",
                "/api/bookings",
                500,
                {"message": "x", "cause": 'violates foreign key constraint "Booking_customer_id_fkey"'},
            ),
            "K6_CUSTOMER_ID is not a User.id",
        ),
    ],
)
def test_hints_name_what_the_products_answer_shows(result: StepResult, expected: str) -> None:
    found = hints(result)
    assert any(expected in hint for hint in found), found


def test_a_500_with_a_cause_gets_no_no_cause_hint() -> None:
    assert hints(failed("POST", "/api/zones", 500, {"message": "x", "errors": [{"path": "name"}]})) == []
    assert hints(failed("POST", "/api/bookings", 400, {"message": "Booking status transition a -> b"})) == []
