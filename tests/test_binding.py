"""Flows bind from the locustfiles (issue 15, item 3): a scenario runs the loaded `ScenarioUser` class whose
`scenario` is its `exec` (default: its name), k6-style.

The sixth flow is tests/locustfiles/catalogue.py plus tests/profiles/catalogue.json and nothing else: it runs
for real (Locust, then the `fixload run` wrapper) against the embedded simulator, its free-form settings block
reaches it, its metrics are thresholds, and, needing no fixtures, it provisions nothing.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
from enginekit import headless_argv

from fixload.cli import main as cli
from fixload.profile.binding import binding_problems, import_flows, loaded_flows, needs_fixtures
from fixload.profile.schema import parse_profile
from fixload.profile.validation import validate_run

REPO = Path(__file__).resolve().parents[1]
SIXTH = REPO / "tests" / "locustfiles" / "catalogue.py"
SIXTH_PROFILE = REPO / "tests" / "profiles" / "catalogue.json"
WITH_SIXTH = f"{REPO / 'locustfiles'},{SIXTH}"
"""The repository's five flows and the sixth, as one `-f` (Locust's comma-separated form)."""
ITERATIONS = 6 + 2  # catalogue_flow (shared-iterations) + catalogue_again (per-vu-iterations, exec)
PAGES = 3  # settings.catalogue.servicePages in the profile


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    return {**env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def test_the_package_does_not_name_the_sixth_flow():
    """No change under fixload/: the package knows nothing of catalogue_flow."""
    for path in (REPO / "fixload").rglob("*.py"):
        assert "catalogue" not in path.read_text(encoding="utf-8"), path


def test_a_sixth_flow_runs_under_locust_from_its_locustfile(simulator, tmp_path):
    simulator.reset_stats()
    before = {r["seq"] for r in simulator.requests()}
    summary = tmp_path / "summary.json"
    command = headless_argv(simulator, SIXTH_PROFILE, summary, WITH_SIXTH)
    proc = subprocess.run(
        command, cwd=REPO, env={**_env(), **simulator.env}, capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sent = Counter((r["method"], r["route"]) for r in simulator.requests() if r["seq"] not in before)
    # every request is the flow's (no setup: the flow declares needs_fixtures = False); the free-form
    # settings block's servicePages reached each iteration
    assert sent == {("GET", "/api/zones"): ITERATIONS, ("GET", "/api/services"): ITERATIONS * PAGES}
    data = orjson.loads(summary.read_bytes())
    scenarios = data["fixload"]["scenarios"]
    assert {name: s["completed"] for name, s in scenarios.items()} == {"catalogue_flow": 6, "catalogue_again": 2}
    assert {s["flow"] for s in scenarios.values()} == {"catalogue_flow"}
    assert data["metrics"]["catalogue_flow_success_rate"]["passes"] == ITERATIONS
    assert data["metrics"]["checks"]["passes"] == ITERATIONS * (1 + PAGES)


def test_a_sixth_flow_runs_under_fixload_run_with_f(tmp_path):
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-m", "fixload", "run", "-f", WITH_SIXTH, "--profile", str(SIXTH_PROFILE)]
    command += ["--summary", str(summary)]
    proc = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    data = orjson.loads(summary.read_bytes())
    assert data["metrics"]["http_reqs"]["count"] == ITERATIONS * (1 + PAGES)  # no setup request either
    assert data["metrics"]["catalogue_flow_success_rate"]["passes"] == ITERATIONS


def test_fixload_check_runs_the_sixth_flow_without_setup(simulator):
    from fixload.cli.check import check_config
    from fixload.profile.validation import load_run_config

    flows = import_flows(WITH_SIXTH)
    config = load_run_config(SIXTH_PROFILE, process_env={**_env(), **simulator.env}, flows=flows)
    report = check_config(config, io.StringIO(), flows=flows)
    assert report.code == 0, report.verdict
    assert [s.title for s in report.sections] == ["catalogue_flow", "catalogue_again (flow catalogue_flow)"]
    assert [step.route for step in report.sections[0].steps] == ["/api/zones"] + ["/api/services"] * PAGES


def _unknown_profile(tmp_path: Path) -> Path:
    data = json.loads(SIXTH_PROFILE.read_text(encoding="utf-8"))
    data["scenarios"]["catalog_flow"] = data["scenarios"].pop("catalogue_flow")
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_an_unknown_scenario_lists_the_loaded_classes_exit_104(tmp_path, monkeypatch, capsys, simulator):
    profile = _unknown_profile(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "-f", WITH_SIXTH, "--profile", str(profile)]) == 104
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.strip().startswith("- scenarios.catalog_flow:"))
    for loaded in ("catalogue_flow (CatalogueUser)", "booking_flow (BookingUser)", "ads_flow (AdsUser)"):
        assert loaded in line, line
    assert 'Did you mean "catalogue_flow"?' in line
    # without the sixth locustfile, the same profile's exec names a flow that is not loaded
    assert cli.main(["validate", "--profile", str(profile)]) == 104
    err = capsys.readouterr().err
    assert "scenarios.catalogue_again.exec: flow 'catalogue_flow' does not exist" in err
    assert "CatalogueUser" not in err

    # Locust's own entry point: the same line, exit 104, nothing sent
    simulator.reset_stats()
    before = {r["seq"] for r in simulator.requests()}
    command = [sys.executable, "-m", "locust", "-f", WITH_SIXTH, "--headless", "--profile", str(profile)]
    command += ["-H", simulator.base_url]
    proc = subprocess.run(command, cwd=REPO, env={**_env(), **simulator.env}, capture_output=True, timeout=60)
    assert proc.returncode == 104, proc.stderr[-3000:]
    assert line.strip() in proc.stderr.decode()
    assert not [r for r in simulator.requests() if r["seq"] not in before]


def test_settings_blocks_bind_to_the_loaded_flows(tmp_path):
    flows = loaded_flows(import_flows(WITH_SIXTH).values())
    data = json.loads(SIXTH_PROFILE.read_text(encoding="utf-8"))
    assert binding_problems(parse_profile(data), flows) == []
    assert not needs_fixtures(flows, ["catalogue_flow"]) and needs_fixtures(flows, ["catalogue_flow", "ads_flow"])

    typo = copy.deepcopy(data)
    typo["settings"]["catalog"] = typo["settings"].pop("catalogue")
    assert binding_problems(parse_profile(typo), flows) == [
        "settings.catalog: unknown key 'catalog' (no loaded flow reads it); did you mean \"catalogue\"?"
    ]
    not_object = copy.deepcopy(data)
    not_object["settings"]["catalogue"] = 3
    assert binding_problems(parse_profile(not_object), flows) == [
        "settings.catalogue: expected an object (the settings block of catalogue_flow), got 3"
    ]
    bad_sleep = copy.deepcopy(data)
    bad_sleep["settings"]["catalogue"]["sleepSeconds"] = "1s"
    assert binding_problems(parse_profile(bad_sleep), flows)[0].startswith("settings.catalogue.sleepSeconds:")

    # the five keep their typed blocks, whatever is loaded
    typed = copy.deepcopy(data)
    typed["settings"]["ads"] = {"campaignType": "search"}
    path = tmp_path / "typed.json"
    path.write_text(json.dumps(typed), encoding="utf-8")
    verdict = validate_run(path, flows=flows, simulator=True)
    assert any(p.startswith("settings.ads.campaignType:") for p in verdict.problems), verdict.problems
