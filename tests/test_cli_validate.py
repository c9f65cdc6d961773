"""`fixload validate` as users run it: a real subprocess, exit 0 with the plan or 104 with every problem."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixload.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "profiles" / "baseline.json"
SIX = ("K6_COMPANY_ID", "K6_PROVIDER_ID", "K6_CUSTOMER_ID", "K6_USER_TOKEN", "K6_PROVIDER_TOKEN", "K6_ADMIN_TOKEN")
TOKENS = {
    "K6_USER_TOKEN": "user-tok-5d41402abc4b2a76",
    "K6_PROVIDER_TOKEN": "prov-tok-7d793037a0760186",
    "K6_ADMIN_TOKEN": "admin-tok-9e107d9d372bb682",
}
IDS = {"K6_COMPANY_ID": "company-1", "K6_PROVIDER_ID": "provider-1", "K6_CUSTOMER_ID": "customer-1"}


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any K6_* or FIXLOAD_* variable, able to import fixload from the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixload", "validate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_no_secret(done: subprocess.CompletedProcess[str]) -> None:
    for value in TOKENS.values():
        assert value not in done.stdout
        assert value not in done.stderr


def test_baseline_with_the_six_variables_prints_the_plan(tmp_path):
    done = run(["--profile", str(BASELINE)], tmp_path, clean_env(**IDS, **TOKENS))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert "Baseline Performance Envelope v1" in out
    assert "multiplier 1 (from settings.defaultMultiplier)" in out
    assert "duration  6m (at most 6m30s with gracefulStop)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.endswith(("60", "45", "30", "10", "32"))}
    assert rows["booking_flow"][2:] == ["ramping-arrival-rate", "0s", "6m", "7319", "36", "25→60"]
    assert rows["chat_flow"][5:] == ["5700", "28", "20→45"]
    assert rows["payments_flow"][2:] == ["constant-arrival-rate", "0s", "6m", "2161", "6", "18→30"]
    assert rows["analytics_flow"][2:] == ["constant-vus", "0s", "6m", "-", "-", "10"]
    assert rows["ads_flow"][5:] == ["4080", "20", "16→32"]
    assert "  http_req_failed: rate<0.02" in out
    assert_no_secret(done)


def test_baseline_without_k6_base_url_validates_for_the_embedded_simulator(tmp_path):
    """`fixload run` would start the simulator, which brings the six: validate agrees, and says so."""
    done = run(["--profile", str(BASELINE)], tmp_path, clean_env())
    assert done.returncode == 0, done.stderr
    assert "target    the embedded simulator (no K6_BASE_URL set" in done.stdout


def test_baseline_without_the_six_variables_exits_104_naming_all(tmp_path):
    done = run(["--profile", str(BASELINE)], tmp_path, clean_env(K6_BASE_URL="http://127.0.0.1:9"))
    assert done.returncode == 104
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    line = next(ln for ln in done.stderr.splitlines() if "missing required environment variables" in ln)
    assert all(name in line for name in SIX)


def test_json_plan_at_two_and_a_half(tmp_path):
    env = clean_env(**IDS, **TOKENS, K6_LOAD_MULTIPLIER="2")
    done = run(["--profile", str(BASELINE), "--json", "--multiplier", "2.5"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["multiplier"], plan["multiplierSource"]) == (2.5, "--multiplier")
    counts = {name: s["expectedIterations"] for name, s in plan["scenarios"].items()}
    assert counts == {
        "booking_flow": 18300,
        "chat_flow": 14250,
        "payments_flow": 5401,
        "analytics_flow": None,
        "ads_flow": 10200,
    }
    assert plan["scenarios"]["analytics_flow"]["options"]["vus"] == 25
    assert plan["scenarios"]["booking_flow"]["options"]["stages"][0]["target"] == 45
    assert plan["thresholds"]["http_req_failed"] == ["rate<0.02"]
    assert_no_secret(done)


def test_dotenv_under_the_process_environment(tmp_path):
    # the six from .env, the multiplier from both: the process environment wins
    lines = [f"{k}={v}" for k, v in {**IDS, **TOKENS}.items()] + ["K6_LOAD_MULTIPLIER=2"]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run(["--profile", str(BASELINE), "--json"], tmp_path, clean_env(K6_LOAD_MULTIPLIER="1.5"))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["multiplier"], plan["multiplierSource"]) == (1.5, "K6_LOAD_MULTIPLIER")
    assert_no_secret(done)


def test_env_file_option_and_a_missing_one(tmp_path):
    other = tmp_path / "ci.env"
    other.write_text("".join(f"{k}={v}\n" for k, v in {**IDS, **TOKENS}.items()), encoding="utf-8")
    ok = run(["--profile", str(BASELINE), "--env-file", str(other)], tmp_path, clean_env())
    assert ok.returncode == 0, ok.stderr
    assert_no_secret(ok)
    missing = run(["--profile", str(BASELINE), "--env-file", str(tmp_path / "gone.env")], tmp_path, clean_env())
    assert missing.returncode == 104
    assert "gone.env: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_malformed_dotenv_exits_104_without_echoing_the_token(tmp_path):
    secret = TOKENS["K6_ADMIN_TOKEN"]
    (tmp_path / ".env").write_text(f"K6_COMPANY_ID=c\nK6_ADMIN_TOKEN {secret}\n", encoding="utf-8")
    done = run(["--profile", str(BASELINE)], tmp_path, clean_env())
    assert done.returncode == 104
    assert "line 2" in done.stderr
    assert "K6_ADMIN_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
    assert secret not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["scenarios"]["booking_flow"]["stages"][1].__setitem__("duration", "3 minutes"),
         "scenarios.booking_flow.stages[1].duration"),
        (lambda d: d["scenarios"]["chat_flow"].__setitem__("maxVUs", 5), "scenarios.chat_flow"),
        (lambda d: d.__setitem__("requiredEnv", "K6_COMPANY_ID"), "requiredEnv"),
    ],
    ids=["bad-duration", "maxvus-below-preallocated", "required-env-not-array"],
)  # fmt: skip
def test_malformed_profiles_as_real_subprocesses(mutate, path, tmp_path):
    data = json.loads(BASELINE.read_text(encoding="utf-8"))
    mutate(data)
    profile = tmp_path / "bad.json"
    profile.write_text(json.dumps(data), encoding="utf-8")
    done = run(["--profile", str(profile)], tmp_path, clean_env(**IDS, **TOKENS))
    assert done.returncode == 104
    assert done.stdout == ""
    assert f"  - {path}: " in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_json_as_a_real_subprocess(tmp_path):
    profile = tmp_path / "broken.json"
    profile.write_text(
        '{\n  "scenarios": {\n    "booking_flow": {"executor": "constant-vus",}\n  }\n}\n', encoding="utf-8"
    )
    done = run(["--profile", str(profile)], tmp_path, clean_env())
    assert done.returncode == 104
    assert "malformed JSON at line 3, column 48" in done.stderr
    assert "Traceback" not in done.stderr


# --- in-process, for the cheaper cases ------------------------------------------------------------


@pytest.fixture
def six(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("K6_", "FIXLOAD_")):
            monkeypatch.delenv(name)
    for name, value in {**IDS, **TOKENS}.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


@pytest.mark.parametrize("raw", ["abc", "0", "-2", "nan"])
def test_bad_environment_multiplier_exits_104(six, raw, capsys):
    six.setenv("K6_LOAD_MULTIPLIER", raw)
    assert cli.main(["validate", "--profile", str(BASELINE)]) == 104
    err = capsys.readouterr().err
    assert "K6_LOAD_MULTIPLIER: expected a positive number" in err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bad_option_multiplier_exits_104(six, value, capsys):
    assert cli.main(["validate", "--profile", str(BASELINE), "--multiplier", value]) == 104
    assert "--multiplier: expected a positive number" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["lots", "abc", "1e9", "1001"])
def test_non_numeric_or_unbounded_option_multiplier_exits_104(six, value, capsys):
    assert cli.main(["validate", "--profile", str(BASELINE), "--multiplier", value]) == 104
    assert "--multiplier: expected a positive number" in capsys.readouterr().err


def test_multiplier_that_rounds_a_rate_to_zero_exits_104(six, capsys, tmp_path):
    data = json.loads(BASELINE.read_text(encoding="utf-8"))
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main(["validate", "--profile", str(profile), "--multiplier", "0.0001"]) == 104
    assert "rounds the rate" in capsys.readouterr().err


def test_profile_from_k6_profile_path(six, capsys, tmp_path):
    data = copy.deepcopy(json.loads(BASELINE.read_text(encoding="utf-8")))
    data["profile"] = "from K6_PROFILE_PATH"
    profile = tmp_path / "chosen.json"
    profile.write_text(json.dumps(data), encoding="utf-8")
    six.setenv("K6_PROFILE_PATH", str(profile))
    assert cli.main(["validate"]) == 0
    assert "from K6_PROFILE_PATH" in capsys.readouterr().out


def test_tokens_never_printed_in_process(six, capsys):
    assert cli.main(["validate", "--profile", str(BASELINE), "--json"]) == 0
    assert cli.main(["validate", "--profile", str(BASELINE)]) == 0
    out, err = capsys.readouterr()
    for value in TOKENS.values():
        assert value not in out + err


def test_a_selector_naming_an_unknown_scenario_is_refused_with_did_you_mean(tmp_path, capsys):
    """Issue 26: `http_req_duration{scenario:bookng_flow}` could only ever judge no samples: 104, named."""
    data = json.loads((ROOT / "profiles" / "baseline-short.json").read_text())
    data["thresholds"]["http_req_duration{scenario:bookng_flow}"] = ["p(95)<1200"]
    data["scenarios"]["booking_flow"]["tags"] = {"tier": "gold"}
    data["thresholds"]["http_req_duration{tier:gld}"] = ["p(95)<1200"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    assert cli.main(["validate", "--profile", str(path)]) == 104
    err = capsys.readouterr().err
    assert 'thresholds["http_req_duration{scenario:bookng_flow}"]: no scenario "bookng_flow" in this profile; ' in err
    assert 'did you mean "booking_flow"?' in err
    # a tag value no scenario sets is said, not refused: a flow may set that tag itself
    del data["thresholds"]["http_req_duration{scenario:bookng_flow}"]
    path.write_text(json.dumps(data))
    assert cli.main(["validate", "--profile", str(path)]) == 0
    out = capsys.readouterr()
    assert 'no scenario of this profile sets tag tier="gld"; did you mean "gold"?' in out.out + out.err
