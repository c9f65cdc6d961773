"""Everything a run needs, resolved once, before any traffic: `RunConfig`.

`fixload.profile.validation.validate_run` builds it (every entry point validates there, so a profile means the
same thing whichever door a user takes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

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
