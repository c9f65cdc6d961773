"""Helpers for the flow and fixture tests: a RunConfig aimed at a simulator, and flow users outside a runner.

A flow user built here runs one iteration per call of its task, in the test's own greenlet, so a test can
send exactly one iteration and then read what the simulator received.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
from locust.env import Environment

from fixload.common.secrets import is_secret_name, register_secrets
from fixload.profile.config import RunConfig
from fixload.profile.environment import resolve_target
from fixload.profile.plan import build_plan
from fixload.profile.schema import parse_profile
from fixload.runtime.state import Runtime
from fixload.simulator.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "profiles" / "baseline.json"
BLOCKS = ("booking", "communications", "payments", "analytics", "ads")


def profile_data(settings: dict[str, Any] | None = None, no_sleep: bool = True) -> dict[str, Any]:
    """baseline.json with `settings` blocks overridden (merged one level deep); think time 0 by default."""
    data = copy.deepcopy(orjson.loads(BASELINE.read_bytes()))
    if no_sleep:
        data["settings"]["defaultSleepSeconds"] = 0
        for block in BLOCKS:
            data["settings"].setdefault(block, {})["sleepSeconds"] = 0
    for key, value in (settings or {}).items():
        if isinstance(value, dict):
            data["settings"].setdefault(key, {}).update(value)
        else:
            data["settings"][key] = value
    return data


def make_config(
    sim: SimulatorProcess, settings: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> RunConfig:
    """What `fixload.plugin` would load at init, aimed at `sim` (its .env under `env` overrides)."""
    profile = parse_profile(profile_data(settings), "test profile")
    merged = {**sim.env, **(env or {})}
    register_secrets(value for name, value in merged.items() if is_secret_name(name))
    return RunConfig(plan=build_plan(profile), target=resolve_target(profile, merged), env=merged)


def make_user(user_class: type, config: RunConfig, fixtures: dict[str, str]) -> Any:
    """A flow user of its own Environment (own events, own metrics registry), not started by any runner."""
    environment = Environment(user_classes=[user_class])
    Runtime.standalone(environment, config, fixtures)
    return user_class(environment)


def runtime_of_user(user: Any) -> Runtime:
    """The runtime `make_user` attached to the user's environment."""
    return user.environment.fixload_runtime


def registry_of(user: Any) -> Any:
    return runtime_of_user(user).registry


def flow_requests(sim: SimulatorProcess) -> list[dict[str, Any]]:
    """The requests the simulator received since its last reset, oldest first."""
    return sim.requests()


def routes(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["method"], r["route"]) for r in records]
