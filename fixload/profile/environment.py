"""The original harness's environment variables, from the process and from a `.env` file.

The names stay the k6 harness's (`K6_BASE_URL`, `K6_COMPANY_ID`, ...) so a team's CI secrets and `.env`
files keep working. The process environment beats the file, as python-dotenv does by default, so a CI
variable always wins over a developer's leftover `.env`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fixload.common.durations import DurationError, parse_duration
from fixload.common.envfile import EnvError, read_env_file
from fixload.common.secrets import MASK, is_secret_name, mask_url, register_secrets, register_url_userinfo
from fixload.profile.schema import Profile

DEFAULT_BASE_URL = "http://localhost:4000"
IDENTITY_VARS = ("K6_COMPANY_ID", "K6_PROVIDER_ID", "K6_CUSTOMER_ID")
TOKEN_VARS = ("K6_USER_TOKEN", "K6_PROVIDER_TOKEN", "K6_ADMIN_TOKEN")


def load_environment(
    env_file: str | Path | None = None, process_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The merged environment: `.env` (or `env_file`) under the process environment.

    An explicit `env_file` must exist; the default `.env` is optional, like python-dotenv's `load_dotenv`.
    """
    process = dict(os.environ if process_env is None else process_env)
    if env_file is not None:
        path = Path(env_file)
        if not path.exists():
            raise EnvError(f"--env-file {path}: no such file")
    else:
        path = Path(".env")
    # anything there is read through the one reader: a FIFO or a device named .env is refused, not read
    from_file = read_env_file(path) if path.exists() else {}
    merged = {**from_file, **process}
    register_configured_secrets(merged)
    return merged


def header_pairs(text: str) -> dict[str, str]:
    """FIXLOAD_HEADERS (`Name: value,Other: value`) as a mapping."""
    out = {}
    for pair in text.split(","):
        if ":" in pair:
            name, value = pair.split(":", 1)
            out[name.strip()] = value.strip()
    return out


def register_configured_secrets(env: Mapping[str, str], settings_headers: Mapping[str, str] | None = None) -> None:
    """Every configured secret, so `redact` masks it in raw, URL-encoded and base64 forms: each secret-named
    variable (the three tokens, *_TOKEN/_SECRET/_PASSWORD), every FIXLOAD_HEADERS and profile header value
    (an `X-Api-Key` is as secret as a token), and the password in a base URL's userinfo."""
    register_secrets(value for name, value in env.items() if is_secret_name(name))
    register_secrets(header_pairs(env.get("FIXLOAD_HEADERS", "")).values())
    register_secrets((settings_headers or {}).values())
    register_url_userinfo(env.get("K6_BASE_URL", ""))


def missing_required(profile: Profile, env: Mapping[str, str]) -> list[str]:
    return [name for name in profile.required_env if not env.get(name, "").strip()]


def check_required(profile: Profile, env: Mapping[str, str]) -> None:
    missing = missing_required(profile, env)
    if missing:
        raise EnvError(
            f"missing required environment variable{'s' if len(missing) > 1 else ''} (requiredEnv): "
            + ", ".join(missing)
            + ". Set them in the environment or a .env file (fixload serve --env-out .env writes one)."
        )


@dataclass(frozen=True)
class Target:
    """Everything the flows need to know about the system under test, resolved once."""

    base_url: str
    api_prefix: str
    company_id: str
    provider_id: str
    customer_id: str
    dispatcher_id: str
    user_token: str
    provider_token: str
    admin_token: str
    analytics_persona: str
    zone_id: str
    service_id: str
    campaign_id: str
    headers: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # tokens must never reach a log line through a repr
        return f"Target(base_url={mask_url(self.base_url)!r}, api_prefix={self.api_prefix!r}, tokens={MASK})"


def resolve_target(profile: Profile, env: Mapping[str, str]) -> Target:
    """Base URL, identities, tokens and fixture overrides, by the original's precedence rules."""
    settings = profile.settings
    provider = env.get("K6_PROVIDER_ID", "")
    extra_headers = {**settings.headers, **header_pairs(env.get("FIXLOAD_HEADERS", ""))}
    base_url = (env.get("K6_BASE_URL") or settings.base_url or DEFAULT_BASE_URL).rstrip("/")
    register_configured_secrets(env, settings.headers)
    register_url_userinfo(base_url)
    return Target(
        base_url=base_url,
        api_prefix=env.get("FIXLOAD_API_PREFIX") or settings.api_prefix,
        company_id=env.get("K6_COMPANY_ID", ""),
        provider_id=provider,
        customer_id=env.get("K6_CUSTOMER_ID", ""),
        dispatcher_id=env.get("K6_DISPATCHER_ID") or provider,
        user_token=env.get("K6_USER_TOKEN", ""),
        provider_token=env.get("K6_PROVIDER_TOKEN", ""),
        admin_token=env.get("K6_ADMIN_TOKEN", ""),
        analytics_persona=env.get("K6_ANALYTICS_PERSONA") or settings.analytics_persona or "admin",
        zone_id=env.get("K6_ZONE_ID", ""),
        service_id=env.get("K6_SERVICE_ID", ""),
        campaign_id=env.get("K6_CAMPAIGN_ID", ""),
        headers=tuple(sorted(extra_headers.items())),
    )


DEFAULT_TIMEOUT_S = 60.0
"""k6's default request timeout; `FIXLOAD_HTTP_TIMEOUT` (seconds) changes it for the run."""
TIMEOUT_ENV = "FIXLOAD_HTTP_TIMEOUT"


def request_timeout(env: Mapping[str, str]) -> float:
    """`FIXLOAD_HTTP_TIMEOUT` in seconds (a number of seconds or a k6 duration; k6's 60 s when unset); ValueError
    naming the variable for anything but a finite positive time (`fixload validate` reports it before traffic)."""
    raw = (env.get(TIMEOUT_ENV) or "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)  # a number: seconds, as FIXLOAD_HTTP_TIMEOUT always read it
    except ValueError:
        try:
            value = parse_duration(raw)  # or a k6 duration: "30s", "1m30s", "500ms"
        except DurationError:
            value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{TIMEOUT_ENV}: expected seconds or a k6 duration (30s), above 0, got {raw!r}")
    return value
