"""Everything a run needs, resolved and validated once, before any traffic.

The CLI (`fixload validate`, `fixload run`) and the Locust plugin both come through here, so a profile
means exactly the same thing whichever door a user takes, and a bad one fails the same way (exit 104).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fixload.envvars import EnvError, Target, check_required, load_environment, resolve_target
from fixload.plan import MultiplierError, Plan, build_plan, resolve_multiplier
from fixload.profile import ProfileError, load_profile

DEFAULT_PROFILE = "profiles/baseline.json"
PROFILE_ENV = "K6_PROFILE_PATH"


class ConfigError(Exception):
    """Any reason a run cannot start; maps to exit code 104."""


@dataclass(frozen=True)
class RunConfig:
    plan: Plan
    target: Target
    env: dict[str, str]


def default_profile_path(env: dict[str, str] | None = None) -> str:
    source = os.environ if env is None else env
    return source.get(PROFILE_ENV) or DEFAULT_PROFILE


def load_run_config(
    profile_path: str | Path | None = None,
    multiplier: float | None = None,
    env_file: str | Path | None = None,
    check_env: bool = True,
    process_env: Mapping[str, str] | None = None,
) -> RunConfig:
    """Profile → environment (requiredEnv first) → multiplier → plan, or ConfigError saying all that is wrong.

    `process_env` stands for the process environment (default `os.environ`): `fixload check` adds the
    embedded simulator's identities to it, as `fixload run` gives them to Locust's process."""
    try:
        env = load_environment(env_file, process_env)
        path = str(profile_path or default_profile_path(env))
        profile = load_profile(path)
        if check_env:
            check_required(profile, env)
        value, source = resolve_multiplier(multiplier, env, profile)
        plan = build_plan(profile, value, source, path)
    except (ProfileError, EnvError, MultiplierError) as exc:
        raise ConfigError(str(exc)) from None
    return RunConfig(plan=plan, target=resolve_target(profile, env), env=env)
