"""One validation, every door: each bad input of issue 14 (and every malformed profile of test_profile) gives
the same exit code (104) and the same problem lines through `fixload validate`, `fixload run --validate-only`,
`fixload run`, `fixload check` and Locust's own init with `--profile` (the plugin), and nothing is sent.

Most cases run in-process (fast); a few representative ones run each entry point as a real process.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import pytest

from fixload import plugin
from fixload.cli import check  # noqa: F401  imported once here: the timings are the checks'
from fixload.cli import main as cli
from fixload.cli import run as runner
from fixload.profile.limits import MEASURED_STARTS_PER_PROCESS
from fixload.profile.validation import validate_run
from tests.test_profile import BASELINE, MALFORMED

ROOT = Path(__file__).resolve().parents[1]
TARGET = "http://127.0.0.1:9"  # never contacted: every case here is refused before any traffic
SIX = {
    "K6_COMPANY_ID": "company-1",
    "K6_PROVIDER_ID": "provider-1",
    "K6_CUSTOMER_ID": "customer-1",
    "K6_USER_TOKEN": "user-tok-0b5e1c9d7a3f",
    "K6_PROVIDER_TOKEN": "prov-tok-4c2a9e7b1d6f",
    "K6_ADMIN_TOKEN": "admin-tok-8f3d2b6e0a9c",
}

Mutation = Callable[[dict], None]


def _threshold(key: str, *expressions: object) -> Mutation:
    return lambda d: d["thresholds"].__setitem__(key, list(expressions))


def _option(scenario: str, **values: object) -> Mutation:
    return lambda d: d["scenarios"][scenario].update(values)


# (id, mutation, extra environment, --multiplier, [(the start of a problem line, a phrase in it)])
ISSUE_CASES: list[tuple[str, Mutation, dict[str, str], str | None, list[tuple[str, str]]]] = [
    ("threshold-double-operator", _threshold("http_req_duration", "p(95)<<1400"), {}, None,
     [('thresholds["http_req_duration"][0]', "malformed value '<1400' in 'p(95)<<1400'")]),
    ("threshold-p95-without-parentheses", _threshold("http_req_duration", "p95<1200"), {}, None,
     [('thresholds["http_req_duration"][0]', "unknown aggregation 'p95' in 'p95<1200'")]),
    ("threshold-rate-double-operator", _threshold("http_req_failed", "rate>>0.9"), {}, None,
     [('thresholds["http_req_failed"][0]', "malformed value '>0.9' in 'rate>>0.9'")]),
    ("threshold-percentile-101", _threshold("http_req_duration", "p(101)<5"), {}, None,
     [('thresholds["http_req_duration"][0]', "percentile 'p(101)' out of range in 'p(101)<5'")]),
    ("threshold-misspelt-metric", _threshold("bookng_flow_duration", "p(95)<1400"), {}, None,
     [('thresholds["bookng_flow_duration"]', 'no metric name "bookng_flow_duration" found')]),
    ("threshold-empty-tag-value", _threshold("http_req_duration{scenario:}", "p(95)<1"), {}, None,
     [('thresholds["http_req_duration{scenario:}"]', "malformed tag expression 'scenario:'")]),
    ("every-threshold-error-at-once",
     lambda d: d["thresholds"].update({"http_req_duration": ["p(95)<<1400", "p95<1200"], "bookng_flow_duration": []}),
     {}, None,
     [('thresholds["http_req_duration"][0]', "malformed value"), ('thresholds["http_req_duration"][1]', "p95"),
      ('thresholds["bookng_flow_duration"]', "no metric name")]),
    ("time-unit-1ns", _option("payments_flow", timeUnit="1ns"), {}, None,
     [("scenarios.payments_flow.rate", "6 per timeUnit 1ns is 6e+09 iterations/s; the bound is 100000/s")]),
    ("rate-3e9", _option("payments_flow", rate=3e9), {}, None,
     [("scenarios.payments_flow.rate", "less than or equal to 1000000000")]),
    ("rate-1e308", _option("payments_flow", rate=1e308), {}, None,
     [("scenarios.payments_flow.rate", "less than or equal to 1000000000")]),
    ("rate-1e7-one-vu", _option("payments_flow", rate=10000000, preAllocatedVUs=1, maxVUs=1), {}, None,
     [("scenarios.payments_flow.rate", "1e+07 iterations/s; the bound is 100000/s")]),
    ("env-multiplier-1e9", lambda d: None, {"K6_LOAD_MULTIPLIER": "1e9"}, None,
     [("K6_LOAD_MULTIPLIER", "at most 1000, got 1000000000.0")]),
    ("option-multiplier-abc", lambda d: None, {}, "abc", [("--multiplier", "expected a positive number, got 'abc'")]),
    ("duration-1e308", _option("payments_flow", duration=1e308), {}, None,
     [("scenarios.payments_flow.duration", "longer than Go's time.Duration can hold")]),
    ("duration-106752d", _option("payments_flow", duration="106752d"), {}, None,
     [("scenarios.payments_flow.duration", "longer than Go's time.Duration can hold")]),
    ("duration-31d", _option("payments_flow", duration="31d"), {}, None,
     [("scenarios.payments_flow.duration", "must be at most 30d")]),
    ("max-vus-ten-million", _option("payments_flow", maxVUs=10000000), {}, None,
     [("scenarios.payments_flow.maxVUs", "less than or equal to 100000")]),
    ("vus-over-the-per-process-ceiling", _option("payments_flow", maxVUs=6000), {}, None,
     [("scenarios", "more than the ceiling of 5000 VUs per process; run with --workers 2")]),
    ("iterations-over-the-bound",
     lambda d: d["scenarios"].__setitem__("chat_flow", {"executor": "shared-iterations", "iterations": 10**9}),
     {}, None, [("scenarios.chat_flow.iterations", "less than or equal to 100000000")]),
    ("duration-1h2d", _option("payments_flow", duration="1h2d"), {}, None,
     [("scenarios.payments_flow.duration", 'strconv.ParseInt: parsing "1h2"')]),
    ("delay-abort-eval-1h2d",
     _threshold("http_req_failed", {"threshold": "rate<0.02", "abortOnFail": True, "delayAbortEval": "1h2d"}), {},
     None, [('thresholds["http_req_failed"][0].delayAbortEval', "invalid duration '1h2d'")]),
    ("missing-identities-with-a-target", lambda d: None, {"K6_COMPANY_ID": ""}, None,
     [("missing required environment variable (requiredEnv)", "K6_COMPANY_ID")]),
]  # fmt: skip

CASES = [(c[0], c[1], c[2], c[3], c[4]) for c in ISSUE_CASES] + [
    (f"profile-{name}", mutate, {}, None, [(path, phrase)]) for name, mutate, path, phrase in MALFORMED
]
ENTRY_POINTS = ("validate", "run --validate-only", "run", "check", "locust --profile")


def _profile(tmp_path: Path, mutate: Mutation) -> Path:
    data = copy.deepcopy(BASELINE)
    mutate(data)
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def _problem_lines(err: str) -> list[str]:
    return [line.strip()[2:] for line in err.splitlines() if line.startswith("  - ")]


def _locust_init(profile: Path, multiplier: str | None) -> int:
    """Locust's init event as `locust -f locustfiles/ --headless --profile P` fires it, in this process."""
    from locust.env import Environment

    from fixload.profile.binding import import_flows

    options = Namespace(profile=str(profile), multiplier=multiplier, env_file=None, summary="", headless=True)
    environment = Environment(user_classes=list(import_flows().values()), parsed_options=options)
    try:
        plugin.on_init(environment, runner=None)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _enter(entry: str, profile: Path, multiplier: str | None) -> int:
    args = ["--profile", str(profile)] + (["--multiplier", multiplier] if multiplier is not None else [])
    if entry == "locust --profile":
        return _locust_init(profile, multiplier)
    return cli.main([*entry.split(), *args])


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """Each entry point once, so first-import costs are not counted against the one-second budget."""
    profile = tmp_path_factory.mktemp("warm") / "bad.json"
    profile.write_text('{"scenarios": {}}', encoding="utf-8")
    for entry in ENTRY_POINTS:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "stderr", open(os.devnull, "w"))  # noqa: SIM115  closed with the process
            _enter(entry, profile, None)


@pytest.fixture
def target_env(monkeypatch, tmp_path, warm):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith(("K6_", "FIXLOAD_")):
            monkeypatch.delenv(name)
    for name, value in {"K6_BASE_URL": TARGET, **SIX}.items():
        monkeypatch.setenv(name, value)

    def no_traffic(*_: object, **__: object) -> int:
        raise AssertionError("a refused configuration must not start Locust")

    monkeypatch.setattr(runner, "supervise", no_traffic)
    return monkeypatch


@pytest.mark.parametrize(("mutate", "env", "multiplier", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_entry_point_gives_the_same_verdict(mutate, env, multiplier, expected, target_env, tmp_path, capsys):
    for name, value in env.items():
        target_env.setenv(name, value)
    profile = _profile(tmp_path, mutate)
    seen: dict[str, list[str]] = {}
    for entry in ENTRY_POINTS:
        started = time.monotonic()
        code = _enter(entry, profile, multiplier)
        elapsed = time.monotonic() - started
        out, err = capsys.readouterr()
        assert code == 104, f"{entry}: exit {code}\n{err}"
        assert "Traceback" not in err
        assert out == "", f"{entry} printed to stdout: {out}"
        assert elapsed < 1.0, f"{entry} took {elapsed:.2f}s"
        seen[entry] = _problem_lines(err)
    lines = seen["validate"]
    for start, phrase in expected:
        assert any(line.startswith(start) and phrase in line for line in lines), (start, phrase, lines)
    assert all(seen[entry] == lines for entry in ENTRY_POINTS), seen
    for secret in SIX.values():
        assert all(secret not in line for line in lines)


def test_no_k6_base_url_validates_for_the_embedded_simulator_and_says_so(target_env, capsys):
    target_env.delenv("K6_BASE_URL")
    for name in SIX:
        target_env.delenv(name)
    for entry in ("validate", "run --validate-only"):
        assert cli.main([*entry.split(), "--profile", str(ROOT / "profiles" / "baseline.json")]) == 0
        out = capsys.readouterr().out
        assert "target    the embedded simulator (no K6_BASE_URL set" in out
    verdict = validate_run(ROOT / "profiles" / "baseline.json", simulator=False)
    assert not verdict.ok and "missing required environment variables" in verdict.message()


def test_the_peak_rate_warning_names_workers(target_env, tmp_path, capsys):
    # baseline's other arrival-rate scenarios peak at 36 + 28 + 20 = 84/s: payments makes the whole 1.5x the
    # rate one process measured, so two processes carry it and one does not
    rate = round(1.5 * MEASURED_STARTS_PER_PROCESS) - 84
    profile = _profile(tmp_path, _option("payments_flow", rate=rate, preAllocatedVUs=100, maxVUs=100))
    assert cli.main(["validate", "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "warning: peak start rate" in out and "--workers 2 (or more)" in out
    assert cli.main(["validate", "--profile", str(profile), "--workers", "2"]) == 0
    assert "warning: peak" not in capsys.readouterr().out


# --- real processes, as a user runs them ----------------------------------------------------------------

PROCESS_CASES = ["threshold-misspelt-metric", "time-unit-1ns", "option-multiplier-abc"]


def _commands(profile: Path, multiplier: str | None) -> dict[str, list[str]]:
    extra = ["--multiplier", multiplier] if multiplier is not None else []
    fixload = [sys.executable, "-m", "fixload"]
    return {
        "validate": [*fixload, "validate", "--profile", str(profile), *extra],
        "run --validate-only": [*fixload, "run", "--validate-only", "--profile", str(profile), *extra],
        "check": [*fixload, "check", "--profile", str(profile), *extra],
        "locust --profile": [
            sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles"), "--headless", "--profile", str(profile),
            "-H", TARGET, *extra,
        ],
    }  # fmt: skip


def _process_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, "K6_BASE_URL": TARGET, **SIX}


def _run_all(case_id: str, tmp_path: Path) -> None:
    _, mutate, extra_env, multiplier, expected = next(c for c in CASES if c[0] == case_id)
    profile = _profile(tmp_path, mutate)
    env = {**_process_env(), **extra_env}
    children = {
        entry: subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for entry, command in _commands(profile, multiplier).items()
    }
    seen = {}
    for entry, child in children.items():
        _, err = child.communicate(timeout=120)
        text = err.decode()
        assert child.returncode == 104, f"{entry}: exit {child.returncode}\n{text}"
        assert "Traceback" not in text
        seen[entry] = _problem_lines(text)
    lines = seen["validate"]
    for start, phrase in expected:
        assert any(line.startswith(start) and phrase in line for line in lines), (start, phrase, lines)
    assert all(seen[entry] == lines for entry in seen), seen


@pytest.mark.slow
def test_real_processes_give_the_same_verdict(tmp_path):
    _run_all("threshold-misspelt-metric", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case_id", PROCESS_CASES[1:])
def test_real_processes_give_the_same_verdict_more(case_id, tmp_path):
    _run_all(case_id, tmp_path)


def test_a_long_spawn_is_a_warning(target_env, tmp_path, capsys):
    profile = _profile(tmp_path, _option("payments_flow", maxVUs=2000))
    assert cli.main(["validate", "--profile", str(profile)]) == 0
    assert "warning: Locust takes about 21s to start 2147 VUs" in capsys.readouterr().out
