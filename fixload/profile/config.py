"""Everything a run needs, resolved once, before any traffic: `RunConfig`.

fixload.profile.validation.validate_run builds it (every entry point validates there, so a profile means the same
thing whichever door a user takes); `load_run_config` is its shortcut for callers wanting an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fixload.profile.environment import Target
from fixload.profile.plan import Plan

DEFAULT_PROFILE = "profiles/baseline.json"
PROFILE_ENV = "K6_PROFILE_PATH"


class ConfigError(Exception):
    """Any reason a run cannot start; maps to exit code 104."""


@dataclass(frozen=True)
class RunConfig:
    plan: Plan
    target: Target
    env: dict[str, str] = field(repr=False)
    """The merged environment: it holds the tokens, so it is never part of a repr."""
    metric_flows: tuple[str, ...] = ()
    """The loaded flows whose metrics the run defines (profile.binding.metric_flows): what it was validated for."""


def default_profile_path(env: dict[str, str] | None = None) -> str:
    source = os.environ if env is None else env
    return source.get(PROFILE_ENV) or DEFAULT_PROFILE


def load_run_config(
    profile_path: str | Path | None = None,
    multiplier: str | float | None = None,
    env_file: str | Path | None = None,
    check_env: bool = True,
    process_env: Mapping[str, str] | None = None,
    processes: int | None = 1,
    flows: Mapping[str, type] | None = None,
    locustfile: str | None = None,
) -> RunConfig:
    """The config of a valid run, or ConfigError listing every problem (fixload.profile.validation.validate_run).

    check_env=False: the identities come from the embedded simulator (the wrapper's rule). `process_env`
    stands for the process environment (default `os.environ`): `fixload check` adds the embedded
    simulator's identities to it, as `fixload run` gives them to Locust's process. `processes`: how many
    Locust processes share the load (the per-process ceilings of fixload.profile.limits). `flows`/`locustfile`: the
    loaded flows, or the locustfiles to import for them (fixload.profile.binding)."""
    from fixload.profile.validation import validate_run

    verdict = validate_run(
        profile_path,
        multiplier,
        env_file,
        simulator=not check_env,
        processes=processes,
        process_env=process_env,
        flows=flows,
        locustfile=locustfile,
    )
    verdict.raise_for_problems()
    assert verdict.config is not None
    return verdict.config
