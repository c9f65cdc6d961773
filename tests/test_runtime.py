"""The run's runtime and its role (issue 24, point 3): built once, found only where Locust constructs the class,
the role chosen in one place, and a worker's plan from its master beside its own configuration."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from fixload.engine.base import Share
from fixload.flows.user import NotConfigured, runtime_of
from fixload.profile.binding import import_flows
from fixload.profile.config import RunConfig
from fixload.profile.environment import resolve_target
from fixload.profile.plan import build_plan
from fixload.profile.schema import parse_profile
from fixload.runtime import state as runtime_state
from fixload.runtime.lifecycle import State
from fixload.runtime.local import LocalRole
from fixload.runtime.master import MasterRole
from fixload.runtime.protocol import plan_message
from fixload.runtime.role import role_for
from fixload.runtime.state import Runtime
from fixload.runtime.worker import WorkerRole

ROOT = Path(__file__).resolve().parent.parent / "fixload"
RUNNERS = {"LocalRunner", "MasterRunner", "WorkerRunner"}


def test_an_environment_the_plugin_did_not_configure_has_no_runtime() -> None:
    """The accessor never creates a runtime on first use: it says what is missing."""
    with pytest.raises(NotConfigured, match=r"import fixload\.plugin"):
        runtime_of(Environment())


def _bare(runner: type) -> object:
    """An instance of a Locust runner class that opens no socket (only its type matters here)."""
    return type(runner.__name__, (runner,), {"__init__": lambda self: None, "__del__": lambda self: None})()


def test_the_role_is_chosen_once_by_the_runner() -> None:
    runtime = Runtime(Environment())  # type: ignore[arg-type]
    assert type(role_for(runtime, _bare(MasterRunner))) is MasterRole
    assert type(role_for(runtime, _bare(WorkerRunner))) is WorkerRole
    assert type(role_for(runtime, _bare(LocalRunner))) is LocalRole
    assert type(role_for(runtime, None)) is LocalRole  # the library API, no runner


def _runner_checks(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
                n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
            }
            if names & RUNNERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_role_for_asks_which_runner_this_is() -> None:
    found = [hit for path in sorted(ROOT.rglob("*.py")) for hit in _runner_checks(path)]
    assert found and all(hit.startswith("runtime/role.py:") for hit in found), found


def _config(profile_data: dict, flows: tuple[str, ...]) -> RunConfig:
    profile = parse_profile(profile_data, "test profile")
    env = {"K6_BASE_URL": "http://127.0.0.1:9"}
    return RunConfig(plan=build_plan(profile), target=resolve_target(profile, env), env=env, metric_flows=flows)


def test_a_workers_plan_from_its_master_is_its_own_field_and_keeps_its_configuration() -> None:
    """Was: the worker rebuilt its RunConfig from the master's plan and dropped `metric_flows`."""
    flows = import_flows()
    scenario = {"executor": "constant-vus", "exec": "ads_flow", "vus": 1, "duration": "1s"}
    own = _config({"profile": "worker's own", "scenarios": {"ads_flow": scenario}}, ("ads_flow",))
    environment = Environment(user_classes=list(flows.values()))
    runtime = Runtime(environment)  # type: ignore[arg-type]
    runtime.configure(own, ("own.json", None), None)
    runtime.lifecycle.to(State.CONFIGURED)  # as the plugin's init leaves it
    sent: list[tuple[str, object]] = []
    runner = SimpleNamespace(send_message=lambda kind, data=None, client_id=None: sent.append((kind, data)))
    runtime.role = role = WorkerRole(runtime, runner)
    masters = build_plan(parse_profile({"profile": "the master's", "scenarios": {"ads_flow": scenario}}, "m"), 2.0)
    state = runtime_state.TestState(masters, {}, 1, 1.0)
    message = plan_message(state, Share(0, 1, time.time() + 60, 0.0), {"zoneId": "z"})
    role.on_start(environment, SimpleNamespace(data=message))
    try:
        assert runtime.config is own and runtime.config.metric_flows == ("ads_flow",)
        assert runtime.plan is runtime.plan_from_master
        assert runtime.plan is not None and runtime.plan.profile.profile == "the master's"
        assert runtime.plan.multiplier == 2.0
        assert runtime.fixtures == {"zoneId": "z"}
        assert runtime.engine is not None
    finally:
        role.end()
