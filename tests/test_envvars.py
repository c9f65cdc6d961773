"""Environment: the original variable names, `.env` under the process environment, requiredEnv, the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixload.profile.environment import (
    EnvError,
    check_required,
    load_environment,
    missing_required,
    read_env_file,
    resolve_target,
)
from fixload.profile.schema import parse_profile

SIX = ("K6_COMPANY_ID", "K6_PROVIDER_ID", "K6_CUSTOMER_ID", "K6_USER_TOKEN", "K6_PROVIDER_TOKEN", "K6_ADMIN_TOKEN")
TOKEN = "tok-9f8e7d6c5b4a-secret"


def profile(settings: dict | None = None, required: tuple[str, ...] = SIX):
    return parse_profile(
        {
            "requiredEnv": list(required),
            "settings": settings or {},
            "scenarios": {"chat_flow": {"executor": "constant-vus", "duration": "1m"}},
        }
    )


# --- .env and the process environment -------------------------------------------------------------


def test_dotenv_is_read_and_the_process_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "# a comment\nK6_COMPANY_ID=from-file\nexport K6_PROVIDER_ID='prov-file'\nK6_CUSTOMER_ID=\"cust file\"\n",
        encoding="utf-8",
    )
    env = load_environment(process_env={"K6_COMPANY_ID": "from-process", "PATH": "/bin"})
    assert env["K6_COMPANY_ID"] == "from-process"
    assert env["K6_PROVIDER_ID"] == "prov-file"
    assert env["K6_CUSTOMER_ID"] == "cust file"
    assert env["PATH"] == "/bin"


def test_no_dotenv_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_environment(process_env={"A": "1"}) == {"A": "1"}


def test_env_file_picks_another_file_instead_of_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("K6_COMPANY_ID=default-file\nONLY_IN_DEFAULT=1\n", encoding="utf-8")
    other = tmp_path / "staging.env"
    other.write_text("K6_COMPANY_ID=staging\n", encoding="utf-8")
    env = load_environment(other, process_env={})
    assert env == {"K6_COMPANY_ID": "staging"}
    assert load_environment(str(other), process_env={"K6_COMPANY_ID": "process"})["K6_COMPANY_ID"] == "process"


def test_missing_env_file_is_an_error(tmp_path):
    with pytest.raises(EnvError, match=r"--env-file .*nope\.env: no such file"):
        load_environment(tmp_path / "nope.env", process_env={})


def test_env_file_that_is_a_directory_is_an_error(tmp_path):
    with pytest.raises(EnvError, match="is a directory; expected an env file, a regular file"):
        load_environment(tmp_path, process_env={})


@pytest.mark.parametrize(
    ("text", "line", "name"),
    [
        (f"K6_COMPANY_ID=c1\nK6_USER_TOKEN {TOKEN}\n", 2, "K6_USER_TOKEN"),
        (f"K6_ADMIN_TOKEN='{TOKEN}' trailing\n", 1, "K6_ADMIN_TOKEN"),
        (f"K6_COMPANY_ID=c1\n\n\nAuthorization: Bearer {TOKEN}\n", 4, "Authorization"),
        (f"={TOKEN}\n", 1, None),
    ],
)
def test_malformed_line_is_named_and_never_echoed(text, line, name, tmp_path):
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EnvError) as info:
        read_env_file(path)
    message = str(info.value)
    assert f"line {line}:" in message
    assert "expected NAME=value" in message
    if name:
        assert repr(name) in message
    assert TOKEN not in message
    assert TOKEN[:8] not in message


def test_every_malformed_line_is_listed(tmp_path):
    path = tmp_path / ".env"
    path.write_text("GOOD=1\nbad one\nGOOD2=2\nworse two\n", encoding="utf-8")
    with pytest.raises(EnvError) as info:
        read_env_file(path)
    assert [ln.split(":")[0].rsplit(" ", 2)[-2:] for ln in str(info.value).splitlines()] == [
        ["line", "2"],
        ["line", "4"],
    ]


# --- requiredEnv -------------------------------------------------------------------------------------


def test_all_missing_names_in_one_message():
    env = {"K6_COMPANY_ID": "c1", "K6_USER_TOKEN": "   "}  # blank counts as missing
    assert missing_required(profile(), env) == [n for n in SIX if n != "K6_COMPANY_ID"]
    with pytest.raises(EnvError) as info:
        check_required(profile(), env)
    message = str(info.value)
    assert message.count("\n") == 0
    assert "missing required environment variables (requiredEnv): " in message
    assert ", ".join(n for n in SIX if n != "K6_COMPANY_ID") in message


def test_one_missing_name_is_singular():
    env = dict.fromkeys(SIX[1:], "x")
    with pytest.raises(EnvError, match=r"variable \(requiredEnv\): K6_COMPANY_ID\."):
        check_required(profile(), env)


def test_nothing_required_nothing_missing():
    check_required(profile(required=()), {})


# --- the target -----------------------------------------------------------------------------------


def full_env(**extra: str) -> dict[str, str]:
    env = {
        "K6_COMPANY_ID": "company-1",
        "K6_PROVIDER_ID": "provider-1",
        "K6_CUSTOMER_ID": "customer-1",
        "K6_USER_TOKEN": TOKEN + "-user",
        "K6_PROVIDER_TOKEN": TOKEN + "-provider",
        "K6_ADMIN_TOKEN": TOKEN + "-admin",
    }
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("env_url", "setting", "expected"),
    [
        ("http://api.test:8080/", "http://settings:1", "http://api.test:8080"),
        (None, "http://settings:1/", "http://settings:1"),
        (None, None, "http://localhost:4000"),
        ("", "http://settings:1", "http://settings:1"),
    ],
)
def test_base_url_precedence(env_url, setting, expected):
    env = full_env() if env_url is None else full_env(K6_BASE_URL=env_url)
    settings = {"baseUrl": setting} if setting else {}
    assert resolve_target(profile(settings), env).base_url == expected


def test_identities_tokens_and_defaults():
    target = resolve_target(profile(), full_env())
    assert (target.company_id, target.provider_id, target.customer_id) == ("company-1", "provider-1", "customer-1")
    assert target.dispatcher_id == "provider-1"  # K6_DISPATCHER_ID defaults to the provider
    assert target.analytics_persona == "admin"
    assert (target.zone_id, target.service_id, target.campaign_id) == ("", "", "")
    assert target.user_token == TOKEN + "-user"
    assert target.admin_token == TOKEN + "-admin"
    assert target.api_prefix == "/api"


def test_optional_overrides():
    env = full_env(
        K6_DISPATCHER_ID="dispatcher-9",
        K6_ANALYTICS_PERSONA="provider",
        K6_ZONE_ID="z",
        K6_SERVICE_ID="s",
        K6_CAMPAIGN_ID="c",
    )
    target = resolve_target(profile({"analyticsPersona": "finance"}), env)
    assert (target.dispatcher_id, target.analytics_persona) == ("dispatcher-9", "provider")
    assert (target.zone_id, target.service_id, target.campaign_id) == ("z", "s", "c")
    assert resolve_target(profile({"analyticsPersona": "finance"}), full_env()).analytics_persona == "finance"


def test_target_repr_hides_tokens():
    target = resolve_target(profile(), full_env())
    assert TOKEN not in repr(target)
    assert TOKEN not in str(target)


def test_dotenv_file_path_object(tmp_path: Path):
    path = tmp_path / "x.env"
    path.write_text("A=1\nB='two words'\n", encoding="utf-8")
    assert read_env_file(path) == {"A": "1", "B": "two words"}
